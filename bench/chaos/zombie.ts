/**
 * The zombie scenario (docs/rules.md, UNCONFIRMED_TERMINATION_RELEASE): Spiderpool's GC releases the IP of a pod
 * being deleted once its grace period has passed, whether or not its node confirmed the containers stopped. Here a
 * node stops reporting (its kubelet neither stops containers nor tears sandboxes down, its Ready goes Unknown), a
 * pod on it is deleted with a grace period and stays Terminating while its sandbox still holds its IP; the emulated
 * GC releases that IP past the grace period, as Spiderpool does, and a probe pod is then created in the (full) pool.
 * Without the guard the probe gets the zombie's IP: two sandboxes, one IP. With it the release is held, and the
 * probe waits for an IP instead.
 */
import * as k8s from '@kubernetes/client-node';
import type { Clients } from '../../testbed/clients';
import { getPool } from '../../testbed/spiderpool/objects';
import type { NodeAgent } from '../../testbed/spiderpool/node-agent';
import type { GroundTruth } from '../../testbed/spiderpool/truth';
import { Prng, say, sleep } from '../../testbed/spiderpool/util';

const STRATEGIC = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

export interface ZombieOptions {
  admin: Clients;
  namespace: string;
  pool: string;
  agent: NodeAgent;
  truth: GroundTruth;
  rng: Prng;
  /** pods in the pool (as many as it has IPs), one of them on the node that stops reporting */
  pods: number;
  graceSeconds: number;
  maxDelayMs: number;
  gcScanMs: number;
  readyTimeoutMs: number;
  /** the Node the zombie runs on (created by the run, not shared with other runs) */
  zombieNode: string;
}

export interface ZombieOutcome {
  zombie: string;
  zombieIp?: string;
  /** the GC's release of the zombie's record went through */
  released: boolean;
  probeIp?: string;
  /** the probe got the IP the zombie's sandbox still answers on */
  reused: boolean;
}

async function setReady(admin: Clients, node: string, status: 'True' | 'Unknown'): Promise<void> {
  const now = new Date();
  const ready = {
    type: 'Ready',
    status,
    reason: status === 'True' ? 'KubeletReady' : 'NodeStatusUnknown',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
  await admin.core.patchNodeStatus({ name: node, body: { status: { conditions: [ready] } } }, STRATEGIC);
}

export async function createZombieNode(admin: Clients, node: string): Promise<void> {
  await admin.core.createNode({
    body: {
      metadata: { name: node, labels: { 'kubernetes.io/hostname': node, 'spiderpool-guard.bench/chaos': 'true' } },
    },
  });
  await setReady(admin, node, 'True');
}

export async function deleteZombieNode(admin: Clients, node: string): Promise<void> {
  await admin.core.deleteNode({ name: node }).catch(() => undefined);
}

function podBody(o: ZombieOptions, name: string, nodeName?: string): k8s.V1Pod {
  return {
    metadata: {
      name,
      labels: { app: 'zombie-bench' },
      annotations: { 'ipam.spidernet.io/ippool': JSON.stringify({ ipv4: [o.pool] }) },
    },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      terminationGracePeriodSeconds: o.graceSeconds,
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
    },
  };
}

const ipOf = (p: k8s.V1Pod | undefined) => p?.status?.podIPs?.[0]?.ip;

async function waitFor<T>(timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined || Date.now() > deadline) return v;
    await sleep(300);
  }
}

export async function zombieScenario(o: ZombieOptions): Promise<ZombieOutcome> {
  const { admin, namespace } = o;
  const log = (s: string) => say(`zombie ${namespace}`, s);
  const zombie = 'api-zombie';
  // the pool's other pods go to the nodes that keep reporting; the zombie is bound to the one that will stop
  for (let i = 1; i < o.pods; i++) await admin.core.createNamespacedPod({ namespace, body: podBody(o, `api-${i}`) });
  await admin.core.createNamespacedPod({ namespace, body: podBody(o, zombie, o.zombieNode) });
  const running = await waitFor(o.readyTimeoutMs, async () => {
    const pods = (await admin.core.listNamespacedPod({ namespace })).items;
    return pods.length === o.pods && pods.every((p) => ipOf(p)) ? pods : undefined;
  });
  if (!running) log(`not every pod got an IP within ${o.readyTimeoutMs / 1000} s`);
  const zombieIp = ipOf(await admin.core.readNamespacedPod({ namespace, name: zombie }));
  await sleep(o.rng.delay(o.maxDelayMs));
  // the node stops reporting, then the pod on it is deleted with a grace period: it stays Terminating
  o.agent.partition(o.zombieNode);
  await setReady(admin, o.zombieNode, 'Unknown');
  await admin.core.deleteNamespacedPod({ namespace, name: zombie, gracePeriodSeconds: o.graceSeconds });
  log(
    `${zombie} (${zombieIp}) deleted with a ${o.graceSeconds} s grace period on ${o.zombieNode}, which stopped reporting`,
  );
  // the GC's trace deadline: deletionTimestamp + grace ≈ the delete + 2 × grace; then a scan or two
  const releaseWindowMs = 2 * o.graceSeconds * 1000 + 3 * o.gcScanMs;
  const released = await waitFor(releaseWindowMs, async () => {
    const records = JSON.parse((await getPool(admin.custom, o.pool)).status?.allocatedIPs ?? '{}') as Record<
      string,
      unknown
    >;
    return zombieIp && !(zombieIp in records) ? true : undefined;
  });
  log(`the zombie's record ${released ? 'was released by the GC' : `is still held after ${releaseWindowMs / 1000} s`}`);
  await admin.core.createNamespacedPod({ namespace, body: podBody(o, 'probe') });
  const probe = await waitFor(Math.min(o.readyTimeoutMs, 20_000), async () =>
    ipOf(await admin.core.readNamespacedPod({ namespace, name: 'probe' })),
  );
  const stillThere = await admin.core.readNamespacedPod({ namespace, name: zombie }).then(
    (p) => !!p.metadata?.deletionTimestamp,
    () => false,
  );
  const reused = !!probe && probe === zombieIp && stillThere;
  log(
    `probe ${probe ? `got ${probe}` : 'got no IP'}${reused ? `: the IP the zombie's sandbox still holds (CONFLICT)` : ''}`,
  );
  return { zombie: `${namespace}/${zombie}`, zombieIp, released: !!released, probeIp: probe, reused };
}
