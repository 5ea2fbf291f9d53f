/**
 * Proves the test bed is a real cluster: real authentication/impersonation, CRD status-subresource semantics,
 * kube-controller-manager turning workloads into pods, and the audit log.
 */
import * as fs from 'node:fs';
import {
  adminClients,
  apiErrorCode,
  bindPod,
  clientsFor,
  createEndpoint,
  createPool,
  deletePool,
  getEndpoint,
  getPool,
  kubeConfigAs,
  parseRecords,
  replaceEndpoint,
  setPodStatus,
  SPIDERPOOL_AGENT_USER,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  POOLS,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  testbed,
  useTestNamespace,
  waitFor,
  whoAmI,
  writePoolStatus,
  type SpiderIPPool,
} from './support';

interface AuditEvent {
  verb?: string;
  user?: { username?: string };
  impersonatedUser?: { username?: string; groups?: string[] };
  objectRef?: { resource?: string; subresource?: string; name?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

const ns = useTestNamespace('testbed');
const admin = adminClients();

const podTemplate = (labels: Record<string, string>) => ({
  metadata: { labels },
  spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }], terminationGracePeriodSeconds: 0 },
});

describe('test bed', () => {
  test('identities: impersonated service accounts, impersonated user+group, minted client certificates', async () => {
    const agent = await whoAmI(spiderpoolAgentKubeConfig());
    expect(agent.username).toBe(SPIDERPOOL_AGENT_USER);
    expect(agent.groups).toEqual(
      expect.arrayContaining(['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']),
    );

    const controller = await whoAmI(spiderpoolControllerKubeConfig());
    expect(controller.username).toBe('system:serviceaccount:kube-system:spiderpool-controller');

    const someone = await whoAmI(kubeConfigAs('alice', ['team-a']));
    expect(someone).toEqual({ username: 'alice', groups: expect.arrayContaining(['team-a', 'system:authenticated']) });

    const certUser = await whoAmI(await testbed().clientCertKubeConfig('bob', ['g1', 'g2']));
    expect(certUser.username).toBe('bob');
    expect(certUser.groups).toEqual(expect.arrayContaining(['g1', 'g2', 'system:authenticated']));

    // RBAC is real: an unprivileged user may not list pools.
    const denied = await clientsFor(kubeConfigAs('nobody'))
      .custom.listClusterCustomObject({ group: SPIDERPOOL_GROUP, version: SPIDERPOOL_VERSION, plural: POOLS })
      .then(
        () => 200,
        (err: unknown) => apiErrorCode(err),
      );
    expect(denied).toBe(403);
  });

  test('SpiderIPPool status goes through the status subresource only', async () => {
    const agent = clientsFor(spiderpoolAgentKubeConfig());
    const pool = await createPool(admin.custom, {
      subnet: '10.6.0.0/16',
      ips: ['10.6.168.101-10.6.168.110'],
      gateway: '10.6.0.1',
    });
    const name = pool.metadata.name ?? '';
    try {
      expect(pool.status).toBeUndefined();
      expect(pool.spec.default).toBe(false); // CRD default applied

      // The agent writes allocations through PUT .../spiderippools/<name>/status.
      const uid = '0b6c3f7e-5a2d-4e1b-9f3a-7c8d9e0f1a2b';
      const written = await writePoolStatus(
        agent.custom,
        name,
        { '10.6.168.101': { pod: `${ns.name}/web-0`, podUid: uid } },
        { totalIPCount: 10 },
      );
      expect(parseRecords(written)).toEqual({ '10.6.168.101': { pod: `${ns.name}/web-0`, podUid: uid } });
      expect(written.status?.allocatedIPCount).toBe(1);
      expect(typeof written.status?.allocatedIPs).toBe('string');

      // A write to the main resource keeps spec changes but silently drops status changes.
      const current = await getPool(admin.custom, name);
      const mainWrite: SpiderIPPool = {
        ...current,
        spec: { ...current.spec, gateway: '10.6.0.254' },
        status: { allocatedIPs: '{}', allocatedIPCount: 42 },
      };
      const afterMain = (await admin.custom.replaceClusterCustomObject({
        group: SPIDERPOOL_GROUP,
        version: SPIDERPOOL_VERSION,
        plural: POOLS,
        name,
        body: mainWrite,
      })) as SpiderIPPool;
      expect(afterMain.spec.gateway).toBe('10.6.0.254');
      expect(afterMain.status?.allocatedIPCount).toBe(1);
      expect(parseRecords(afterMain)).toHaveProperty(['10.6.168.101']);

      // ... and a status write drops spec changes.
      const statusWrite: SpiderIPPool = { ...afterMain, spec: { ...afterMain.spec, gateway: '10.6.0.2' } };
      const afterStatus = (await agent.custom.replaceClusterCustomObjectStatus({
        group: SPIDERPOOL_GROUP,
        version: SPIDERPOOL_VERSION,
        plural: POOLS,
        name,
        body: statusWrite,
      })) as SpiderIPPool;
      expect(afterStatus.spec.gateway).toBe('10.6.0.254');

      // A stale resourceVersion conflicts (the agent's optimistic lock is real).
      const stale = await writePoolStatus(agent.custom, name, {}, { base: current }).then(
        () => 200,
        (err: unknown) => apiErrorCode(err),
      );
      expect(stale).toBe(409);

      // Releasing everything removes allocatedIPs and keeps the count at 0.
      const released = await writePoolStatus(agent.custom, name, {});
      expect(released.status?.allocatedIPs).toBeUndefined();
      expect(released.status?.allocatedIPCount).toBe(0);

      // CRD validation is real: allocatedIPs is a string.
      const invalid = await agent.custom
        .replaceClusterCustomObjectStatus({
          group: SPIDERPOOL_GROUP,
          version: SPIDERPOOL_VERSION,
          plural: POOLS,
          name,
          body: { ...released, status: { allocatedIPs: { x: 1 } } },
        })
        .then(
          () => 200,
          (err: unknown) => apiErrorCode(err),
        );
      expect(invalid).toBe(422);
    } finally {
      await deletePool(admin.custom, name);
    }
  });

  test('kube-controller-manager creates StatefulSet and Deployment pods; pod status is written through pods/status', async () => {
    await admin.apps.createNamespacedStatefulSet({
      namespace: ns.name,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          serviceName: 'web',
          selector: { matchLabels: { app: 'web' } },
          template: podTemplate({ app: 'web' }),
        },
      },
    });
    // OrderedReady: web-1 only appears once web-0 is Running and Ready, so this also exercises pods/binding and
    // pods/status (what the simulated node agent will do).
    const web0 = await waitFor(
      'pod web-0',
      async () => admin.core.readNamespacedPod({ name: 'web-0', namespace: ns.name }),
      60000,
    );
    expect(web0.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'StatefulSet', name: 'web', controller: true });
    expect(web0.status?.phase).toBe('Pending');
    await bindPod(admin.core, ns.name, 'web-0', 'node-1');
    const running = await setPodStatus(admin.core, ns.name, 'web-0', { phase: 'Running', podIPs: ['10.6.168.101'] });
    expect(running.status?.podIP).toBe('10.6.168.101');
    expect(running.spec?.nodeName).toBe('node-1');
    const web1 = await waitFor(
      'pod web-1',
      async () => admin.core.readNamespacedPod({ name: 'web-1', namespace: ns.name }),
      60000,
    );
    expect(web1.metadata?.labels?.['apps.kubernetes.io/pod-index']).toBe('1');

    await admin.apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'api' },
        spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: podTemplate({ app: 'api' }) },
      },
    });
    const apiPods = await waitFor(
      'two Deployment pods',
      async () => {
        const list = await admin.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=api' });
        return list.items.length === 2 ? list.items : undefined;
      },
      60000,
    );
    expect(apiPods[0].metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    expect(apiPods[0].metadata?.name).toMatch(/^api-[a-z0-9]+-[a-z0-9]{5}$/);
  });

  test('SpiderEndpoint: namespaced, status written through the main resource', async () => {
    const pod = await waitFor(
      'pod web-0',
      async () => admin.core.readNamespacedPod({ name: 'web-0', namespace: ns.name }),
      60000,
    );
    const uid = pod.metadata?.uid ?? '';
    const agent = clientsFor(spiderpoolAgentKubeConfig());
    const created = await createEndpoint(agent.custom, ns.name, {
      name: 'web-0',
      uid,
      node: 'node-1',
      ips: [
        {
          interface: 'eth0',
          ipv4: '10.6.168.101/16',
          ipv4Pool: 'v4-pool-demo',
          ipv4Gateway: '10.6.0.1',
          cleanGateway: false,
        },
      ],
      ownerControllerType: 'StatefulSet',
      ownerControllerName: 'web',
    });
    expect(created.status.current.uid).toBe(uid);
    expect(created.status.current.ips[0].vlan).toBe(0); // CRD default
    expect(created.metadata.finalizers).toEqual(['spiderpool.spidernet.io']);

    const updated = await replaceEndpoint(agent.custom, {
      ...created,
      status: { ...created.status, current: { ...created.status.current, node: 'node-2' } },
    });
    expect(updated.status.current.node).toBe('node-2');
    expect((await getEndpoint(admin.custom, ns.name, 'web-0')).status.current.node).toBe('node-2');
  });

  test('the kube-apiserver audit log records Spiderpool requests with the acting user', async () => {
    const auditLog = testbed().auditLogPath;
    if (!auditLog) return; // reused cluster without a known state directory
    const events = await waitFor(
      'audit events for spiderippools/status',
      async () => {
        const lines = fs.existsSync(auditLog) ? fs.readFileSync(auditLog, 'utf8').trim().split('\n') : [];
        const hits = lines
          .map((l) => JSON.parse(l) as AuditEvent)
          .filter(
            (e) =>
              e.objectRef?.resource === 'spiderippools' && e.objectRef?.subresource === 'status' && e.verb === 'update',
          );
        return hits.length > 0 ? hits : undefined;
      },
      15000,
    );
    // Impersonated requests: `user` is the test bed admin, `impersonatedUser` the identity admission webhooks see.
    const agentWrite = events.find((e) => e.impersonatedUser?.username === SPIDERPOOL_AGENT_USER);
    expect(agentWrite).toBeDefined();
    expect(agentWrite?.user?.username).toBe('testbed-admin');
    expect(agentWrite?.responseStatus?.code).toBe(200);
  });
});
