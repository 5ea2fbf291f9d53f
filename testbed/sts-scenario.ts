/**
 * Spiderpool symptom 1 (docs/architecture.md#gc-races): a StatefulSet scaled down and quickly up again, replayed on the test bed
 * with the writes Spiderpool's agent and its v0.9.4 GC make, each as their own service account. Shared by the e2e
 * tests and `npm run demo`.
 *
 *   1. sts web (3 replicas) runs web-0..2 with IPs .101-.103; pool records and endpoints as the agent writes them.
 *   2. web is scaled 3→2: web-2 (uid A) gets a deletionTimestamp; the v0.9.4 GC traces "ns/web-2" (no uid).
 *   3. kubelet finishes the deletion; web is scaled back to 3 before cmdDel ran, so cmdDel keeps the static IP.
 *   4. the new web-2 (uid B) starts: the agent rewrites record and endpoint uid A→B and B runs with .103.
 *   5. the trace entry expires: the GC reads endpoint "web-2" by name (now B's) and releases its IP with uid B,
 *      then deletes the endpoint. Unguarded, .103 is free while B uses it.
 *   6. a new Deployment pod is allocated first-fit from the pool: unguarded, it gets .103 too.
 */
import * as k8s from '@kubernetes/client-node';
import { apiErrorCode, apiErrorMessage, bindPod, randomSuffix, setPodStatus, waitFor, type Clients } from './clients';
import {
  createEndpoint,
  createPool,
  getEndpoint,
  getPool,
  parseRecords,
  replaceEndpoint,
  writePoolStatus,
  type PoolRecord,
  ENDPOINTS,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
} from './spiderpool/objects';

export interface ScenarioActors {
  admin: Clients;
  /** system:serviceaccount:kube-system:spiderpool-agent */
  agent: Clients;
  /** system:serviceaccount:kube-system:spiderpool-controller (the GC) */
  gc: Clients;
}

export interface WriteOutcome {
  ok: boolean;
  code?: number;
  message?: string;
}

export interface ScenarioResult {
  pool: string;
  ip: string;
  oldUid: string;
  newUid: string;
  gcRelease: WriteOutcome;
  gcEndpointDelete: WriteOutcome;
  newPodAllocation: { pod: string; ip: string | undefined; outcome: WriteOutcome };
  /** the record of the contested IP after everything (undefined: released) */
  finalRecord: PoolRecord | undefined;
  /** pods (ns/name) observing the contested IP at the end */
  podsWithIp: string[];
}

const RANGE_START = 101;
const RANGE_SIZE = 10;

/** The pool's IPs: <net>.168.101 .. <net>.168.110 of subnet <net>.0.0/16 (each run its own net: pods of other
 * runs keep theirs, and the guard rightly refuses to hand an IP another live pod observes). */
function poolIps(net: string): string[] {
  return Array.from({ length: RANGE_SIZE }, (_, i) => `${net}.168.${RANGE_START + i}`);
}

async function attempt(fn: () => Promise<unknown>): Promise<WriteOutcome> {
  try {
    await fn();
    return { ok: true };
  } catch (err) {
    return { ok: false, code: apiErrorCode(err), message: apiErrorMessage(err) };
  }
}

/** Agent cmdAdd, standard mode: first free IP (facts A1: first-fit), pool status PUT with fresh read, retry on 409. */
export async function allocateFirstFit(
  agent: Clients,
  pool: string,
  pod: k8s.V1Pod,
  net: string,
): Promise<{ ip: string | undefined; outcome: WriteOutcome }> {
  for (let i = 0; i < 5; i++) {
    const current = await getPool(agent.custom, pool);
    const records = parseRecords(current);
    const ip = poolIps(net).find((candidate) => !records[candidate]);
    if (!ip) return { ip: undefined, outcome: { ok: false, message: 'pool exhausted' } };
    records[ip] = { pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, podUid: pod.metadata!.uid! };
    const outcome = await attempt(() => writePoolStatus(agent.custom, pool, records, { base: current }));
    if (outcome.ok || outcome.code !== 409) return { ip, outcome };
  }
  return { ip: undefined, outcome: { ok: false, message: 'conflicts' } };
}

