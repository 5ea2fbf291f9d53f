/**
 * A pod recreated under its name (docs/rules.md, BLOCKING_ENDPOINT; Reconciler actions, UID_MISMATCH), on the test
 * bed: the emulated Spiderpool node agent (testbed/spiderpool/node-agent.ts) refuses a pod's CNI ADD while an endpoint
 * of its name carries another uid, as Spiderpool before v0.9.13 / v1.0.4 does ("being recycled"), and its CNI DEL of
 * the force-deleted pod's sandbox judges aliveness by name, so the earlier pod's endpoint and record stay.
 *
 * - Without the reconciler (the guard serving webhooks with --no-reconcile) the successor stays Pending without an IP.
 * - A reconciler (`serve` as spiderpool-controller, a guarded writer, so the real guard judges each of its writes)
 *   releases the earlier pod's record and removes its endpoint within the settle interval + one pass; the successor
 *   then gets an IP and runs. Measured: the successor's time to Running, with and without the reconciler.
 * - No write touches a live pod's objects: a watch sees every version of the pool and of the namespace's endpoints,
 *   and the API server's audit log lists every write the reconciler made.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { listClusterView } from '../../webhook/cluster/list-view';
import { DEFAULT_STATIC_IP_CONFIG } from '../../webhook/model/types';
import { findings } from '../../webhook/reconciler/findings';
import { NodeAgent } from '../../testbed/spiderpool/node-agent';
import { asWriteError, removeEndpointFinalizer } from '../../testbed/spiderpool/spider-api';
import { GroundTruth } from '../../testbed/spiderpool/truth';
import { Prng } from '../../testbed/spiderpool/util';
import {
  GuardProcess,
  loopbackCerts,
  registerWebhooks,
  startGuard,
  unregisterWebhooks,
  type LoopbackCerts,
} from '../../testbed/guard';
import {
  adminClients,
  apiErrorCode,
  clientsFor,
  createPool,
  deletePool,
  getPool,
  kubeconfigPath,
  parseRecords,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  testbed,
  useTestNamespace,
  waitFor,
  ENDPOINTS,
  SPIDERPOOL_CONTROLLER_USER,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  POOLS,
  SPIDER_FINALIZER,
  type SpiderEndpoint,
} from './support';

const ns = useTestNamespace('successor');
const admin = adminClients();
const agentClients = clientsFor(spiderpoolAgentKubeConfig());
const WEBHOOK = 'spg-e2e-successor';
const SETTLE_S = 5;
/** How long the successor is watched without a reconciler (several settle intervals: it would have run long before). */
const UNREPAIRED_WATCH_MS = 4 * SETTLE_S * 1000;
/** Settle interval + one pass, plus the agent's retry (1 s) and slack for a shared 2-core machine. */
const RUNNING_BOUND_MS = SETTLE_S * 1000 + 15_000;
const REPETITIONS = 3;
const octet = 100 + Math.floor(Math.random() * 150);
const ipOf = (n: number) => `10.${octet}.7.${n}`;

let certs: LoopbackCerts;
let webhookGuard: GuardProcess;
let reconciler: GuardProcess | undefined;
let agent: NodeAgent;
let pool: string;
let tmp: string;
const watches: AbortController[] = [];
/** every version of our pool's records, and every endpoint event of the namespace, in order */
const poolVersions: Record<string, { pod: string; podUid: string }>[] = [];
const endpointEvents: {
  type: string;
  name: string;
  objectUid: string;
  podUid: string;
  deleting: boolean;
  rv: string;
}[] = [];

function trainerPod(name: string): k8s.V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
    },
  };
}

async function readPod(name: string): Promise<k8s.V1Pod | undefined> {
  try {
    return await admin.core.readNamespacedPod({ namespace: ns.name, name });
  } catch (err) {
    if (apiErrorCode(err) === 404) return undefined;
    throw err;
  }
}

async function readEndpoint(name: string): Promise<SpiderEndpoint | undefined> {
  try {
    return (await admin.custom.getNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      namespace: ns.name,
      plural: ENDPOINTS,
      name,
    })) as SpiderEndpoint;
  } catch (err) {
    if (apiErrorCode(err) === 404) return undefined;
    throw err;
  }
}

/** Creates the pod and waits until the emulated node runs it with an IP (uid, IP). */
async function runPod(name: string, timeoutMs = 30_000): Promise<{ uid: string; ip: string; createdAt: number }> {
  const createdAt = Date.now();
  const created = await admin.core.createNamespacedPod({ namespace: ns.name, body: trainerPod(name) });
  const uid = created.metadata!.uid!;
  const ip = await waitUntilRunning(name, uid, timeoutMs);
  return { uid, ip, createdAt };
}

