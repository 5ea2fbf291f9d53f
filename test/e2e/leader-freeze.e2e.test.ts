/**
 * Leader freeze under load, on the real API server: two replicas of the reconciler run as `serve` runs them
 * (informer cache + leader election + reconcile loop); the leader's every API connection goes through a TCP proxy.
 * While the leader has reconcile work, its proxy freezes (nothing forwarded, nothing closed) for 30 s, starting
 * just as one of its writes goes out. Measured and asserted:
 * - the longest time both replicas considered themselves leader (sampled every 50 ms) stays within the renew
 *   deadline + 1 s;
 * - the other replica takes over and does the work;
 * - no live pod's record or endpoint is lost at any point (watched);
 * - none of the frozen leader's writes reaches the API server after it stepped down (the API server's audit log,
 *   which names each replica by its User-Agent): its in-flight write was aborted, so the proxy had nothing left to
 *   deliver when it thawed.
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { createLogger } from '../../webhook/log/logger';
import { startClusterCache } from '../../webhook/cluster/informers';
import type { Reconciler } from '../../webhook/reconciler/start';
import { startReconciler } from '../../webhook/app/reconciler';
import { TcpProxy } from '../../testbed/tcp-proxy';
import {
  adminClients,
  kubeConfigVia,
  bindPod,
  createEndpoint,
  createPool,
  deletePool,
  getPool,
  parseRecords,
  PoolRecord,
  randomSuffix,
  setPodStatus,
  testbed,
  useTestNamespace,
  waitFor,
  writePoolStatus,
  ENDPOINTS,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  SPIDER_FINALIZER,
} from './support';

const ns = useTestNamespace('leader-freeze');
const admin = adminClients();
const log = createLogger(process.env.SPG_E2E_LOG ? 'debug' : 'silent');
const octet = 100 + Math.floor(Math.random() * 150);
const ip = (n: number) => `10.${octet}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
const TIMING = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 1000 };
const FREEZE_MS = 30_000;
const LIVE = 8;
const SAMPLE_MS = 50;

interface Replica {
  identity: string;
  reconciler: Reconciler;
  registry: Registry;
  stop(): Promise<void>;
}

function startReplica(identity: string, kc: k8s.KubeConfig, lease: string, beforeWrite?: () => void): Replica {
  const wired: { reconciler?: Reconciler } = {};
  const cache = startClusterCache(kc, log, { kubevirt: false, onChange: () => wired.reconciler?.trigger('change') });
  const registry = new Registry();
  const r = startReconciler({
    source: cache,
    kubeConfig: kc,
    namespace: ns.name,
    identity,
    kubevirt: false,
    settleMs: 1000,
    intervalMs: 2000,
    debounceMs: 200,
    maxWritesPerSecond: 20,
    leaderElection: { leaseName: lease, ...TIMING },
    registry,
    log: log.child({ replica: identity }),
    beforeWrite: () => beforeWrite?.(),
  });
  wired.reconciler = r;
  return {
    identity,
    reconciler: r,
    registry,
    async stop() {
      await r.stop();
      cache.stop();
    },
  };
}

interface AuditEvent {
  stage: string;
  verb: string;
  userAgent?: string;
  requestReceivedTimestamp: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

function auditEvents(): AuditEvent[] {
  const path = testbed().auditLogPath;
  if (!path) throw new Error('the test bed has no audit log');
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Longest run of samples in which both replicas claimed leadership (ms, from the first to the first sample after). */
function longestOverlap(samples: { t: number; a: boolean; b: boolean }[]): number {
  let longest = 0;
  let since: number | undefined;
  for (const s of samples) {
    if (s.a && s.b) since ??= s.t;
    else if (since !== undefined) {
      longest = Math.max(longest, s.t - since);
      since = undefined;
    }
  }
  if (since !== undefined) longest = Math.max(longest, samples[samples.length - 1].t - since);
  return longest;
}

let pool = '';
let proxy: TcpProxy | undefined;
const replicas: Replica[] = [];

afterAll(async () => {
  proxy?.thaw();
  for (const r of replicas) await r.stop().catch(() => undefined);
  await proxy?.stop();
  if (pool) await deletePool(admin.custom, pool).catch(() => undefined);
});

