/**
 * `npm run -s bench -- scale [--pods N] [--nodes M] [--reserved-ips K] [--runs R] [--json] [--name TESTBED] [--keep]
 *                            [--probe] [--sync watch-list|list] [--page-size P] [--list-rv 0] [--rest]
 *                            [--allocator image|glibc|both]`
 *
 * What the guard's caches cost at cluster scale, on the real test bed: N pods (default 100,000, each with an IP in
 * its multus network-status annotation), N SpiderEndpoints, 20 pools × N/20 records (5,000 each by default,
 * Spiderpool's default pool cap; allocatedIPs in the sorted form Spiderpool writes), M kubelet-shaped Nodes (default 5,000) and K SpiderReservedIPs (default 1,000).
 * Then, R times, a fresh process runs the informers `serve` uses (bench/scale/probe.ts) and prints
 * {"pods","endpoints","records","nodes","reservedIPs","baseRssMb","rssMb","bytesPerPod","syncSeconds",
 * "reconcilePassMs"} (plus peak RSS, pass CPU time and heap): base RSS is read before the informers start, RSS
 * after sync and a full GC; bytesPerPod is (rssMb - baseRssMb) / pods, so everything else is charged to pods.
 * `lists` says where the first sync went, per resource (pages, MB, time to first byte, body, parse, trim, wall), and
 * `apiServer` how the API server served the LISTs (watch cache or etcd, and its own time per LIST).
 *
 * `--rest` also reads memory at rest, as `serve` holds it once idle: before the informers start and after the sync,
 * the probe waits until V8's memory reducer has shrunk the young generation and compacted the old one (it runs on
 * its own once allocation has been low for a while; `serve` on the 100k world got there about 65 s after its sync)
 * and prints {"restBaseRssMb","restRssMb","restBytesPerPod","restHeapBytesPerPod","restSeconds",...}: the same
 * difference as bytesPerPod, both ends at rest. Adds one to three minutes per probe.
 *
 * `--allocator` is the native allocator the probe runs under: `image` (default) the one the image ships, its LD_PRELOAD
 * and MALLOC_CONF read from the Dockerfile (jemalloc; Debian's libjemalloc2 must be installed), `glibc` Node's own,
 * `both` one probe of each per run, in alternating order. Each result says which one ran ("allocator", read by the
 * probe from its own memory mappings); a probe that did not get the one asked for stops the bench.
 *
 * `--keep` leaves the populated test bed running; `--probe --name TESTBED` then probes that kept world again without
 * populating (`npm run -s testbed -- down --name TESTBED` removes it). `--sync list` makes the probe's caches fill by
 * LIST pages instead of streaming lists (the default, as `serve`; LIST pages are also the fallback where the API
 * server refuses streaming); `--page-size` and `--list-rv 0` change those LIST pages (page size; first page from the
 * watch cache at any resourceVersion) to compare against the default.
 *
 * `--heap [--pods N] [--nodes M] [--unsorted] [--terminating] [--runs R] [--json]` measures the caches' live heap
 * without a test bed: R fresh processes (bench/scale/heap-probe.ts) each feed the world above, as LIST pages, through
 * the informers' trims and print {"heapBytesPerPod", "rssBytesPerPod", "spacesMb", ...}. The pools' allocatedIPs are written as populate
 * writes them, in Spiderpool's sorted form (the scan path, whose scans the admission path shares); `--unsorted` writes
 * them in creation order (the general parser's path); `--terminating` makes every pod Terminating.
 *
 * `--node-cache [--nodes N] [--runs R] [--json]` measures the Node cache alone, without a test bed: R fresh processes
 * (bench/scale/node-probe.ts) each feed N kubelet-shaped Node events (default 5,000) through the node reflector's
 * trim and print {"nodes","tainted","eventBytesPerNode","heapBytesPerNode"}: the live heap the cache adds per node.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../../testbed/guard';
import { CONTROLLERS } from '../../testbed/cluster';
import { defaultStateDir } from '../../testbed/state';
import { startTestbed } from '../../testbed/testbed';
import { allocatorChoices, allocatorEnv, checkAllocator } from '../allocator';
import { kubeletNode } from './kubelet-node';
import { forEachConcurrent, poster } from './populate';
import { NAMESPACES, POOLS, endpointBody, nsOf, podBody, poolBody, poolStatus, reservedIP } from './world';

const say = (s: string) => process.stderr.write(`[scale-bench] ${s}\n`);

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function probe(
  kubeconfig: string,
  script = 'probe.ts',
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', path.join(__dirname, script), kubeconfig, ...extra],
      {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>)
        : reject(new Error(`probe exited ${code}`)),
    );
  });
}

export async function runScaleBench(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const pods = Number(flag(argv, '--pods') ?? 100_000);
  const runs = Number(flag(argv, '--runs') ?? 1);
  if (argv.includes('--heap')) {
    const args = ['--nodes', flag(argv, '--nodes') ?? '5004'];
    for (const f of ['--unsorted', '--terminating']) if (argv.includes(f)) args.push(f);
    for (let r = 0; r < runs; r++) {
      // (probe's first argument, the kubeconfig of the other probes, is the first flag here)
      const result = await probe('--pods', 'heap-probe.ts', [String(pods), ...args]);
      if (json) process.stdout.write(JSON.stringify(result) + '\n');
      else say(`cache heap, run ${r + 1}: ${JSON.stringify(result)}`);
    }
    return 0;
  }
  if (argv.includes('--node-cache')) {
    const nodes = String(Number(flag(argv, '--nodes') ?? 5000));
    for (let r = 0; r < runs; r++) {
      const result = await probe(nodes, 'node-probe.ts');
      if (json) process.stdout.write(JSON.stringify(result) + '\n');
      else say(`node cache, run ${r + 1}: ${JSON.stringify(result)}`);
    }
    return 0;
  }
  const nodes = Number(flag(argv, '--nodes') ?? 5000);
  const reservedIPs = Number(flag(argv, '--reserved-ips') ?? 1000);
  const probeArgs = ['--sync', '--page-size', '--list-rv'].flatMap((f) => (flag(argv, f) ? [f, flag(argv, f)!] : []));
  if (argv.includes('--rest')) probeArgs.push('--rest');
  const name = flag(argv, '--name') ?? 'bench-scale';
  const allocators = allocatorChoices(flag(argv, '--allocator'));
  const report = async (kubeconfig: string) => {
    for (let r = 0; r < runs; r++) {
      // with both allocators, alternate which goes first, so neither always probes a just-disturbed API server
      const order = r % 2 === 0 ? allocators : [...allocators].reverse();
      for (const choice of order) {
        const result = await probe(kubeconfig, 'probe.ts', probeArgs, allocatorEnv(choice));
        checkAllocator('the probe', result.allocator, choice);
        if (json) process.stdout.write(JSON.stringify(result) + '\n');
        else say(`run ${r + 1} (${String(result.allocator)}): ${JSON.stringify(result, null, 1)}`);
      }
    }
  };
  if (argv.includes('--probe')) {
    // a world populated earlier with --keep under the same --name: probe it, populate nothing
    const kubeconfig = path.join(defaultStateDir(name), 'kubeconfig');
    if (!existsSync(kubeconfig)) throw new Error(`no kept test bed "${name}" (${kubeconfig} missing)`);
    await report(kubeconfig);
    return 0;
  }
  // --keep: see the header (populate once, measure cache changes many times)
  const keep = argv.includes('--keep');
  const tb = await startTestbed({
    name,
    showProgress: false,
    stopOnExit: !keep,
    // Without the garbage collector: the pods name ReplicaSets that do not exist, and the collector would delete all
    // 100,000 of them at once; with no kubelet to confirm, every pod then stays Terminating, a world no cluster has
    // (every pod's termination facts cached, the controller manager busy for minutes). The runner runs no pause pod.
    controllers: CONTROLLERS.filter((c) => c !== 'garbage-collector-controller'),
    runPods: false,
  });
  const api = await poster(tb.kubeConfig());
  try {
    for (let n = 0; n < NAMESPACES; n++)
      await api.post('/api/v1/namespaces', { metadata: { name: `scale-${n}` } }).catch(() => undefined);
    // pods need their namespace's default ServiceAccount (ServiceAccount admission)
    for (let n = 0; n < NAMESPACES; n++) {
      for (let t = 0; t < 300; t++) {
        const ok = await api
          .post(`/api/v1/namespaces/scale-${n}/pods?dryRun=All`, {
            metadata: { name: 'probe' },
            spec: { containers: [{ name: 'c', image: 'pause' }] },
          })
          .then(
            () => true,
            () => false,
          );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let t = Date.now();
    const uids: string[] = new Array(pods);
    await forEachConcurrent(
      pods,
      32,
      async (i) => {
        const created = await api.post(`/api/v1/namespaces/${nsOf(i)}/pods`, podBody(i));
        uids[i] = (created.metadata as { uid: string }).uid;
      },
      (d) => say(`${d} pods`),
    );
    say(`${pods} pods created in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    t = Date.now();
    await forEachConcurrent(
      pods,
      32,
      async (i) => {
        await api.post(
          `/apis/spiderpool.spidernet.io/v2beta1/namespaces/${nsOf(i)}/spiderendpoints`,
          endpointBody(i, uids[i]),
        );
      },
      (d) => say(`${d} endpoints`),
    );
    say(`${pods} endpoints created in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    t = Date.now();
    for (let p = 0; p < POOLS; p++) {
      const created = await api.post('/apis/spiderpool.spidernet.io/v2beta1/spiderippools', poolBody(p));
      await api.put(`/apis/spiderpool.spidernet.io/v2beta1/spiderippools/scale-${p}/status`, {
        ...created,
        status: poolStatus(p, pods, uids),
      });
    }
    say(`${POOLS} pools (${pods} records) written in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    t = Date.now();
    await forEachConcurrent(nodes, 16, async (i) => {
      const node = kubeletNode(i);
      const m = node.metadata as Record<string, unknown>;
      delete m.uid; // assigned by the API server
      delete m.resourceVersion;
      await api.post('/api/v1/nodes', node); // a Node's status may be set on create
    });
    say(`${nodes} Nodes created in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    t = Date.now();
    await forEachConcurrent(reservedIPs, 16, async (i) => {
      await api.post('/apis/spiderpool.spidernet.io/v2beta1/spiderreservedips', reservedIP(i));
    });
    say(`${reservedIPs} SpiderReservedIPs created in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    await report(tb.kubeconfigPath);
    return 0;
  } finally {
    api.close();
    if (keep) say(`test bed kept running: kubeconfig ${tb.kubeconfigPath}`);
    else await tb.stop();
  }
}
