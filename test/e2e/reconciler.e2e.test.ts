/**
 * The reconciler against the real API server (test bed: kube-apiserver + etcd + kube-controller-manager; no kubelet,
 * so pod status is written through pods/status). The guard runs as a real admission webhook, and the reconciler
 * writes as spiderpool-controller, a guarded writer: every one of its writes is judged by the real guard too.
 */
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../../webhook/log/logger';
import { listClusterView } from '../../webhook/cluster/list-view';
import { DEFAULT_STATIC_IP_CONFIG, splitNsName } from '../../webhook/model/types';
import { ActionResult, Executor, WriteHookInfo } from '../../webhook/reconciler/executor';
import { KubeReconcileClient } from '../../webhook/cluster/reconcile-client';
import { LeaderElector } from '../../webhook/reconciler/leader';
import { KubeLeaseClient } from '../../webhook/cluster/lease-client';
import { LeaseClient } from '../../webhook/model/ports';
import { Action } from '../../webhook/reconciler/actions';
import { plan } from '../../webhook/reconciler/plan';
import { reconcilerUser } from '../../webhook/reconciler/selfcheck';
import {
  adminClients,
  bindPod,
  clientsFor,
  createEndpoint,
  createPool,
  deletePool,
  forceDeletePod,
  getEndpoint,
  getPool,
  kubeconfigPath,
  parseRecords,
  pauseStatefulSet,
  randomSuffix,
  setPodStatus,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  useTestNamespace,
  waitFor,
  writePoolStatus,
  apiErrorCode,
  ENDPOINTS,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  SPIDER_FINALIZER,
} from './support';
import {
  GuardProcess,
  loopbackCerts,
  registerWebhooks,
  runCli,
  startGuard,
  unregisterWebhooks,
} from '../../testbed/guard';

const ns = useTestNamespace('reconciler');
const admin = adminClients();
const agent = clientsFor(spiderpoolAgentKubeConfig());
const controllerKc = spiderpoolControllerKubeConfig();
const WEBHOOK = 'spg-e2e-reconciler';
const staticIp = DEFAULT_STATIC_IP_CONFIG;
const octet = 100 + Math.floor(Math.random() * 150);
const SUBNET = `10.${octet}.0.0/16`;
const ip = (n: number) => `10.${octet}.0.${n}`;
const log = createLogger(process.env.SPG_E2E_LOG ? 'debug' : 'silent');

let pool: string;
let guard: GuardProcess;

beforeAll(async () => {
  const certs = await loopbackCerts();
  guard = await startGuard({ kubeconfigPath: kubeconfigPath(), certs });
  await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
  pool = (await createPool(admin.custom, { subnet: SUBNET, ips: [`${ip(1)}-${ip(250)}`] })).metadata.name!;
});

afterAll(async () => {
  await unregisterWebhooks(admin.kc, WEBHOOK);
  await guard?.stop();
  if (pool) await deletePool(admin.custom, pool).catch(() => undefined);
});

/** Only this file's objects: the test bed is shared with other test files. */
function mine(a: Action): boolean {
  if (a.action === 'DELETE_ENDPOINT') return splitNsName(a.endpoint!.name)?.namespace === ns.name;
  return a.pool === pool;
}

/** One reconcile pass over a fresh list of the cluster, executed as spiderpool-controller (a guarded writer). */
async function reconcile(
  opts: { beforeWrite?: (i: WriteHookInfo) => Promise<void> | void } = {},
): Promise<ActionResult[]> {
  const view = await listClusterView(admin.kc);
  const user = reconcilerUser('kube-system');
  const p = plan(view, { staticIp, user });
  expect(p.blocked.filter((b) => mine(b.action))).toEqual([]);
  const executor = new Executor({
    client: new KubeReconcileClient(controllerKc, 'e2e'),
    staticIp,
    user,
    log,
    maxWritesPerSecond: 50,
    beforeWrite: opts.beforeWrite,
  });
  return executor.execute(p.actions.filter(mine), view);
}

