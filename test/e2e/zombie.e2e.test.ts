/**
 * UNCONFIRMED_TERMINATION_RELEASE behind the real API server: a pod on a node whose Ready condition went Unknown is
 * deleted with a grace period and stays Terminating (no kubelet confirms it); Spiderpool's controller releasing its
 * record is denied until the node is tainted node.kubernetes.io/out-of-service. A pod whose containers report
 * terminated is released without a denial.
 */
import * as k8s from '@kubernetes/client-node';
import {
  adminClients,
  bindPod,
  clientsFor,
  createPool,
  deletePool,
  expectApiError,
  forceDeletePod,
  getPool,
  kubeconfigPath,
  parseRecords,
  randomSuffix,
  setPodStatus,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  useTestNamespace,
  waitFor,
  writePoolStatus,
} from './support';
import {
  GuardProcess,
  loopbackCerts,
  registerWebhooks,
  startGuard,
  unregisterWebhooks,
  type LoopbackCerts,
} from '../../testbed/guard';

const ns = useTestNamespace('zombie');
const admin = adminClients();
const agent = clientsFor(spiderpoolAgentKubeConfig());
const gc = clientsFor(spiderpoolControllerKubeConfig());
const WEBHOOK = 'spg-e2e-zombie';
const OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';
const STRATEGIC = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

let certs: LoopbackCerts;
let guard: GuardProcess;
const nodeName = `zombie-node-${randomSuffix()}`;

/** Sets the Node's Ready condition through nodes/status, as its kubelet (or the node lifecycle controller) would. */
async function setNodeReady(status: 'True' | 'Unknown'): Promise<void> {
  const now = new Date();
  const ready: k8s.V1NodeCondition = {
    type: 'Ready',
    status,
    reason: status === 'True' ? 'KubeletReady' : 'NodeStatusUnknown',
    message: status === 'True' ? 'test node' : 'Kubelet stopped posting node status.',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
  await admin.core.patchNodeStatus({ name: nodeName, body: { status: { conditions: [ready] } } }, STRATEGIC);
}

beforeAll(async () => {
  await admin.core.createNode({
    body: { metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } } },
  });
  await setNodeReady('True');
  certs = await loopbackCerts();
  guard = await startGuard({ kubeconfigPath: kubeconfigPath(), certs, args: [] });
  await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
});

afterAll(async () => {
  await unregisterWebhooks(admin.kc, WEBHOOK);
  await guard?.stop();
  await admin.core.deleteNode({ name: nodeName }).catch(() => undefined);
});

/** A pod bound to the test node, Running with `ip` and its container running, recorded in `pool` by the agent. */
async function recordedPod(pool: string, name: string, ip: string): Promise<string> {
  await admin.core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name },
      spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }], terminationGracePeriodSeconds: 5 },
    },
  });
  await bindPod(admin.core, ns.name, name, nodeName);
  const running = await setPodStatus(admin.core, ns.name, name, {
    phase: 'Running',
    podIPs: [ip],
    containers: 'running',
  });
  const uid = running.metadata!.uid!;
  const records = {
    ...parseRecords(await getPool(agent.custom, pool)),
    [ip]: { pod: `${ns.name}/${name}`, podUid: uid },
  };
  await writePoolStatus(agent.custom, pool, records);
  return uid;
}

/** Deletes with a grace period: without a kubelet the pod stays Terminating (deletionTimestamp set, containers running). */
async function deleteGracefully(name: string): Promise<void> {
  await admin.core.deleteNamespacedPod({ name, namespace: ns.name, gracePeriodSeconds: 5 });
  await waitFor(
    `${name} Terminating`,
    async () => (await admin.core.readNamespacedPod({ name, namespace: ns.name })).metadata?.deletionTimestamp,
  );
}

/** The GC's release of `ip`'s record: what Spiderpool's trace worker writes once the grace period has passed. */
async function gcRelease(pool: string, ip: string) {
  const records = parseRecords(await getPool(gc.custom, pool));
  delete records[ip];
  return writePoolStatus(gc.custom, pool, records);
}

