/**
 * `npm run -s bench -- scale [--pods N] [--nodes M] [--reserved-ips K] [--runs R] [--json] [--name TESTBED] [--keep]
 *                            [--probe] [--page-size P] [--list-rv 0]`
 *
 * What the guard's caches cost at cluster scale, on the real test bed: N pods (default 100,000, each with an IP in
 * its multus network-status annotation), N SpiderEndpoints, 20 pools × N/20 records (5,000 each by default,
 * Spiderpool's default pool cap), M kubelet-shaped Nodes (default 5,000) and K SpiderReservedIPs (default 1,000).
 * Then, R times, a fresh process runs the informers `serve` uses (bench/scale/probe.ts) and prints
 * {"pods","endpoints","records","nodes","reservedIPs","baseRssMb","rssMb","bytesPerPod","syncSeconds",
 * "reconcilePassMs"} (plus peak RSS, pass CPU time and heap): base RSS is read before the informers start, RSS
 * after sync and a full GC; bytesPerPod is (rssMb - baseRssMb) / pods, so everything else is charged to pods.
 * `lists` says where the first sync went, per resource (pages, MB, time to first byte, body, parse, trim, wall), and
 * `apiServer` how the API server served the LISTs (watch cache or etcd, and its own time per LIST).
 *
 * `--keep` leaves the populated test bed running; `--probe --name TESTBED` then probes that kept world again without
 * populating (`npm run -s testbed -- down --name TESTBED` removes it). `--page-size` and `--list-rv 0` change the
 * probe's LISTs (page size; first page from the watch cache at any resourceVersion) to compare against the default.
 *
 * `--node-cache [--nodes N] [--runs R] [--json]` measures the Node cache alone, without a test bed: R fresh processes
 * (bench/scale/node-probe.ts) each feed N kubelet-shaped Node events (default 5,000) through the node reflector's
 * trim and print {"nodes","tainted","eventBytesPerNode","heapBytesPerNode"}: the live heap the cache adds per node.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../../testbed/guard';
import { defaultStateDir } from '../../testbed/state';
import { startTestbed } from '../../testbed/testbed';
import { kubeletNode } from './kubelet-node';
import { forEachConcurrent, poster } from './populate';

const POOLS = 20;
const NAMESPACES = 20;
const say = (s: string) => process.stderr.write(`[scale-bench] ${s}\n`);

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function address(i: number): { pool: string; ip: string } {
  const p = i % POOLS;
  const n = Math.floor(i / POOLS) + 1;
  return { pool: `scale-${p}`, ip: `10.${p + 1}.${(n >> 8) & 255}.${n & 255}` };
}

/**
 * The i-th SpiderReservedIP: two single IPs and (every 10th) a range of ten, spread over the 20 pools' subnets, all
 * above the addresses the pods hold (the records use .0.1-.19.136 of each /16), so nothing reserved is in use.
 */
function reservedIP(i: number): Record<string, unknown> {
  const p = i % POOLS;
  const k = Math.floor(i / POOLS); // 0..49 per pool at 1,000
  const ips = [`10.${p + 1}.200.${2 * k + 1}`, `10.${p + 1}.200.${2 * k + 2}`];
  if (i % 10 === 0) ips.push(`10.${p + 1}.201.${(k % 25) * 10 + 1}-10.${p + 1}.201.${(k % 25) * 10 + 10}`);
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderReservedIP',
    metadata: { name: `reserved-${i}` },
    spec: { ipVersion: 4, ips },
  };
}

const nsOf = (i: number) => `scale-${i % NAMESPACES}`;
const nameOf = (i: number) => `app-${Math.floor(i / 10)}-${i.toString(36)}`;

function probe(kubeconfig: string, script = 'probe.ts', extra: string[] = []): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', path.join(__dirname, script), kubeconfig, ...extra],
      {
        cwd: REPO_ROOT,
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
  const probeArgs = ['--page-size', '--list-rv'].flatMap((f) => (flag(argv, f) ? [f, flag(argv, f)!] : []));
  const name = flag(argv, '--name') ?? 'bench-scale';
  const report = async (kubeconfig: string) => {
    for (let r = 0; r < runs; r++) {
      const result = await probe(kubeconfig, 'probe.ts', probeArgs);
      if (json) process.stdout.write(JSON.stringify(result) + '\n');
      else say(`run ${r + 1}: ${JSON.stringify(result, null, 1)}`);
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
        const a = address(i);
        const created = await api.post(`/api/v1/namespaces/${nsOf(i)}/pods`, {
          metadata: {
            name: nameOf(i),
            labels: { app: `app-${Math.floor(i / 10)}` },
            annotations: {
              'k8s.v1.cni.cncf.io/network-status': JSON.stringify([
                { name: 'kube-system/macvlan', interface: 'eth0', ips: [a.ip], default: true },
              ]),
            },
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'ReplicaSet',
                name: `app-${Math.floor(i / 10)}`,
                uid: `rs-${Math.floor(i / 10)}`,
                controller: true,
              },
            ],
          },
          spec: {
            nodeName: `node-${(i % 3) + 1}`,
            containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
          },
        });
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
        const a = address(i);
        await api.post(`/apis/spiderpool.spidernet.io/v2beta1/namespaces/${nsOf(i)}/spiderendpoints`, {
          apiVersion: 'spiderpool.spidernet.io/v2beta1',
          kind: 'SpiderEndpoint',
          metadata: { name: nameOf(i), finalizers: ['spiderpool.spidernet.io'] },
          status: {
            current: {
              uid: uids[i],
              node: `node-${(i % 3) + 1}`,
              ips: [{ interface: 'eth0', ipv4: `${a.ip}/16`, ipv4Pool: a.pool, vlan: 0 }],
            },
            ownerControllerType: 'Deployment',
            ownerControllerName: `app-${Math.floor(i / 10)}`,
          },
        });
      },
      (d) => say(`${d} endpoints`),
    );
    say(`${pods} endpoints created in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    t = Date.now();
    for (let p = 0; p < POOLS; p++) {
      const records: Record<string, { pod: string; podUid: string }> = {};
      for (let i = p; i < pods; i += POOLS)
        records[address(i).ip] = { pod: `${nsOf(i)}/${nameOf(i)}`, podUid: uids[i] };
      const created = await api.post('/apis/spiderpool.spidernet.io/v2beta1/spiderippools', {
        apiVersion: 'spiderpool.spidernet.io/v2beta1',
        kind: 'SpiderIPPool',
        metadata: { name: `scale-${p}` },
        spec: { ipVersion: 4, subnet: `10.${p + 1}.0.0/16`, ips: [`10.${p + 1}.0.1-10.${p + 1}.255.254`] },
      });
      await api.put(`/apis/spiderpool.spidernet.io/v2beta1/spiderippools/scale-${p}/status`, {
        ...created,
        status: {
          allocatedIPs: JSON.stringify(records),
          allocatedIPCount: Object.keys(records).length,
          totalIPCount: 65534,
        },
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
