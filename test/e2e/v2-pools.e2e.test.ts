/**
 * The restarting static member (docs/rules.md#restarting), on the test bed: a StatefulSet moved to another pool by its pod
 * annotation (ipam.spidernet.io/ippool) is not restarting for the old pool's IPs. With both Spiderpool service
 * accounts guarded (--guarded-users naming the agent and the controller), the agent deletes the old endpoint on the
 * new pod's ADD (releaseStsOutdatedIPIfNeed) and the controller releases the old-pool record, without a denial;
 * a member of a StatefulSet that keeps its pool stays protected while it restarts.
 */
import * as k8s from '@kubernetes/client-node';
import {
  SPIDERPOOL_AGENT_USER,
  SPIDERPOOL_CONTROLLER_USER,
  adminClients,
  bindPod,
  clientsFor,
  createPool,
  deleteEndpoint,
  deletePool,
  expectApiError,
  getEndpoint,
  getPool,
  kubeconfigPath,
  parseRecords,
  replaceEndpoint,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  useTestNamespace,
  waitFor,
  writePoolStatus,
  type Clients,
  SPIDER_FINALIZER,
} from './support';
import {
  GuardProcess,
  loopbackCerts,
  registerWebhooks,
  startGuard,
  unregisterWebhooks,
  type LoopbackCerts,
} from '../../testbed/guard';
import { allocateFirstFit, startPod } from '../../testbed/sts-scenario';

const ns = useTestNamespace('v2-pools');
const admin = adminClients();
const agent = clientsFor(spiderpoolAgentKubeConfig());
const controller = clientsFor(spiderpoolControllerKubeConfig());
const actors = { admin, agent, gc: controller };
const WEBHOOK = 'spg-e2e-v2-pools';
const IPPOOL = 'ipam.spidernet.io/ippool';

let certs: LoopbackCerts;
let guard: GuardProcess;
const pools: string[] = [];

beforeAll(async () => {
  certs = await loopbackCerts();
  guard = await startGuard({
    kubeconfigPath: kubeconfigPath(),
    certs,
    args: ['--guarded-users', `${SPIDERPOOL_CONTROLLER_USER},${SPIDERPOOL_AGENT_USER}`],
  });
  await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
});

afterAll(async () => {
  await unregisterWebhooks(admin.kc, WEBHOOK);
  await guard?.stop();
  for (const p of pools) await deletePool(admin.custom, p).catch(() => undefined);
});

/** A pool <net>.168.101-110 of <net>.0.0/16, as the StatefulSet scenario lays them out. */
async function newPool(net: string): Promise<string> {
  const name = (
    await createPool(admin.custom, {
      subnet: `${net}.0.0/16`,
      ips: [`${net}.168.101-${net}.168.110`],
      gateway: `${net}.0.1`,
    })
  ).metadata.name!;
  pools.push(name);
  await writePoolStatus(agent.custom, name, {}, { totalIPCount: 10 });
  return name;
}

function poolAnnotation(pool: string): Record<string, string> {
  return { [IPPOOL]: JSON.stringify({ ipv4: [pool] }) };
}

/** A StatefulSet of one replica whose pods name `pool`; OnDelete, so a template change waits for a pod delete. */
async function statefulSet(name: string, pool: string): Promise<void> {
  await admin.apps.createNamespacedStatefulSet({
    namespace: ns.name,
    body: {
      metadata: { name },
      spec: {
        replicas: 1,
        serviceName: name,
        updateStrategy: { type: 'OnDelete' },
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, annotations: poolAnnotation(pool) },
          spec: {
            containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
            terminationGracePeriodSeconds: 30,
          },
        },
      },
    },
  });
}

/** Deletes the pod (grace 0: no kubelet here) and waits for the StatefulSet controller's next incarnation. */
async function restart(name: string, oldUid: string): Promise<k8s.V1Pod> {
  await admin.core.deleteNamespacedPod({ namespace: ns.name, name, gracePeriodSeconds: 0 });
  const next = await waitFor(
    `next incarnation of ${name}`,
    async () => {
      const p = await admin.core.readNamespacedPod({ namespace: ns.name, name }).catch(() => undefined);
      return p && p.metadata?.uid !== oldUid && !p.metadata?.deletionTimestamp ? p : undefined;
    },
    60_000,
  );
  await bindPod(admin.core, ns.name, name, 'node-2');
  return next;
}