/** A pod of a workload started as the agent would: first-fit allocation, endpoint, Running with the IP. */
export async function startPod(
  actors: ScenarioActors,
  ns: string,
  name: string,
  pool: string,
  net: string,
  ownerType: string,
  ownerName: string,
): Promise<{ pod: k8s.V1Pod; ip: string }> {
  const { admin, agent } = actors;
  const pod = await waitFor(
    `pod ${ns}/${name}`,
    async () => {
      const p = await admin.core.readNamespacedPod({ namespace: ns, name });
      return p.metadata?.deletionTimestamp ? undefined : p;
    },
    60_000,
  );
  if (!pod.spec?.nodeName) await bindPod(admin.core, ns, name, 'node-1');
  const { ip, outcome } = await allocateFirstFit(agent, pool, pod, net);
  if (!outcome.ok || !ip) throw new Error(`allocation for ${ns}/${name} failed: ${outcome.message}`);
  await createEndpoint(agent.custom, ns, {
    name,
    uid: pod.metadata!.uid!,
    ips: [{ interface: 'eth0', ipv4: `${ip}/16`, ipv4Pool: pool, vlan: 0 }],
    ownerControllerType: ownerType,
    ownerControllerName: ownerName,
  });
  await setPodStatus(admin.core, ns, name, { phase: 'Running', podIPs: [ip] });
  return { pod, ip };
}