async function waitUntilRunning(name: string, uid: string, timeoutMs: number): Promise<string> {
  return waitFor(
    `pod ${name} uid ${uid} Running with an IP`,
    async () => {
      const p = await readPod(name);
      return p?.metadata?.uid === uid && p.status?.phase === 'Running' && p.status.podIPs?.[0]?.ip;
    },
    timeoutMs,
    100,
  );
}

/** The operator's move: delete the pod at once (grace period 0) and create it again under its name. */
async function recreate(name: string, uid: string): Promise<{ uid: string; createdAt: number }> {
  await admin.core.deleteNamespacedPod({
    namespace: ns.name,
    name,
    gracePeriodSeconds: 0,
    body: { gracePeriodSeconds: 0, preconditions: { uid } },
  });
  await waitFor(`pod ${name} uid ${uid} gone`, async () => (await readPod(name))?.metadata?.uid !== uid, 10_000, 50);
  const createdAt = Date.now();
  const next = await admin.core.createNamespacedPod({ namespace: ns.name, body: trainerPod(name) });
  return { uid: next.metadata!.uid!, createdAt };
}

async function recordsNow(): Promise<Record<string, { pod: string; podUid: string }>> {
  return parseRecords(await getPool(admin.custom, pool));
}

async function watch(
  pathName: string,
  query: Record<string, string>,
  onEvent: (type: string, obj: Record<string, unknown>) => void,
): Promise<void> {
  const w = new k8s.Watch(admin.kc);
  watches.push(
    await w.watch(
      pathName,
      query,
      (type, obj: Record<string, unknown>) => onEvent(type, obj),
      () => undefined,
    ),
  );
}

/** The reconciler: `serve` acting as spiderpool-controller (client certificate), webhooks not registered (the other guard judges). */
async function startReconciler(): Promise<GuardProcess> {
  const kc = await testbed().clientCertKubeConfig(SPIDERPOOL_CONTROLLER_USER, [
    'system:serviceaccounts',
    'system:serviceaccounts:kube-system',
  ]);
  const file = path.join(tmp, 'controller.kubeconfig');
  fs.writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  const g = await startGuard({
    kubeconfigPath: file,
    certs,
    clientCaFile: false,
    noReconcile: false,
    args: ['--settle-seconds', String(SETTLE_S), '--leader-election-namespace', ns.name],
  });
  await g.waitForLine((l) => typeof l.msg === 'string' && /reconcile pass/.test(l.msg), 30_000);
  return g;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-successor-'));
  certs = await loopbackCerts();
  webhookGuard = await startGuard({ kubeconfigPath: kubeconfigPath(), certs });
  await registerWebhooks(admin.kc, { baseUrl: webhookGuard.url, caBundle: certs.ca, name: WEBHOOK });
  pool = (await createPool(admin.custom, { subnet: `10.${octet}.0.0/16`, ips: [`${ipOf(10)}-${ipOf(40)}`] })).metadata
    .name!;
  await watch(
    `/apis/${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}/${POOLS}`,
    { fieldSelector: `metadata.name=${pool}` },
    (_type, obj) => {
      const raw = (obj.status as { allocatedIPs?: string } | undefined)?.allocatedIPs;
      poolVersions.push(raw ? (JSON.parse(raw) as Record<string, { pod: string; podUid: string }>) : {});
    },
  );
  await watch(`/apis/${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}/namespaces/${ns.name}/${ENDPOINTS}`, {}, (type, obj) => {
    const ep = obj as unknown as SpiderEndpoint;
    endpointEvents.push({
      type,
      name: ep.metadata.name!,
      objectUid: ep.metadata.uid!,
      podUid: ep.status.current.uid,
      deleting: !!ep.metadata.deletionTimestamp,
      rv: ep.metadata.resourceVersion!,
    });
  });
  agent = new NodeAgent({
    namespace: ns.name,
    pool,
    prefixLength: 16,
    nodes: ['node-1', 'node-2', 'node-3'],
    admin,
    agent: agentClients,
    truth: new GroundTruth(),
    rng: new Prng(19),
    pollMs: 200,
    retryMs: 1000,
    finishDelayMaxMs: 0,
    vanishedSandboxDelMs: 1000,
  });
  await agent.start();
}, 120_000);

afterAll(async () => {
  for (const w of watches) w.abort();
  await agent?.stop();
  await reconciler?.stop();
  await unregisterWebhooks(admin.kc, WEBHOOK);
  await webhookGuard?.stop();
  if (pool) await deletePool(admin.custom, pool).catch(() => undefined);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
});

