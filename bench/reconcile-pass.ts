/**
 * Reconcile pass at cluster scale: findings + plan (with the guard self-check of every planned write) over an
 * IndexedView holding 100,000 pods, 100,000 SpiderEndpoints and 101,000 pool records in 20 pools (about 5,000 each,
 * Spiderpool's default pool cap).
 *
 *   npx tsx bench/reconcile-pass.ts [--pods 100000] [--iterations 5] [--json]
 *
 * Cluster shape for N pods (20 pools: 10 IPv4 /16 and 10 IPv6 /112; each pod has one record, alternating families):
 *   0.8 N Deployment pods   Running, record and endpoint
 *   0.1 N StatefulSet pods  10 sets, Running, record and endpoint
 *   0.1 N Job pods          Succeeded, record still held (cmdDel missed) and endpoint: COMPLETED_POD
 *   0.01 N records          of pods that are gone, no endpoint: POD_GONE
 *   0.001 N pods            Running on an IP of a pool that no pool records, no endpoint: UNRECORDED_LIVE_IP
 * Pools carry spec.ips (each v4 pool a /16's 65,534 addresses, each v6 pool 65,535), and one SpiderReservedIP lists
 * 16 addresses of v4-0, two of them recorded: RESERVED_IP_IN_USE.
 * Objects go through the real trim path (Kubernetes JSON → addObject), as informers and snapshots do.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { addObject } from '../webhook/cluster/snapshot';
import { DEFAULT_STATIC_IP_CONFIG } from '../webhook/model/types';
import { IndexedView } from '../webhook/model/view';
import { findings } from '../webhook/reconciler/findings';
import { plan } from '../webhook/reconciler/plan';
import { reconcilerUser } from '../webhook/reconciler/selfcheck';

type Obj = Record<string, unknown>;
const POOLS = 10; // per family

function v4(i: number): { pool: string; ip: string } {
  const p = i % POOLS;
  const n = Math.floor(i / POOLS) + 2;
  return { pool: `v4-${p}`, ip: `10.${p}.${Math.floor(n / 250)}.${(n % 250) + 1}` };
}
function v6(i: number): { pool: string; ip: string } {
  const p = i % POOLS;
  const n = Math.floor(i / POOLS) + 2;
  return { pool: `v6-${p}`, ip: `fd00:${p + 1}::${n.toString(16)}` };
}

function podObj(
  ns: string,
  name: string,
  uid: string,
  ips: string[],
  owner: Obj | undefined,
  phase = 'Running',
  restartPolicy = 'Always',
): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      uid,
      resourceVersion: '1',
      ...(owner ? { ownerReferences: [owner] } : {}),
      annotations: {
        'k8s.v1.cni.cncf.io/network-status': JSON.stringify([
          { name: 'kube-system/macvlan', interface: 'eth0', ips, default: true },
        ]),
      },
    },
    spec: { restartPolicy, nodeName: 'node-1' },
    status: { phase, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  };
}

function endpointObj(ns: string, name: string, uid: string, ips: { pool: string; ip: string }[], type: string): Obj {
  const detail: Obj = { interface: 'eth0' };
  for (const { pool, ip } of ips) {
    if (ip.includes(':')) Object.assign(detail, { ipv6: `${ip}/112`, ipv6Pool: pool });
    else Object.assign(detail, { ipv4: `${ip}/16`, ipv4Pool: pool });
  }
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderEndpoint',
    metadata: { name, namespace: ns, uid: `ep-${uid}`, resourceVersion: '1', finalizers: ['spiderpool.spidernet.io'] },
    status: {
      current: { uid, node: 'node-1', ips: [detail] },
      ownerControllerType: type,
      ownerControllerName: name.replace(/-[^-]+$/, ''),
    },
  };
}

/** One address per record, alternating IPv4 and IPv6 pools. */
function slotAddress(slot: number): { pool: string; ip: string } {
  return slot % 2 === 0 ? v4(slot / 2) : v6((slot - 1) / 2);
}