const summary = (rs: ActionResult[]) =>
  rs.map((r) => `${r.action.action}/${r.action.reason}:${r.result}${r.result === 'done' ? '' : ` (${r.detail})`}`);

async function record(ipAddr: string) {
  return parseRecords(await getPool(admin.custom, pool))[ipAddr];
}

async function addRecord(ipAddr: string, podName: string, uid: string): Promise<void> {
  const base = await getPool(agent.custom, pool);
  await writePoolStatus(
    agent.custom,
    pool,
    { ...parseRecords(base), [ipAddr]: { pod: `${ns.name}/${podName}`, podUid: uid } },
    { base },
  );
}

async function endpointExists(name: string): Promise<boolean> {
  try {
    await getEndpoint(admin.custom, ns.name, name);
    return true;
  } catch (err) {
    if (apiErrorCode(err) === 404) return false;
    throw err;
  }
}

/** Waits for a controller-created pod, binds it and reports it Running with the given IPs (what kubelet would do). */
async function runControllerPod(name: string, podIPs: string[]): Promise<k8s.V1Pod> {
  const pod = await waitFor(`pod ${name}`, async () => {
    try {
      const p = await admin.core.readNamespacedPod({ name, namespace: ns.name });
      return p.metadata?.deletionTimestamp ? undefined : p;
    } catch {
      return undefined;
    }
  });
  if (!pod.spec?.nodeName) await bindPod(admin.core, ns.name, name, 'node-1');
  await setPodStatus(admin.core, ns.name, name, { phase: 'Running', podIPs });
  return pod;
}

const v4 = (addr: string) => [{ interface: 'eth0', ipv4: `${addr}/16`, ipv4Pool: pool }];