/** Every live successor whose record or endpoint appeared: none of them may lose it afterwards. */
const liveUids = new Set<string>();
const timings: { without?: string; withReconciler: number[] } = { withReconciler: [] };

describe('a pod recreated under its name, with Spiderpool before v1.0.4 refusing while the old endpoint exists', () => {
  let bystanderUid: string;
  let blocked: { uid: string; createdAt: number; oldUid: string; oldIp: string };

  test("the GC's by-name finalizer merge patch on a running pod's endpoint, not being deleted, is denied (LIVE_ENDPOINT_DELETE)", async () => {
    bystanderUid = (await runPod('bystander')).uid;
    liveUids.add(bystanderUid);
    const gc = clientsFor(spiderpoolControllerKubeConfig());
    const denied = await removeEndpointFinalizer(gc.custom, (await readEndpoint('bystander'))!).then(
      () => undefined,
      (err: unknown) => asWriteError(err),
    );
    expect(denied?.code).toBe(403);
    expect(denied?.message).toContain('LIVE_ENDPOINT_DELETE');
    const after = await readEndpoint('bystander');
    expect(after?.metadata.finalizers).toContain(SPIDER_FINALIZER);
    expect(after?.metadata.deletionTimestamp).toBeUndefined();
  }, 60_000);

  test('without the reconciler the successor stays Pending without an IP; check reports BLOCKING_ENDPOINT', async () => {
    const first = await runPod('trainer-a');
    const next = await recreate('trainer-a', first.uid);
    blocked = { ...next, oldUid: first.uid, oldIp: first.ip };
    liveUids.add(next.uid);

    const until = Date.now() + UNREPAIRED_WATCH_MS;
    while (Date.now() < until) {
      const p = await readPod('trainer-a');
      expect(p?.metadata?.uid).toBe(next.uid);
      expect(p?.status?.podIPs ?? []).toEqual([]);
      expect(p?.status?.phase ?? 'Pending').toBe('Pending');
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(agent.explain(`${ns.name}/trainer-a`)).toMatch(/being recycled/);
    const ep = await readEndpoint('trainer-a');
    expect(ep?.status.current.uid).toBe(first.uid);
    expect(
      Object.entries(await recordsNow())
        .filter(([, r]) => r.podUid === first.uid)
        .map(([ip]) => ip),
    ).toEqual([first.ip]);
    const found = findings(await listClusterView(admin.kc), DEFAULT_STATIC_IP_CONFIG).filter(
      (f) => f.endpoint?.name === `${ns.name}/trainer-a`,
    );
    expect(found.map((f) => f.finding)).toEqual(['BLOCKING_ENDPOINT']);
    expect(found[0].pods?.map((p) => p.uid)).toEqual([next.uid]);
    timings.without = `not Running ${((Date.now() - next.createdAt) / 1000).toFixed(1)} s after it was created`;
  }, 90_000);

  test('the reconciler releases the old record and removes the old endpoint; the blocked successor runs within the settle interval + one pass', async () => {
    const startedAt = Date.now();
    reconciler = await startReconciler();
    const ip = await waitUntilRunning('trainer-a', blocked.uid, RUNNING_BOUND_MS + 15_000);
    const sinceStart = Date.now() - startedAt;
    process.stderr.write(
      `[successor] blocked successor: ${timings.without}; ran ${(sinceStart / 1000).toFixed(1)} s after the reconciler process started (settle ${SETTLE_S} s)\n`,
    );
    expect(sinceStart).toBeLessThan(RUNNING_BOUND_MS + 15_000); // + the reconciler's start and first sync
    const records = await recordsNow();
    expect(Object.values(records).filter((r) => r.podUid === blocked.oldUid)).toEqual([]);
    expect(records[ip]).toEqual({ pod: `${ns.name}/trainer-a`, podUid: blocked.uid });
    expect((await readEndpoint('trainer-a'))?.status.current.uid).toBe(blocked.uid);
  }, 120_000);

  test(`with the reconciler running, a recreated pod runs within the settle interval + one pass (${REPETITIONS} times)`, async () => {
    for (let i = 0; i < REPETITIONS; i++) {
      const name = `trainer-b${i}`;
      const first = await runPod(name);
      const next = await recreate(name, first.uid);
      liveUids.add(next.uid);
      const ip = await waitUntilRunning(name, next.uid, RUNNING_BOUND_MS);
      timings.withReconciler.push(Date.now() - next.createdAt);
      const records = await recordsNow();
      expect(Object.values(records).filter((r) => r.podUid === first.uid)).toEqual([]);
      expect(records[ip]?.podUid).toBe(next.uid);
    }
    const secs = timings.withReconciler.map((t) => (t / 1000).toFixed(1));
    process.stderr.write(
      `[successor] time to Running with the reconciler (settle ${SETTLE_S} s): ${secs.join(', ')} s; without: ${timings.without}\n`,
    );
    for (const t of timings.withReconciler) expect(t).toBeLessThan(RUNNING_BOUND_MS);
  }, 180_000);

  test("no write touched a live pod's objects (watch), and the reconciler wrote only the earlier pods' record and endpoints (audit log)", async () => {
    // one more pass over the healed state: nothing left to do for this namespace
    await new Promise((r) => setTimeout(r, (SETTLE_S + 2) * 1000));
    // pool: once a live pod's record appears, every later version keeps it unchanged
    for (const uid of liveUids) {
      const firstSeen = poolVersions.findIndex((v) => Object.values(v).some((r) => r.podUid === uid));
      expect(firstSeen).toBeGreaterThanOrEqual(0);
      const ips = Object.entries(poolVersions[firstSeen])
        .filter(([, r]) => r.podUid === uid)
        .map(([ip]) => ip);
      for (const v of poolVersions.slice(firstSeen)) for (const ip of ips) expect(v[ip]?.podUid).toBe(uid);
    }
    // endpoints: an endpoint whose current.uid is a live pod's is never deleted nor marked deleting
    const liveEndpointEvents = endpointEvents.filter((e) => liveUids.has(e.podUid));
    expect(liveEndpointEvents.length).toBeGreaterThan(0);
    expect(liveEndpointEvents.filter((e) => e.type === 'DELETED' || e.deleting)).toEqual([]);

    // audit log: every write the reconciler made (its User-Agent names it) to this namespace's endpoints and this pool
    type AuditEvent = {
      verb: string;
      userAgent?: string;
      user: { username: string };
      objectRef?: { resource: string; subresource?: string; name?: string; namespace?: string };
      responseStatus?: { code: number };
      requestReceivedTimestamp: string;
    };
    const events = fs
      .readFileSync(path.join(path.dirname(kubeconfigPath()), 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes(ns.name) || l.includes(pool))
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter(
        (e) =>
          ['create', 'update', 'patch', 'delete'].includes(e.verb) &&
          (e.objectRef?.resource === POOLS || e.objectRef?.resource === ENDPOINTS),
      );
    const byReconciler = events.filter((e) => e.userAgent?.startsWith('spiderpool-guard/reconciler'));
    const summary = byReconciler.map(
      (e) =>
        `${e.verb} ${e.objectRef!.resource}${e.objectRef!.subresource ? `/${e.objectRef!.subresource}` : ''} ${e.objectRef!.name} ${e.responseStatus?.code}`,
    );
    process.stderr.write(`[successor] reconciler writes (audit log): ${summary.join('; ')}\n`);
    expect(new Set(byReconciler.map((e) => e.user.username))).toEqual(new Set([SPIDERPOOL_CONTROLLER_USER]));
    const names = ['trainer-a', ...Array.from({ length: REPETITIONS }, (_, i) => `trainer-b${i}`)];
    // one release per recreated pod that succeeded (a 409 retry would add a line with code 409)
    expect(byReconciler.filter((e) => e.objectRef!.resource === POOLS && e.responseStatus?.code === 200)).toHaveLength(
      names.length,
    );
    const endpointWrites = byReconciler.filter((e) => e.objectRef!.resource === ENDPOINTS);
    expect([...new Set(endpointWrites.map((e) => e.objectRef!.name))].sort()).toEqual([...names].sort());
    // each of them came before the agent created the successor's endpoint of that name: none touched a live one
    for (const name of names) {
      const creates = events.filter(
        (e) =>
          e.verb === 'create' &&
          e.objectRef!.resource === ENDPOINTS &&
          e.objectRef!.name === name &&
          e.responseStatus?.code === 201,
      );
      const successorCreated = Date.parse(creates[creates.length - 1].requestReceivedTimestamp);
      for (const w of endpointWrites.filter((e) => e.objectRef!.name === name))
        expect(Date.parse(w.requestReceivedTimestamp)).toBeLessThanOrEqual(successorCreated);
    }
    // and nothing is left for the reconciler in this namespace
    const left = findings(await listClusterView(admin.kc), DEFAULT_STATIC_IP_CONFIG).filter(
      (f) => f.endpoint?.name.startsWith(`${ns.name}/`) || f.pods?.some((p) => p.name.startsWith(`${ns.name}/`)),
    );
    expect(left).toEqual([]);
  }, 60_000);
});