describe('a Terminating pod on a node that stopped reporting', () => {
  test('its release by the controller is denied until the node is tainted out-of-service', async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.31.0.0/16', ips: ['10.31.0.10-10.31.0.20'] })).metadata
      .name!;
    const ip = '10.31.0.10';
    try {
      const uid = await recordedPod(pool, 'api-zombie', ip);
      await setNodeReady('Unknown');
      await deleteGracefully('api-zombie');
      // the grace period passes: Spiderpool's GC would now release the IP
      await new Promise((r) => setTimeout(r, 5500));
      const denied = await expectApiError(() => gcRelease(pool, ip));
      expect(denied.code).toBe(403);
      expect(denied.message).toContain('UNCONFIRMED_TERMINATION_RELEASE');
      for (const part of [
        `IP ${ip}`,
        `pool ${pool}`,
        `node ${nodeName} has not confirmed`,
        `${OUT_OF_SERVICE}=nodeshutdown:NoExecute`,
        'Ready Unknown',
      ]) {
        expect(denied.message).toContain(part);
      }
      expect(parseRecords(await getPool(admin.custom, pool))[ip]).toEqual({
        pod: `${ns.name}/api-zombie`,
        podUid: uid,
      });
      const audited = await guard.waitForLine(
        (l) => l.audit === true && l.event === 'admission.denied' && l.rule === 'UNCONFIRMED_TERMINATION_RELEASE',
      );
      expect(audited).toMatchObject({ ip, pool, user: 'system:serviceaccount:kube-system:spiderpool-controller' });

      // the operator confirms the node is down: the documented non-graceful shutdown taint
      const tainted = Date.now();
      await admin.core.patchNode(
        {
          name: nodeName,
          body: { spec: { taints: [{ key: OUT_OF_SERVICE, value: 'nodeshutdown', effect: 'NoExecute' }] } },
        },
        STRATEGIC,
      );
      let attempts = 0;
      const released = await waitFor(
        'release allowed after the out-of-service taint',
        async () => {
          attempts++;
          try {
            return await gcRelease(pool, ip);
          } catch (err) {
            if (!String((err as Error).message ?? err).includes('UNCONFIRMED_TERMINATION_RELEASE')) throw err;
            return undefined;
          }
        },
        30_000,
        50,
      );
      const ms = Date.now() - tainted;
      process.stderr.write(`[zombie e2e] taint → allowed release: ${ms} ms (${attempts} attempt(s))\n`);
      expect(parseRecords(released)[ip]).toBeUndefined();
    } finally {
      await forceDeletePod(admin.core, ns.name, 'api-zombie');
      await admin.core.patchNode({ name: nodeName, body: { spec: { taints: [] } } }, STRATEGIC).catch(() => undefined);
      await setNodeReady('True');
      await deletePool(admin.custom, pool);
    }
  });

  test('a pod whose containers report terminated is released without a denial', async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.32.0.0/16', ips: ['10.32.0.10-10.32.0.20'] })).metadata
      .name!;
    const ip = '10.32.0.10';
    try {
      await recordedPod(pool, 'api-stopped', ip);
      await deleteGracefully('api-stopped');
      // the kubelet killed the container and reported it (the pod object stays until it deletes it)
      await setPodStatus(admin.core, ns.name, 'api-stopped', {
        phase: 'Running',
        podIPs: [ip],
        containers: 'terminated',
      });
      const before = guard.auditEvents().filter((e) => e.rule === 'UNCONFIRMED_TERMINATION_RELEASE').length;
      const released = await gcRelease(pool, ip);
      expect(parseRecords(released)[ip]).toBeUndefined();
      expect(guard.auditEvents().filter((e) => e.rule === 'UNCONFIRMED_TERMINATION_RELEASE').length).toBe(before);
    } finally {
      await forceDeletePod(admin.core, ns.name, 'api-stopped');
      await deletePool(admin.custom, pool);
    }
  });
});