describe('reconciler on the real API server', () => {
  test("a completed Job's leftovers are cleaned: record released, endpoint deleted (finalizer removed)", async () => {
    await admin.batch.createNamespacedJob({
      namespace: ns.name,
      body: {
        metadata: { name: 'batch' },
        spec: {
          backoffLimit: 0,
          template: {
            spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      },
    });
    const podName = await waitFor('job pod', async () => {
      const pods = await admin.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'job-name=batch' });
      return pods.items[0]?.metadata?.name;
    });
    const pod = await runControllerPod(podName, [ip(10)]);
    const uid = pod.metadata!.uid!;
    await addRecord(ip(10), podName, uid);
    await createEndpoint(agent.custom, ns.name, {
      name: podName,
      uid,
      ips: v4(ip(10)),
      ownerControllerType: 'Job',
      ownerControllerName: 'batch',
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: podName, uid }],
    });
    // a running Job pod is never touched
    expect(summary(await reconcile())).toEqual([]);
    // it completes; kubelet keeps its podIPs; cmdDel never ran (record and endpoint left behind)
    await setPodStatus(admin.core, ns.name, podName, { phase: 'Succeeded', podIPs: [ip(10)] });
    expect(summary(await reconcile())).toEqual(['RELEASE_IP/COMPLETED_POD:done', 'DELETE_ENDPOINT/COMPLETED_POD:done']);
    expect(await record(ip(10))).toBeUndefined();
    expect(await endpointExists(podName)).toBe(false);
    expect((await getPool(admin.custom, pool)).status?.allocatedIPCount).toBe(0);
    // Events on the objects changed
    const events = await admin.core.listNamespacedEvent({ namespace: ns.name });
    expect(
      events.items.some((e) => e.reason === 'SpiderpoolGuardDeletedEndpoint' && e.involvedObject.name === podName),
    ).toBe(true);
    // nothing left to do
    expect(summary(await reconcile())).toEqual([]);
  });

  test('an sts that stopped using Spiderpool gets its old record and endpoint removed (STATIC_LEFT_IPAM)', async () => {
    await admin.apps.createNamespacedStatefulSet({ namespace: ns.name, body: pauseStatefulSet('legacy', 1) });
    const first = await runControllerPod('legacy-0', [ip(20)]);
    const oldUid = first.metadata!.uid!;
    await addRecord(ip(20), 'legacy-0', oldUid);
    await createEndpoint(agent.custom, ns.name, {
      name: 'legacy-0',
      uid: oldUid,
      ips: v4(ip(20)),
      ownerControllerType: 'StatefulSet',
      ownerControllerName: 'legacy',
    });
    // the pool annotation is removed and the pod recreated: the new incarnation gets its IP from another IPAM
    await forceDeletePod(admin.core, ns.name, 'legacy-0');
    const second = await waitFor('legacy-0 recreated', async () => {
      const p = await admin.core.readNamespacedPod({ name: 'legacy-0', namespace: ns.name }).catch(() => undefined);
      return p && p.metadata?.uid !== oldUid ? p : undefined;
    });
    // restarting (no IPs yet): kept
    expect(summary(await reconcile())).toEqual([]);
    await runControllerPod('legacy-0', ['192.168.77.5']);
    expect(summary(await reconcile())).toEqual([
      'RELEASE_IP/STATIC_LEFT_IPAM:done',
      'DELETE_ENDPOINT/STATIC_LEFT_IPAM:done',
    ]);
    expect(await record(ip(20))).toBeUndefined();
    expect(await endpointExists('legacy-0')).toBe(false);
    expect(second.metadata!.uid).not.toBe(oldUid);
  });

  test('a restarting StatefulSet member keeps its IP (record and endpoint untouched), also after its restart', async () => {
    await admin.apps.createNamespacedStatefulSet({ namespace: ns.name, body: pauseStatefulSet('db', 1) });
    const first = await runControllerPod('db-0', [ip(30)]);
    const oldUid = first.metadata!.uid!;
    await addRecord(ip(30), 'db-0', oldUid);
    await createEndpoint(agent.custom, ns.name, {
      name: 'db-0',
      uid: oldUid,
      ips: v4(ip(30)),
      ownerControllerType: 'StatefulSet',
      ownerControllerName: 'db',
    });
    await forceDeletePod(admin.core, ns.name, 'db-0');
    const next = await waitFor('db-0 recreated', async () => {
      const p = await admin.core.readNamespacedPod({ name: 'db-0', namespace: ns.name }).catch(() => undefined);
      return p && p.metadata?.uid !== oldUid ? p : undefined;
    });
    expect(summary(await reconcile())).toEqual([]);
    expect(await record(ip(30))).toEqual({ pod: `${ns.name}/db-0`, podUid: oldUid });
    // the agent's static restart: record uid, then endpoint uid, then the pod runs with the same IP
    const newUid = next.metadata!.uid!;
    await addRecord(ip(30), 'db-0', newUid);
    const ep = await getEndpoint(agent.custom, ns.name, 'db-0');
    ep.status.current.uid = newUid;
    await agent.custom.replaceNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: ENDPOINTS,
      namespace: ns.name,
      name: 'db-0',
      body: ep,
    });
    await runControllerPod('db-0', [ip(30)]);
    expect(summary(await reconcile())).toEqual([]);
    expect(await record(ip(30))).toEqual({ pod: `${ns.name}/db-0`, podUid: newUid });
    expect(await endpointExists('db-0')).toBe(true);
  });

  test('a missing record of a running pod is restored (RESTORE_RECORD)', async () => {
    const pod = await admin.core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'lost' },
        spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
      },
    });
    await bindPod(admin.core, ns.name, 'lost', 'node-1');
    await setPodStatus(admin.core, ns.name, 'lost', { phase: 'Running', podIPs: [ip(40)] });
    const uid = pod.metadata!.uid!;
    await addRecord(ip(40), 'lost', uid);
    await createEndpoint(agent.custom, ns.name, {
      name: 'lost',
      uid,
      ips: v4(ip(40)),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'lost', uid }],
    });
    // the record disappears behind the pod's back (a wrongful release by an unguarded writer)
    const base = await getPool(admin.custom, pool);
    const recs = parseRecords(base);
    delete recs[ip(40)];
    await writePoolStatus(admin.custom, pool, recs, { base });
    expect(summary(await reconcile())).toEqual(['RESTORE_RECORD/MISSING_RECORD:done']);
    expect(await record(ip(40))).toEqual({ pod: `${ns.name}/lost`, podUid: uid });
  });

  test('an endpoint recreated under the same name between decision and write is not deleted (delete preconditions)', async () => {
    await createEndpoint(agent.custom, ns.name, { name: 'ghost', uid: 'gone-uid', ips: v4(ip(50)), finalizers: [] });
    let replacedUid = '';
    const results = await reconcile({
      beforeWrite: async (info) => {
        if (info.kind !== 'endpointDelete' || info.name !== 'ghost') return;
        // between our read/judgement and our DELETE, the endpoint is deleted and a new one created under that name
        await admin.custom.deleteNamespacedCustomObject({
          group: SPIDERPOOL_GROUP,
          version: SPIDERPOOL_VERSION,
          plural: ENDPOINTS,
          namespace: ns.name,
          name: 'ghost',
        });
        const fresh = await createEndpoint(agent.custom, ns.name, {
          name: 'ghost',
          uid: 'new-incarnation',
          ips: v4(ip(51)),
          finalizers: [],
        });
        replacedUid = fresh.metadata.uid!;
      },
    });
    expect(summary(results)).toEqual([
      expect.stringMatching(/^DELETE_ENDPOINT\/POD_GONE:stale \(SpiderEndpoint .*ghost was replaced/),
    ]);
    const survivor = await getEndpoint(admin.custom, ns.name, 'ghost');
    expect(survivor.metadata.uid).toBe(replacedUid);
    expect(survivor.metadata.deletionTimestamp).toBeUndefined();
    // the next pass judges the new object on its own (its pod does not exist either): deleted with its own uid
    expect(summary(await reconcile())).toEqual(['DELETE_ENDPOINT/POD_GONE:done']);
  });

  test('check reports an IP conflict (exit 1, JSON lines) and reconcile --once --dry-run only prints', async () => {
    for (const name of ['twin-a', 'twin-b']) {
      await admin.core.createNamespacedPod({
        namespace: ns.name,
        body: { metadata: { name }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
      });
      await bindPod(admin.core, ns.name, name, 'node-1');
      await setPodStatus(admin.core, ns.name, name, { phase: 'Running', podIPs: [ip(60)] });
    }
    await createEndpoint(agent.custom, ns.name, {
      name: 'orphan',
      uid: 'orphan-uid',
      ips: v4(ip(61)),
      finalizers: [SPIDER_FINALIZER],
    });
    const check = await runCli([
      'check',
      '--kubeconfig',
      kubeconfigPath(),
      '--output',
      'json',
      '--settle-seconds',
      '1',
    ]);
    expect(check.code).toBe(1);
    const findings = check.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { finding: string; ip?: string; pods?: { name: string }[] });
    const conflict = findings.find((f) => f.finding === 'IP_CONFLICT' && f.ip === ip(60));
    expect(conflict?.pods?.map((p) => p.name).sort()).toEqual([`${ns.name}/twin-a`, `${ns.name}/twin-b`]);
    expect(
      findings.some(
        (f) =>
          f.finding === 'LEFTOVER_ENDPOINT' &&
          (f as { endpoint?: { name: string } }).endpoint?.name === `${ns.name}/orphan`,
      ),
    ).toBe(true);
    const table = await runCli(['check', '--kubeconfig', kubeconfigPath(), '--settle-seconds', '0']);
    expect(table.stdout).toContain('IP_CONFLICT (error)');
    const dry = await runCli([
      'reconcile',
      '--once',
      '--dry-run',
      '--kubeconfig',
      kubeconfigPath(),
      '--output',
      'json',
      '--settle-seconds',
      '1',
    ]);
    expect(dry.code).toBe(0);
    const planned = dry.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { action: string; reason: string; endpoint?: { name: string }; result: string });
    expect(planned.find((a) => a.endpoint?.name === `${ns.name}/orphan`)).toMatchObject({
      action: 'DELETE_ENDPOINT',
      reason: 'POD_GONE',
      result: 'dry-run',
    });
    expect(await endpointExists('orphan')).toBe(true);
    // the conflict itself is never acted on
    expect(planned.filter((a) => JSON.stringify(a).includes(ip(60)))).toEqual([]);
  });

  test("the guard denied none of the reconciler's writes (it wrote as spiderpool-controller, a guarded writer)", () => {
    const denied = guard
      .auditEvents()
      .filter(
        (e) => e.event === 'admission.denied' && e.user === 'system:serviceaccount:kube-system:spiderpool-controller',
      );
    expect(denied).toEqual([]);
  });
});