async function scale(admin: Clients, ns: string, name: string, replicas: number): Promise<void> {
  await admin.apps.patchNamespacedStatefulSetScale(
    { namespace: ns, name, body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

export async function runStsScaleDownUp(
  actors: ScenarioActors,
  ns: string,
  net: string,
  say: (line: string) => void = () => {},
): Promise<ScenarioResult> {
  const { admin, agent, gc } = actors;
  const ips = poolIps(net);
  const poolObj = await createPool(admin.custom, {
    name: `v4-${net.replace(/\./g, '-')}-${randomSuffix()}`,
    subnet: `${net}.0.0/16`,
    ips: [`${ips[0]}-${ips[RANGE_SIZE - 1]}`],
    gateway: `${net}.0.1`,
  });
  const pool = poolObj.metadata.name!;
  await writePoolStatus(agent.custom, pool, {}, { totalIPCount: RANGE_SIZE });

  await admin.apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        podManagementPolicy: 'Parallel',
        serviceName: 'web',
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
            terminationGracePeriodSeconds: 30,
          },
        },
      },
    },
  });
  for (const name of ['web-0', 'web-1', 'web-2']) {
    const { pod, ip } = await startPod(actors, ns, name, pool, net, 'StatefulSet', 'web');
    say(`${name} Running, uid ${pod.metadata!.uid}, IP ${ip} (pool ${pool})`);
  }
  const oldPod = await admin.core.readNamespacedPod({ namespace: ns, name: 'web-2' });
  const oldUid = oldPod.metadata!.uid!;
  const ip = oldPod.status!.podIP!;

  say('scale web 3→2: web-2 terminating; the v0.9.4 GC traces "web-2" by name, without its uid');
  await scale(admin, ns, 'web', 2);
  await waitFor(
    'web-2 terminating',
    async () => (await admin.core.readNamespacedPod({ namespace: ns, name: 'web-2' })).metadata?.deletionTimestamp,
    60_000,
  );
  const tracedName = 'web-2';

  say(
    'scale web back 2→3 before cmdDel ran; kubelet finishes the old web-2 (cmdDel sees a valid member: keeps the IP)',
  );
  await scale(admin, ns, 'web', 3);
  await admin.core.deleteNamespacedPod({ namespace: ns, name: 'web-2', gracePeriodSeconds: 0 });
  const newPod = await waitFor(
    'new web-2',
    async () => {
      const p = await admin.core.readNamespacedPod({ namespace: ns, name: 'web-2' }).catch(() => undefined);
      return p && p.metadata?.uid !== oldUid && !p.metadata?.deletionTimestamp ? p : undefined;
    },
    60_000,
  );
  const newUid = newPod.metadata!.uid!;
  await bindPod(admin.core, ns, 'web-2', 'node-2');

  // Agent cmdAdd of the new incarnation, static IP path (facts A4, A5): pool uid rewrite first, endpoint second.
  const current = await getPool(agent.custom, pool);
  const records = parseRecords(current);
  records[ip] = { pod: `${ns}/web-2`, podUid: newUid };
  await writePoolStatus(agent.custom, pool, records, { base: current });
  const ep = await getEndpoint(agent.custom, ns, 'web-2');
  ep.status.current.uid = newUid;
  ep.status.current.node = 'node-2';
  await replaceEndpoint(agent.custom, ep);
  await setPodStatus(admin.core, ns, 'web-2', { phase: 'Running', podIPs: [ip] });
  say(`new web-2 Running, uid ${newUid}, same static IP ${ip}`);

  // The trace entry expires. v0.9.4's executor reads the endpoint by name and trusts whatever uid it now has.
  say(
    `GC trace entry for "${tracedName}" expires: the GC releases the endpoint's IP ${ip} with the endpoint's uid (now ${newUid})`,
  );
  const traced = await getEndpoint(gc.custom, ns, tracedName);
  const gcPool = await getPool(gc.custom, pool);
  const gcRecords = parseRecords(gcPool);
  for (const entry of traced.status.current.ips) {
    const key = entry.ipv4!.split('/')[0];
    if (gcRecords[key]?.podUid === traced.status.current.uid) delete gcRecords[key];
  }
  const gcRelease = await attempt(() => writePoolStatus(gc.custom, pool, gcRecords, { base: gcPool }));
  say(
    gcRelease.ok
      ? `  pool release ACCEPTED: ${ip} is free while web-2 uses it`
      : `  pool release DENIED (${gcRelease.code}): ${gcRelease.message}`,
  );
  const gcEndpointDelete = await attempt(() =>
    gc.custom.deleteNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: ENDPOINTS,
      namespace: ns,
      name: tracedName,
    }),
  );
  say(
    gcEndpointDelete.ok
      ? '  endpoint delete ACCEPTED: web-2 lost its endpoint'
      : `  endpoint delete DENIED (${gcEndpointDelete.code}): ${gcEndpointDelete.message}`,
  );

  say('a new pod api-1 is scheduled; the agent allocates first-fit from the same pool');
  const api = await admin.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'api-1', labels: { app: 'api' } },
      spec: { nodeName: 'node-3', containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
    },
  });
  const allocation = await allocateFirstFit(agent, pool, api, net);
  if (allocation.outcome.ok && allocation.ip)
    await setPodStatus(admin.core, ns, 'api-1', { phase: 'Running', podIPs: [allocation.ip] });
  say(
    allocation.outcome.ok ? `  api-1 got ${allocation.ip}` : `  api-1 allocation failed: ${allocation.outcome.message}`,
  );

  const finalRecord = parseRecords(await getPool(admin.custom, pool))[ip];
  const pods = await admin.core.listNamespacedPod({ namespace: ns });
  const podsWithIp = pods.items
    .filter((p) => !p.metadata?.deletionTimestamp && (p.status?.podIPs ?? []).some((x) => x.ip === ip))
    .map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`);
  return {
    pool,
    ip,
    oldUid,
    newUid,
    gcRelease,
    gcEndpointDelete,
    newPodAllocation: { pod: `${ns}/api-1`, ip: allocation.ip, outcome: allocation.outcome },
    finalRecord,
    podsWithIp,
  };
}
