/**
 * The guard as a real admission webhook: `serve` runs as a child process, the API server calls it over HTTPS on
 * loopback, and Spiderpool's writes are made as Spiderpool's own service accounts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  adminClients,
  clientsFor,
  createEndpoint,
  createPool,
  deletePool,
  expectApiError,
  getEndpoint,
  getPool,
  kubeconfigPath,
  pauseStatefulSet,
  parseRecords,
  setPodStatus,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  startTestPod,
  useTestNamespace,
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
import { runStsScaleDownUp } from '../../testbed/sts-scenario';

const ns = useTestNamespace('guard');
const admin = adminClients();
const agent = clientsFor(spiderpoolAgentKubeConfig());
const gc = clientsFor(spiderpoolControllerKubeConfig());
const WEBHOOK = 'spg-e2e-guard';

let certs: LoopbackCerts;
let guard: GuardProcess;
let auditFile: string;

beforeAll(async () => {
  certs = await loopbackCerts();
  auditFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spg-audit-')), 'audit.jsonl');
  guard = await startGuard({ kubeconfigPath: kubeconfigPath(), certs, args: ['--audit-log', auditFile] });
  await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
});

afterAll(async () => {
  await unregisterWebhooks(admin.kc, WEBHOOK);
  await guard?.stop();
});

const runningPod = (name: string, ip: string | undefined) => startTestPod(admin.core, ns.name, name, ip);

describe('guard behind the real API server', () => {
  test("symptom 1 (W1): the v0.9.4 GC release of a restarted StatefulSet pod's IP is denied and the pool stays correct", async () => {
    const result = await runStsScaleDownUp({ admin, agent, gc }, ns.name, '10.20');
    expect(result.gcRelease.ok).toBe(false);
    expect(result.gcRelease.code).toBe(403);
    expect(result.gcRelease.message).toContain('LIVE_IP_RELEASE');
    expect(result.gcRelease.message).toContain(result.ip);
    expect(result.gcEndpointDelete.ok).toBe(false);
    expect(result.gcEndpointDelete.message).toContain('LIVE_ENDPOINT_DELETE');
    expect(result.finalRecord).toEqual({ pod: `${ns.name}/web-2`, podUid: result.newUid });
    // the next pod got another IP: no two pods share one
    expect(result.newPodAllocation.outcome.ok).toBe(true);
    expect(result.newPodAllocation.ip).not.toBe(result.ip);
    expect(result.podsWithIp).toEqual([`${ns.name}/web-2`]);
    // the denial reached the audit log (stdout with audit: true, and the --audit-log file)
    const denied = guard.auditEvents().filter((e) => e.event === 'admission.denied' && e.rule === 'LIVE_IP_RELEASE');
    expect(denied.length).toBeGreaterThanOrEqual(1);
    expect(denied[0]).toMatchObject({
      ip: result.ip,
      pool: result.pool,
      user: 'system:serviceaccount:kube-system:spiderpool-controller',
      operation: 'UPDATE',
    });
    const fileLines = fs
      .readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(fileLines.some((l) => l.event === 'admission.denied' && l.rule === 'LIVE_ENDPOINT_DELETE')).toBe(true);
    await deletePool(admin.custom, result.pool);
  });

  test('legitimate writes pass: agent allocation, GC release of a completed pod, count fixed by the mutating webhook', async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.7.0.0/16', ips: ['10.7.0.10-10.7.0.20'] })).metadata
      .name!;
    try {
      const done = await runningPod('job-x', '10.7.0.10');
      const uid = done.metadata!.uid!;
      await writePoolStatus(agent.custom, pool, { '10.7.0.10': { pod: `${ns.name}/job-x`, podUid: uid } });
      await setPodStatus(admin.core, ns.name, 'job-x', { phase: 'Succeeded', podIPs: ['10.7.0.10'] });
      // the GC releases the completed pod's record: allowed
      const released = await writePoolStatus(gc.custom, pool, {});
      expect(released.status?.allocatedIPs).toBeUndefined();
      // a write with a wrong count is corrected by the mutating webhook (COUNT_MISMATCH)
      const live = await runningPod('api-a', '10.7.0.11');
      const stored = await writePoolStatus(
        agent.custom,
        pool,
        { '10.7.0.11': { pod: `${ns.name}/api-a`, podUid: live.metadata!.uid! } },
        { count: 7 },
      );
      expect(stored.status?.allocatedIPCount).toBe(1);
    } finally {
      await deletePool(admin.custom, pool);
    }
  });

  test('DOUBLE_ALLOCATION and STALE_ALLOCATION deny the agent too; ENDPOINT_IP_CONFLICT guards endpoints', async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.8.0.0/16', ips: ['10.8.0.10-10.8.0.20'] })).metadata
      .name!;
    try {
      const holder = await runningPod('holder', '10.8.0.10');
      await writePoolStatus(agent.custom, pool, {
        '10.8.0.10': { pod: `${ns.name}/holder`, podUid: holder.metadata!.uid! },
      });
      const other = await runningPod('other', '10.8.0.99');
      const base = await getPool(agent.custom, pool);
      const err = await expectApiError(() =>
        writePoolStatus(agent.custom, pool, {
          ...parseRecords(base),
          '10.8.0.11': { pod: `${ns.name}/ghost`, podUid: 'no-such-uid' },
        }),
      );
      expect(err.code).toBe(403);
      expect(err.message).toContain('STALE_ALLOCATION');
      const conflict = await expectApiError(() =>
        createEndpoint(agent.custom, ns.name, {
          name: 'other',
          uid: other.metadata!.uid!,
          ips: [{ interface: 'eth0', ipv4: '10.8.0.10/16', ipv4Pool: pool }],
          ownerControllerType: 'Pod',
        }),
      );
      expect(conflict.code).toBe(403);
      expect(conflict.message).toContain('ENDPOINT_IP_CONFLICT');
      // moving holder's IP to "other" in the pool: the key's pod changes → DOUBLE_ALLOCATION (holder observes it)
      const moved = await expectApiError(() =>
        writePoolStatus(agent.custom, pool, { '10.8.0.10': { pod: `${ns.name}/other`, podUid: other.metadata!.uid! } }),
      );
      expect(moved.message).toContain('DOUBLE_ALLOCATION');
      expect(parseRecords(await getPool(admin.custom, pool))['10.8.0.10'].pod).toBe(`${ns.name}/holder`);
    } finally {
      await deletePool(admin.custom, pool);
    }
  });

  test("DOUBLE_ALLOCATION: an IP a restarting StatefulSet member's endpoint lists is refused to another pod until the member is scaled away (bench b2, seed 7)", async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.12.0.0/16', ips: ['10.12.0.10-10.12.0.20'] })).metadata
      .name!;
    const ip = '10.12.0.10';
    try {
      // sts-a is back at 4 replicas; its member sts-a-1 has a next pod without an IP (no kubelet runs it) and its
      // static endpoint, kept across incarnations, still lists the IP whose record the GC released meanwhile.
      await admin.apps.createNamespacedStatefulSet({
        namespace: ns.name,
        body: pauseStatefulSet('sts-a', 4, { parallel: true }),
      });
      await createEndpoint(agent.custom, ns.name, {
        name: 'sts-a-1',
        uid: 'sts-a-1-previous-incarnation',
        ips: [{ interface: 'eth0', ipv4: `${ip}/16`, ipv4Pool: pool }],
        ownerControllerType: 'StatefulSet',
        ownerControllerName: 'sts-a',
      });
      const deployPod = await runningPod('api-7c8d9-n4m2z', undefined);
      const allocation = { [ip]: { pod: `${ns.name}/api-7c8d9-n4m2z`, podUid: deployPod.metadata!.uid! } };
      const denied = await expectApiError(() => writePoolStatus(agent.custom, pool, allocation));
      expect(denied.code).toBe(403);
      expect(denied.message).toContain('DOUBLE_ALLOCATION');
      for (const part of [
        `IP ${ip}`,
        `pool ${pool}`,
        `endpoint ${ns.name}/sts-a-1`,
        `restarting static member ${ns.name}/sts-a-1`,
      ])
        expect(denied.message).toContain(part);
      // scaled down to 1: sts-a-1 is no longer a valid member and its endpoint reserves nothing (written at once:
      // a cache still showing 4 replicas is corrected by the fresh read before any denial)
      await admin.apps.patchNamespacedStatefulSetScale(
        { namespace: ns.name, name: 'sts-a', body: { spec: { replicas: 1 } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      const stored = await writePoolStatus(agent.custom, pool, allocation);
      expect(parseRecords(stored)).toEqual(allocation);
    } finally {
      await deletePool(admin.custom, pool);
    }
  });

  test('a rule on "spiderippools" alone never sees status writes: the spiderippools/status rule of docs/rules.md#what-is-intercepted is what catches them', async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.9.0.0/16', ips: ['10.9.0.10-10.9.0.20'] })).metadata
      .name!;
    const mainOnly = 'spg-e2e-main-resource-only';
    try {
      const live = await runningPod('live-a', '10.9.0.10');
      const records = { '10.9.0.10': { pod: `${ns.name}/live-a`, podUid: live.metadata!.uid! } };
      await writePoolStatus(agent.custom, pool, records);
      await unregisterWebhooks(admin.kc, WEBHOOK);
      await registerWebhooks(admin.kc, {
        baseUrl: guard.url,
        caBundle: certs.ca,
        name: mainOnly,
        mainResourceOnly: true,
      });
      const before = guard.auditEvents().length;
      const released = await writePoolStatus(gc.custom, pool, {});
      expect(released.status?.allocatedIPs).toBeUndefined(); // the harmful release went through unseen
      expect(guard.auditEvents().length).toBe(before);
      await unregisterWebhooks(admin.kc, mainOnly);
      await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
      await writePoolStatus(agent.custom, pool, records);
      const denied = await expectApiError(() => writePoolStatus(gc.custom, pool, {}));
      expect(denied.code).toBe(403);
      expect(denied.message).toContain('LIVE_IP_RELEASE');
    } finally {
      await unregisterWebhooks(admin.kc, mainOnly);
      await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
      await deletePool(admin.custom, pool);
    }
  });

  test('repair mode stores the repaired object: the release is taken out, the write succeeds', async () => {
    const repairGuard = await startGuard({ kubeconfigPath: kubeconfigPath(), certs, args: ['--mode', 'repair'] });
    const name = 'spg-e2e-repair';
    const pool = (await createPool(admin.custom, { subnet: '10.10.0.0/16', ips: ['10.10.0.10-10.10.0.20'] })).metadata
      .name!;
    try {
      await unregisterWebhooks(admin.kc, WEBHOOK);
      await registerWebhooks(admin.kc, { baseUrl: repairGuard.url, caBundle: certs.ca, name });
      const live = await runningPod('live-r', '10.10.0.10');
      await writePoolStatus(agent.custom, pool, {
        '10.10.0.10': { pod: `${ns.name}/live-r`, podUid: live.metadata!.uid! },
      });
      const stored = await writePoolStatus(gc.custom, pool, {});
      expect(parseRecords(stored)).toEqual({ '10.10.0.10': { pod: `${ns.name}/live-r`, podUid: live.metadata!.uid! } });
      expect(stored.status?.allocatedIPCount).toBe(1);
      const repaired = await repairGuard.waitForLine(
        (l) => l.audit === true && l.event === 'admission.repaired' && l.rule === 'LIVE_IP_RELEASE',
      );
      expect(repaired).toMatchObject({ ip: '10.10.0.10', pool });
    } finally {
      await unregisterWebhooks(admin.kc, name);
      await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: WEBHOOK });
      await deletePool(admin.custom, pool);
      await repairGuard.stop();
    }
  });

  test('endpoint of a live pod: the GC may not delete it; the agent, not a guarded writer, may', async () => {
    const live = await runningPod('ep-live', '10.11.0.10');
    await createEndpoint(agent.custom, ns.name, {
      name: 'ep-live',
      uid: live.metadata!.uid!,
      ips: [{ interface: 'eth0', ipv4: '10.11.0.10/16', ipv4Pool: 'none' }],
      ownerControllerType: 'Pod',
    });
    const denied = await expectApiError(() =>
      gc.custom.deleteNamespacedCustomObject({
        group: 'spiderpool.spidernet.io',
        version: 'v2beta1',
        plural: 'spiderendpoints',
        namespace: ns.name,
        name: 'ep-live',
      }),
    );
    expect(denied.code).toBe(403);
    expect(denied.message).toContain('LIVE_ENDPOINT_DELETE');
    expect((await getEndpoint(admin.custom, ns.name, 'ep-live')).status.current.uid).toBe(live.metadata!.uid);
    await agent.custom.deleteNamespacedCustomObject({
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      plural: 'spiderendpoints',
      namespace: ns.name,
      name: 'ep-live',
    });
    const after = await getEndpoint(admin.custom, ns.name, 'ep-live');
    expect(after.metadata.deletionTimestamp).toBeTruthy(); // held by Spiderpool's finalizer, deletion under way
  });
});