describe('leader election on a real Lease', () => {
  test('two electors: one leader; the other takes over when the first stops renewing (failover measured)', async () => {
    const lease = `spg-e2e-lease-${randomSuffix()}`;
    const events: string[] = [];
    let aCut = false;
    const real = new KubeLeaseClient(admin.kc);
    const cutOff = (err: string) => Promise.reject(Object.assign(new Error(err), { code: undefined }));
    const aClient: LeaseClient = {
      get: (n, name) => (aCut ? cutOff('connect ECONNREFUSED') : real.get(n, name)),
      create: (n, name, r) => (aCut ? cutOff('connect ECONNREFUSED') : real.create(n, name, r)),
      update: (n, name, r, rv) => (aCut ? cutOff('connect ECONNREFUSED') : real.update(n, name, r, rv)),
    };
    const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 300 };
    const mk = (identity: string, client: LeaseClient) =>
      new LeaderElector({
        client,
        namespace: ns.name,
        name: lease,
        identity,
        ...timing,
        log,
        onStartedLeading: () => events.push(`${identity}:start@${Date.now()}`),
        onStoppedLeading: () => events.push(`${identity}:stop@${Date.now()}`),
      });
    const a = mk('replica-a', aClient);
    const b = mk('replica-b', new KubeLeaseClient(admin.kc));
    a.start();
    await waitFor('a leads', async () => a.isLeader(), 10000, 50);
    b.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    const stored = await admin.kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: lease, namespace: ns.name });
    expect(stored.spec?.holderIdentity).toBe('replica-a');

    // crash-like: a can no longer reach the API server (no release); b takes over after the lease expires
    const cutAt = Date.now();
    aCut = true;
    await waitFor('b leads', async () => b.isLeader(), 15000, 25);
    const failoverMs = Date.now() - cutAt;
    const aStop = events.find((e) => e.startsWith('replica-a:stop'));
    const bStart = events.find((e) => e.startsWith('replica-b:start'));
    expect(aStop).toBeDefined();
    expect(Number(aStop!.split('@')[1])).toBeLessThanOrEqual(Number(bStart!.split('@')[1])); // never two leaders
    expect(failoverMs).toBeLessThan(timing.leaseDurationMs + 2 * timing.retryPeriodMs + 1500);

    // graceful: b stops and releases the lease; a (reconnected) takes over at its next retry
    aCut = false;
    const releaseAt = Date.now();
    await b.stop();
    await waitFor('a leads again', async () => a.isLeader(), 10000, 25);
    const gracefulMs = Date.now() - releaseAt;
    expect(gracefulMs).toBeLessThan(2 * timing.retryPeriodMs + 1000);
    process.stderr.write(
      `[reconciler e2e] leader failover: ${failoverMs} ms after the leader stopped renewing (lease 2 s, retry 0.3 s); ${gracefulMs} ms after a graceful release\n`,
    );
    await a.stop();
    const released = await admin.kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: lease, namespace: ns.name });
    expect(released.spec?.holderIdentity ?? '').toBe('');
  });
});