test('a leader whose API connection freezes steps down within the renew deadline; the other takes over; no live record lost; no write of the old leader lands', async () => {
  const t0 = Date.now();
  pool = (await createPool(admin.custom, { subnet: `10.${octet}.0.0/16`, ips: [`${ip(0)}-${ip(999)}`] })).metadata
    .name!;
  const v4 = (addr: string) => [{ interface: 'eth0', ipv4: `${addr}/16`, ipv4Pool: pool }];

  // live pods: running, recorded, with their endpoints; nothing of theirs may ever go
  const live: Record<string, PoolRecord> = {};
  for (let i = 0; i < LIVE; i++) {
    const name = `live-${i}`;
    const pod = await admin.core.createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
    });
    await bindPod(admin.core, ns.name, name, 'node-1');
    await setPodStatus(admin.core, ns.name, name, { phase: 'Running', podIPs: [ip(i)] });
    live[ip(i)] = { pod: `${ns.name}/${name}`, podUid: pod.metadata!.uid! };
    await createEndpoint(admin.custom, ns.name, {
      name,
      uid: pod.metadata!.uid!,
      ips: v4(ip(i)),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata!.uid! }],
    });
  }
  await writePoolStatus(admin.custom, pool, live);

  // work: records and endpoints of pods that are gone (released, then deleted, by whoever leads)
  let ghosts = 0;
  const addGhosts = async (n: number) => {
    const base = await getPool(admin.custom, pool);
    const recs = parseRecords(base);
    const added: string[] = [];
    for (let k = 0; k < n; k++, ghosts++) {
      const addr = ip(100 + ghosts);
      const name = `ghost-${ghosts}`;
      recs[addr] = { pod: `${ns.name}/${name}`, podUid: `ghost-uid-${ghosts}` };
      added.push(addr);
      await createEndpoint(admin.custom, ns.name, {
        name,
        uid: `ghost-uid-${ghosts}`,
        ips: v4(addr),
        finalizers: [SPIDER_FINALIZER],
      });
    }
    // on 409 (the reconciler wrote first) these records are not written; their endpoints are leftovers all the same
    await writePoolStatus(admin.custom, pool, recs, { base }).catch(() => undefined);
  };

  // watch: every version of the pool keeps every live record; no live endpoint is deleted or marked for deletion
  const losses: string[] = [];
  const watch = new k8s.Watch(admin.kc);
  const poolWatch = await watch.watch(
    `/apis/${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}/spiderippools`,
    { fieldSelector: `metadata.name=${pool}` },
    (type: string, obj: Parameters<typeof parseRecords>[0]) => {
      if (type === 'DELETED') return;
      const recs = parseRecords(obj);
      for (const [addr, rec] of Object.entries(live)) {
        if (recs[addr]?.podUid !== rec.podUid)
          losses.push(
            `pool rv ${obj.metadata.resourceVersion}: record ${addr} of ${rec.pod} is ${JSON.stringify(recs[addr])}`,
          );
      }
    },
    () => undefined,
  );
  const endpointWatch = await watch.watch(
    `/apis/${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}/namespaces/${ns.name}/${ENDPOINTS}`,
    {},
    (type: string, obj: { metadata: { name: string; deletionTimestamp?: string } }) => {
      if (!obj.metadata.name.startsWith('live-')) return;
      if (type === 'DELETED' || obj.metadata.deletionTimestamp)
        losses.push(`endpoint ${obj.metadata.name}: ${type} deletionTimestamp=${obj.metadata.deletionTimestamp}`);
    },
    () => undefined,
  );

  const server = new URL(admin.kc.getCurrentCluster()!.server);
  proxy = await TcpProxy.start(server.hostname, Number(server.port));
  const lease = `spg-e2e-freeze-${randomSuffix()}`;
  const idA = `replica-a-${randomSuffix()}`;
  const idB = `replica-b-${randomSuffix()}`;
  let armed = false;
  let frozenAt = 0;
  let aWrites = 0;
  const a = startReplica(idA, kubeConfigVia(admin.kc, `https://127.0.0.1:${proxy.port}`), lease, () => {
    // freeze just as one of the leader's writes goes out (after a few went through): that write is sent into the
    // frozen connection
    if (!armed || frozenAt || ++aWrites < 4) return;
    frozenAt = Date.now();
    proxy!.freeze();
  });
  replicas.push(a);
  await waitFor('replica a leads', async () => a.reconciler.isLeader(), 15000, 50);
  const b = startReplica(idB, kubeConfigVia(admin.kc, server.origin), lease);
  replicas.push(b);

  const samples: { t: number; a: boolean; b: boolean }[] = [];
  const sampler = setInterval(
    () => samples.push({ t: Date.now(), a: a.reconciler.isLeader(), b: b.reconciler.isLeader() }),
    SAMPLE_MS,
  );
  let generating = true;
  const generator = (async () => {
    while (generating) {
      await addGhosts(2);
      await new Promise((r) => setTimeout(r, 1500));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 1500)); // b's cache syncs; a works
    armed = true;
    await waitFor('a write of the leader (freeze)', async () => frozenAt > 0, 15000, 20);
    expect(a.reconciler.isLeader()).toBe(true);
    const aDown = await waitFor(
      'a steps down',
      async () => (!a.reconciler.isLeader() ? Date.now() : undefined),
      10000,
      10,
    );
    const bUp = await waitFor(
      'b takes over',
      async () => (b.reconciler.isLeader() ? Date.now() : undefined),
      15000,
      10,
    );
    await new Promise((r) => setTimeout(r, Math.max(0, frozenAt + FREEZE_MS - Date.now())));
    proxy.thaw();
    const thawedAt = Date.now();
    await new Promise((r) => setTimeout(r, 3000)); // a reconnects, sees b's lease, stays a follower
    generating = false;
    await generator;
    // b finishes the work: every ghost record released and ghost endpoint gone
    const leftovers = async () => {
      const recs = parseRecords(await getPool(admin.custom, pool));
      const eps = (await admin.custom.listNamespacedCustomObject({
        group: SPIDERPOOL_GROUP,
        version: SPIDERPOOL_VERSION,
        namespace: ns.name,
        plural: ENDPOINTS,
      })) as {
        items: { metadata: { name: string } }[];
      };
      return [
        ...Object.values(recs)
          .filter((r) => r.pod.includes('/ghost-'))
          .map((r) => `record ${r.pod}`),
        ...eps.items.filter((e) => e.metadata.name.startsWith('ghost-')).map((e) => `endpoint ${e.metadata.name}`),
      ];
    };
    const left = await waitFor(
      'b has released every ghost',
      async () => ((await leftovers()).length === 0 ? [] : undefined),
      30000,
      250,
    ).catch(() => leftovers());
    clearInterval(sampler);
    poolWatch.abort();
    endpointWatch.abort();

    const overlap = longestOverlap(samples);
    const stale = (await a.registry.getSingleMetricAsString('spiderpool_guard_reconcile_actions_total'))
      .split('\n')
      .filter((l) => l.includes('result="stale"'));
    // the audit log names each replica by its User-Agent; requestReceivedTimestamp is the API server's (same host)
    const events = auditEvents().filter((e) => ['update', 'patch', 'delete'].includes(e.verb));
    const writesOf = (id: string) => events.filter((e) => e.userAgent === `spiderpool-guard/reconciler (${id})`);
    const aLate = writesOf(idA).filter((e) => Date.parse(e.requestReceivedTimestamp) >= aDown);
    const aLanded = writesOf(idA).filter((e) => e.stage === 'ResponseComplete' && (e.responseStatus?.code ?? 0) < 300);
    const bLanded = writesOf(idB).filter((e) => e.stage === 'ResponseComplete' && (e.responseStatus?.code ?? 0) < 300);
    process.stderr.write(
      `[leader-freeze e2e] lease ${TIMING.leaseDurationMs} ms, renew deadline ${TIMING.renewDeadlineMs} ms, retry ${TIMING.retryPeriodMs} ms; ` +
        `freeze ${thawedAt - frozenAt} ms; a stepped down ${aDown - frozenAt} ms after the freeze, b led ${bUp - frozenAt} ms after it; ` +
        `longest overlap of both claiming leadership: ${overlap} ms (${samples.length} samples every ${SAMPLE_MS} ms); ` +
        `a's writes landed: ${aLanded.length} before, ${aLate.length} requests received after its step-down; b's writes landed: ${bLanded.length}; ` +
        `a's actions ended stale: ${stale.map((l) => l.replace(/.*reason="([^"]+)".*\} /, '$1=')).join(' ') || 'none'}; ` +
        `proxy: ${proxy.stats.connections} connections, ${proxy.stats.droppedConnections} given up during the freeze, ${proxy.stats.droppedToServerBytes} bytes never delivered; ` +
        `ghosts ${ghosts}, left over ${left.length}; file ${Date.now() - t0} ms\n`,
    );
    expect(left).toEqual([]);
    expect(overlap).toBeLessThanOrEqual(TIMING.renewDeadlineMs + 1000);
    expect(aDown - frozenAt).toBeLessThanOrEqual(TIMING.renewDeadlineMs + 100);
    expect(bUp).toBeGreaterThan(aDown);
    expect(losses).toEqual([]);
    expect(aLate).toEqual([]);
    expect(aLanded.length).toBeGreaterThan(0); // a was writing before the freeze
    expect(bLanded.length).toBeGreaterThan(0);
    expect(proxy.stats.droppedToServerBytes).toBeGreaterThan(0); // the aborted write (and Lease calls) never went through
    expect(stale.length).toBeGreaterThan(0); // the in-flight action ended as stale, not done
    // the live pods' records and endpoints are all there at the end
    const recs = parseRecords(await getPool(admin.custom, pool));
    for (const [addr, rec] of Object.entries(live)) expect(recs[addr]).toEqual(rec);
    const eps = (await admin.custom.listNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      namespace: ns.name,
      plural: ENDPOINTS,
    })) as { items: { metadata: { name: string; deletionTimestamp?: string } }[] };
    expect(eps.items.filter((e) => e.metadata.name.startsWith('live-') && !e.metadata.deletionTimestamp)).toHaveLength(
      LIVE,
    );
    expect(a.reconciler.isLeader()).toBe(false);
    expect(b.reconciler.isLeader()).toBe(true);
  } finally {
    generating = false;
    clearInterval(sampler);
    await generator.catch(() => undefined);
  }
}, 90_000);