/** Spiderpool's release-side writes for a member's old endpoint, each as `who`: delete, finalizer removal, record release. */
async function forgetEndpoint(who: Clients, name: string): Promise<void> {
  await deleteEndpoint(who.custom, ns.name, name);
  const deleting = await getEndpoint(who.custom, ns.name, name);
  deleting.metadata.finalizers = (deleting.metadata.finalizers ?? []).filter((f) => f !== SPIDER_FINALIZER);
  await replaceEndpoint(who.custom, deleting);
}

async function releaseRecord(who: Clients, pool: string, ip: string): Promise<void> {
  const current = await getPool(who.custom, pool);
  const records = parseRecords(current);
  delete records[ip];
  await writePoolStatus(who.custom, pool, records, { base: current });
}

const denialsFor = (name: string) =>
  guard.auditEvents().filter((e) => e.event === 'admission.denied' && JSON.stringify(e).includes(`${ns.name}/${name}`));

describe('v2: a StatefulSet moved to another pool, both service accounts guarded', () => {
  test("the moved member's old endpoint is deleted and its old record released without a denial; a member that keeps its pool stays protected", async () => {
    const oldPool = await newPool('10.40');
    const newPoolName = await newPool('10.41');
    await statefulSet('pc', oldPool);
    await statefulSet('stay', oldPool);
    const pc = await startPod(actors, ns.name, 'pc-0', oldPool, '10.40', 'StatefulSet', 'pc');
    const stay = await startPod(actors, ns.name, 'stay-0', oldPool, '10.40', 'StatefulSet', 'stay');

    // move pc to the second pool: its template names the new pool; the next incarnation carries the annotation
    await admin.apps.patchNamespacedStatefulSet(
      {
        namespace: ns.name,
        name: 'pc',
        body: { spec: { template: { metadata: { annotations: poolAnnotation(newPoolName) } } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const next = await restart('pc-0', pc.pod.metadata!.uid!);
    expect(next.metadata?.annotations?.[IPPOOL]).toBe(JSON.stringify({ ipv4: [newPoolName] }));

    // While the old endpoint still lists the old IP: the controller (the GC) releases the old-pool record (v1:
    // STATIC_IP_RELEASE), and on the new pod's ADD the agent deletes the old endpoint and removes its finalizer (v1:
    // LIVE_ENDPOINT_DELETE, "restarting static member"). Then the agent allocates from the new pool.
    await releaseRecord(controller, oldPool, pc.ip);
    expect(parseRecords(await getPool(admin.custom, oldPool))[pc.ip]).toBeUndefined();
    await forgetEndpoint(agent, 'pc-0');
    await waitFor(
      'old pc-0 endpoint gone',
      async () => (await getEndpoint(admin.custom, ns.name, 'pc-0').catch(() => 'gone')) === 'gone',
    );
    const allocation = await allocateFirstFit(agent, newPoolName, next, '10.41');
    expect(allocation.outcome).toEqual({ ok: true });
    expect(parseRecords(await getPool(admin.custom, newPoolName))[allocation.ip!]).toEqual({
      pod: `${ns.name}/pc-0`,
      podUid: next.metadata!.uid,
    });
    expect(denialsFor('pc-0')).toEqual([]);

    // stay keeps the old pool: while stay-0 restarts, neither identity may drop its endpoint or release its record
    await restart('stay-0', stay.pod.metadata!.uid!);
    for (const who of [agent, controller]) {
      const endpointDelete = await expectApiError(() => deleteEndpoint(who.custom, ns.name, 'stay-0'));
      expect(endpointDelete.code).toBe(403);
      expect(endpointDelete.message).toContain('LIVE_ENDPOINT_DELETE');
      expect(endpointDelete.message).toContain(stay.ip);
      const release = await expectApiError(() => releaseRecord(who, oldPool, stay.ip));
      expect(release.code).toBe(403);
      expect(release.message).toContain('STATIC_IP_RELEASE');
    }
    expect(parseRecords(await getPool(admin.custom, oldPool))[stay.ip]).toEqual({
      pod: `${ns.name}/stay-0`,
      podUid: stay.pod.metadata!.uid,
    });
    expect((await getEndpoint(admin.custom, ns.name, 'stay-0')).metadata.deletionTimestamp).toBeUndefined();
    const users = new Set(denialsFor('stay-0').map((e) => e.user));
    expect(users).toEqual(new Set([SPIDERPOOL_AGENT_USER, SPIDERPOOL_CONTROLLER_USER]));
  });
});