export function buildCluster(podCount = 100_000): {
  view: IndexedView;
  objects: number;
  records: number;
  buildMs: number;
} {
  const records = new Map<string, Record<string, { pod: string; podUid: string }>>();
  const record = (a: { pool: string; ip: string }, pod: string, podUid: string) => {
    let m = records.get(a.pool);
    if (!m) records.set(a.pool, (m = {}));
    m[a.ip] = { pod, podUid };
  };
  const items: Obj[] = [];
  let slot = 0;
  const deploy = Math.round(podCount * 0.8);
  const sts = Math.round(podCount * 0.1);
  const jobs = podCount - deploy - sts;
  for (let i = 0; i < deploy; i++, slot++) {
    const ns = `ns-${i % 50}`;
    const name = `app-${Math.floor(i / 10)}-${i.toString(36)}`;
    const uid = `uid-d-${i}`;
    const a = slotAddress(slot);
    items.push(
      podObj(ns, name, uid, [a.ip], {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: `app-${Math.floor(i / 10)}`,
        uid: 'rs',
        controller: true,
      }),
    );
    items.push(endpointObj(ns, name, uid, [a], 'Deployment'));
    record(a, `${ns}/${name}`, uid);
  }
  const sets = 10;
  for (let s = 0; s < sets; s++) {
    items.push({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: `db${s}`, namespace: 'data', uid: `sts-${s}` },
      spec: { replicas: sts / sets },
    });
  }
  for (let i = 0; i < sts; i++, slot++) {
    const set = i % sets;
    const name = `db${set}-${Math.floor(i / sets)}`;
    const uid = `uid-s-${i}`;
    const a = slotAddress(slot);
    items.push(
      podObj('data', name, uid, [a.ip], {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        name: `db${set}`,
        uid: `sts-${set}`,
        controller: true,
      }),
    );
    items.push(endpointObj('data', name, uid, [a], 'StatefulSet'));
    record(a, `data/${name}`, uid);
  }
  for (let i = 0; i < jobs; i++, slot++) {
    const name = `job-${i}-x7k2p`;
    const uid = `uid-j-${i}`;
    const a = slotAddress(slot);
    items.push(
      podObj(
        'batch',
        name,
        uid,
        [a.ip],
        { apiVersion: 'batch/v1', kind: 'Job', name: `job-${i}`, uid: 'j', controller: true },
        'Succeeded',
        'Never',
      ),
    );
    items.push(endpointObj('batch', name, uid, [a], 'Job'));
    record(a, `batch/${name}`, uid);
  }
  // records of pods that are gone (no pod, no endpoint)
  const gone = Math.round(podCount * 0.01);
  for (let i = 0; i < gone; i++, slot++) record(slotAddress(slot), `gone/pod-${i}`, `uid-g-${i}`);
  // running pods whose record and endpoint a wrongful release deleted
  const unrecorded = Math.round(podCount * 0.001);
  for (let i = 0; i < unrecorded; i++, slot++) {
    const a = slotAddress(slot);
    items.push(
      podObj('lost', `lost-${i}`, `uid-l-${i}`, [a.ip], {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'lost',
        uid: 'rs-l',
        controller: true,
      }),
    );
  }
  items.push({
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderReservedIP',
    metadata: { name: 'keep', uid: 'rip-keep' },
    spec: { ipVersion: 4, ips: ['10.0.0.2-10.0.0.17'] },
  });
  let total = 0;
  for (const [name, m] of records) {
    const n = Object.keys(m).length;
    total += n;
    const v6pool = name.startsWith('v6');
    const p = Number(name.split('-')[1]);
    items.push({
      apiVersion: 'spiderpool.spidernet.io/v2beta1',
      kind: 'SpiderIPPool',
      metadata: { name, uid: `pool-${name}`, resourceVersion: '1' },
      spec: {
        subnet: v6pool ? `fd00:${p + 1}::/112` : `10.${p}.0.0/16`,
        ipVersion: v6pool ? 6 : 4,
        ips: [v6pool ? `fd00:${p + 1}::1-fd00:${p + 1}::ffff` : `10.${p}.0.1-10.${p}.255.254`],
      },
      status: { allocatedIPs: JSON.stringify(m), allocatedIPCount: n, totalIPCount: 65000 },
    });
  }
  const t0 = performance.now();
  const view = new IndexedView();
  for (const o of items) addObject(view, o);
  return { view, objects: items.length, records: total, buildMs: performance.now() - t0 };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function main(): void {
  const { values } = parseArgs({
    options: { pods: { type: 'string' }, iterations: { type: 'string' }, json: { type: 'boolean' } },
  });
  const pods = Number(values.pods ?? 100_000);
  const iterations = Number(values.iterations ?? 5);
  const cluster = buildCluster(pods);
  const counts = cluster.view.counts();
  const opts = { staticIp: DEFAULT_STATIC_IP_CONFIG, user: reconcilerUser('kube-system') };
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const findTimes: number[] = [];
  let last: ReturnType<typeof plan> | undefined;
  for (let i = 0; i < iterations + 2; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const f = findings(cluster.view, DEFAULT_STATIC_IP_CONFIG);
    const t1 = performance.now();
    last = plan(cluster.view, { ...opts, findings: f });
    const t2 = performance.now();
    const c = process.cpuUsage(c0);
    if (i >= 2) {
      // the first two runs warm the JIT and the IP canonicalisation cache
      times.push(t2 - t0);
      cpuTimes.push((c.user + c.system) / 1000);
      findTimes.push(t1 - t0);
    }
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  findTimes.sort((a, b) => a - b);
  const byKind = new Map<string, number>();
  for (const a of last!.actions)
    byKind.set(`${a.action}/${a.reason}`, (byKind.get(`${a.action}/${a.reason}`) ?? 0) + 1);
  const result = {
    pods: counts.pods,
    endpoints: counts.endpoints,
    pools: counts.pools,
    records: cluster.records,
    viewBuildMs: Math.round(cluster.buildMs),
    iterations,
    passCpuMs: { median: +pct(cpuTimes, 50).toFixed(1), min: +cpuTimes[0].toFixed(1) },
    loadAverage: +loadavg()[0].toFixed(2),
    cpus: cpus().length,
    passMs: {
      min: +times[0].toFixed(1),
      median: +pct(times, 50).toFixed(1),
      p95: +pct(times, 95).toFixed(1),
      max: +times[times.length - 1].toFixed(1),
    },
    findingsMs: { median: +pct(findTimes, 50).toFixed(1) },
    findings: last!.findings.length,
    actions: Object.fromEntries(byKind),
    blocked: last!.blocked.length,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  process.stdout.write(
    [
      `reconcile pass over ${result.pods} pods, ${result.endpoints} endpoints, ${result.records} records in ${result.pools} pools`,
      `  view build (trim + index): ${result.viewBuildMs} ms (once; informers do it incrementally)`,
      `  findings + plan (incl. guard self-check): median ${result.passMs.median} ms, min ${result.passMs.min} ms, p95 ${result.passMs.p95} ms, max ${result.passMs.max} ms over ${iterations} passes`,
      `    CPU time per pass: median ${result.passCpuMs.median} ms, min ${result.passCpuMs.min} ms (machine: ${result.cpus} CPUs, load average ${result.loadAverage})`,
      `    of which findings: median ${result.findingsMs.median} ms`,
      `  ${result.findings} findings, actions ${JSON.stringify(result.actions)}, blocked ${result.blocked}`,
      '',
    ].join('\n'),
  );
}

if (require.main === module) main();
