/**
 * API clients and helpers for code that runs against the shared test bed (started by testbed/jest-global-setup.ts,
 * or reused through SPG_TESTBED_KUBECONFIG): e2e tests (through test/e2e/support), the demo and the benchmarks.
 *
 *   import { adminKubeConfig, clientsFor, spiderpoolAgentKubeConfig, useTestNamespace } from './support'; // in test/e2e
 *
 *   const ns = useTestNamespace('my-test');          // creates e2e-my-test-xxxxx in beforeAll, deletes in afterAll
 *   const admin = clientsFor(adminKubeConfig());     // { core, apps, batch, custom, admission, auth, kc }
 *   const agent = clientsFor(spiderpoolAgentKubeConfig()); // acts as system:serviceaccount:kube-system:spiderpool-agent
 *
 * All requests go to a real kube-apiserver with a real kube-controller-manager; there is no kubelet or scheduler
 * (pods stay Pending until a test binds them with bindPod() and writes their status with setPodStatus()).
 */
import * as k8s from '@kubernetes/client-node';
import * as crypto from 'node:crypto';
import { connectTestbed, SPIDERPOOL_AGENT, SPIDERPOOL_CONTROLLER, serviceAccountUser, type Testbed } from './testbed';

export { impersonatingKubeConfig, serviceAccountUser, SPIDERPOOL_AGENT, SPIDERPOOL_CONTROLLER } from './testbed';

let cached: Testbed | undefined;

/** The test bed of this jest run (from SPG_TESTBED_KUBECONFIG / SPG_TESTBED_STATE_DIR). */
export function testbed(): Testbed {
  if (cached) return cached;
  const kubeconfig = process.env.SPG_TESTBED_KUBECONFIG;
  if (!kubeconfig)
    throw new Error(
      'SPG_TESTBED_KUBECONFIG is not set: run e2e tests through jest (e2e project globalSetup) or export it from `npm run -s testbed -- up`',
    );
  cached = connectTestbed(kubeconfig, process.env.SPG_TESTBED_STATE_DIR);
  return cached;
}

/** Path of the admin kubeconfig (for spawning CLIs such as `npm run -s cli -- check --kubeconfig <path>`). */
export function kubeconfigPath(): string {
  return testbed().kubeconfigPath;
}

/** Admin (system:masters) KubeConfig. */
export function adminKubeConfig(): k8s.KubeConfig {
  return testbed().kubeConfig();
}

/** `base` with its server replaced by `server` (a proxy in front of the API server; its certificate names 127.0.0.1). */
export function kubeConfigVia(base: k8s.KubeConfig, server: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const cluster = base.getCurrentCluster()!;
  kc.loadFromOptions({
    clusters: [{ ...cluster, server }],
    users: base.users,
    contexts: base.contexts.map((c) => ({ ...c, cluster: cluster.name })),
    currentContext: base.currentContext,
  });
  return kc;
}

/** KubeConfig acting as `user` by impersonation (at most one explicit group). */
export function kubeConfigAs(user: string, groups: string[] = []): k8s.KubeConfig {
  return testbed().impersonating(user, groups);
}

/** KubeConfig acting as the service account namespace/name (API server adds its service-account groups). */
export function serviceAccountKubeConfig(namespace: string, name: string): k8s.KubeConfig {
  return testbed().asServiceAccount(namespace, name);
}

/** Acts as system:serviceaccount:kube-system:spiderpool-agent (bound to cluster-admin in the test bed). */
export function spiderpoolAgentKubeConfig(): k8s.KubeConfig {
  return serviceAccountKubeConfig(SPIDERPOOL_AGENT.namespace, SPIDERPOOL_AGENT.name);
}

/** Acts as system:serviceaccount:kube-system:spiderpool-controller (bound to cluster-admin in the test bed). */
export function spiderpoolControllerKubeConfig(): k8s.KubeConfig {
  return serviceAccountKubeConfig(SPIDERPOOL_CONTROLLER.namespace, SPIDERPOOL_CONTROLLER.name);
}

export const SPIDERPOOL_AGENT_USER = serviceAccountUser(SPIDERPOOL_AGENT.namespace, SPIDERPOOL_AGENT.name);
export const SPIDERPOOL_CONTROLLER_USER = serviceAccountUser(
  SPIDERPOOL_CONTROLLER.namespace,
  SPIDERPOOL_CONTROLLER.name,
);

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  batch: k8s.BatchV1Api;
  custom: k8s.CustomObjectsApi;
  admission: k8s.AdmissionregistrationV1Api;
  auth: k8s.AuthenticationV1Api;
  apiext: k8s.ApiextensionsV1Api;
  objects: k8s.KubernetesObjectApi;
}

/** The usual API clients for a KubeConfig. */
export function clientsFor(kc: k8s.KubeConfig): Clients {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    admission: kc.makeApiClient(k8s.AdmissionregistrationV1Api),
    auth: kc.makeApiClient(k8s.AuthenticationV1Api),
    apiext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Admin clients. */
export function adminClients(): Clients {
  return clientsFor(adminKubeConfig());
}

/** The user/groups the API server sees for a KubeConfig (SelfSubjectReview). */
export async function whoAmI(kc: k8s.KubeConfig): Promise<{ username: string; groups: string[] }> {
  const res = await kc
    .makeApiClient(k8s.AuthenticationV1Api)
    .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  return { username: res.status?.userInfo?.username ?? '', groups: res.status?.userInfo?.groups ?? [] };
}

/** HTTP status of a client-node error (ApiException.code), or undefined for other errors. */
export function apiErrorCode(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The Status message of a client-node error (e.g. an admission denial), best effort. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        return (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        return body;
      }
    }
    if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  }
  return err instanceof Error ? err.message : String(err);
}

/** Runs fn and returns the HTTP status code it failed with (fails the test if it succeeds). */
export async function expectApiError(
  fn: () => Promise<unknown>,
): Promise<{ code: number | undefined; message: string }> {
  try {
    await fn();
  } catch (err) {
    return { code: apiErrorCode(err), message: apiErrorMessage(err) };
  }
  throw new Error('expected the API call to fail, but it succeeded');
}

/** Polls fn until it returns a value other than undefined/false/null; throws after timeoutMs with the last error. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 30000,
  intervalMs = 200,
): Promise<T> {
  const start = Date.now();
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${apiErrorMessage(lastErr)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A short random suffix for unique object names. */
export function randomSuffix(n = 5): string {
  return crypto.randomBytes(8).toString('hex').slice(0, n);
}

/**
 * Creates namespace `e2e-<prefix>-<random>` and waits until its `default` ServiceAccount exists (created by
 * kube-controller-manager; pod creation is refused before that).
 */
export async function createTestNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const { core } = adminClients();
  const name =
    `e2e-${prefix}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 50) + `-${randomSuffix()}`;
  await core.createNamespace({
    body: { metadata: { name, labels: { 'spiderpool-guard.e2e/test-namespace': 'true', ...labels } } },
  });
  await waitFor(`ServiceAccount ${name}/default`, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  });
  return name;
}

/**
 * Deletes a namespace and unblocks its termination: with no kubelet, pods bound to a node would stay Terminating
 * forever, and SpiderEndpoints carry the `spiderpool.spidernet.io` finalizer that only Spiderpool would remove.
 * So after the delete it force-deletes the pods and strips the endpoints' finalizers (as admin, which bypasses no
 * admission webhook: configure webhooks so they do not deny this, e.g. exempt users, or delete them first).
 * With `wait`, resolves once the namespace is gone.
 */
export async function deleteTestNamespace(
  name: string,
  opts: { wait?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const { core, custom } = adminClients();
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    if (apiErrorCode(err) === 404) return;
    throw err;
  }
  const unblock = async () => {
    const pods = await core.listNamespacedPod({ namespace: name });
    for (const pod of pods.items) await forceDeletePod(core, name, pod.metadata?.name ?? '');
    const endpoints = (await custom.listNamespacedCustomObject({
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      plural: 'spiderendpoints',
      namespace: name,
    })) as {
      items: { metadata: k8s.V1ObjectMeta }[];
    };
    for (const ep of endpoints.items) {
      if (!ep.metadata.finalizers?.length) continue;
      await custom
        .patchNamespacedCustomObject(
          {
            group: 'spiderpool.spidernet.io',
            version: 'v2beta1',
            plural: 'spiderendpoints',
            namespace: name,
            name: ep.metadata.name ?? '',
            body: { metadata: { finalizers: null } },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
        .catch((err: unknown) => {
          if (apiErrorCode(err) !== 404) throw err;
        });
    }
  };
  await unblock();
  if (opts.wait) {
    await waitFor(
      `namespace ${name} deleted`,
      async () => {
        try {
          await core.readNamespace({ name });
        } catch (err) {
          if (apiErrorCode(err) === 404) return true;
          throw err;
        }
        await unblock(); // controllers may still have been creating objects
        return false;
      },
      opts.timeoutMs ?? 60000,
      500,
    );
  }
}

/**
 * Deletes a pod immediately (gracePeriodSeconds 0). Needed for pods bound to a node: without a kubelet a normal
 * delete only sets deletionTimestamp and the pod stays Terminating (which is also how tests can simulate a pod
 * "being deleted"). 404 is ignored.
 */
export async function forceDeletePod(core: k8s.CoreV1Api, namespace: string, name: string): Promise<void> {
  try {
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  } catch (err) {
    if (apiErrorCode(err) !== 404) throw err;
  }
}

/** Binds a (Pending) pod to a node through the pods/binding subresource, as the scheduler would. */
export async function bindPod(core: k8s.CoreV1Api, namespace: string, name: string, node: string): Promise<void> {
  await core.createNamespacedPodBinding({
    name,
    namespace,
    body: {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name, namespace },
      target: { apiVersion: 'v1', kind: 'Node', name: node },
    },
  });
}

export interface PodStatusOptions {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  podIPs?: string[];
  reason?: string;
  /** Extra annotations to merge (e.g. the multus network-status annotation) — written to the main resource. */
  annotations?: Record<string, string>;
  /** status.containerStatuses of each container in spec: all running, or all terminated (kept as they were when absent) */
  containers?: 'running' | 'terminated';
}

/**
 * Writes a pod's status through pods/status as a kubelet would (phase, podIP/podIPs, Ready condition), re-reading
 * the pod first. Annotations, when given, are patched on the main resource.
 */
export async function setPodStatus(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  opts: PodStatusOptions,
): Promise<k8s.V1Pod> {
  if (opts.annotations) {
    await core.patchNamespacedPod(
      { name, namespace, body: { metadata: { annotations: opts.annotations } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }
  const pod = await core.readNamespacedPod({ name, namespace });
  const phase = opts.phase ?? 'Running';
  const now = new Date();
  const ips = opts.podIPs ?? [];
  pod.status = {
    ...(pod.status ?? {}),
    phase,
    ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
    podIP: ips[0],
    podIPs: ips.map((ip) => ({ ip })),
    hostIP: pod.status?.hostIP ?? '172.18.0.10',
    startTime: pod.status?.startTime ?? now,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      {
        type: 'Ready',
        status: phase === 'Running' && opts.containers !== 'terminated' ? 'True' : 'False',
        lastTransitionTime: now,
      },
    ],
  };
  if (opts.containers) {
    const state: k8s.V1ContainerState =
      opts.containers === 'running'
        ? { running: { startedAt: now } }
        : { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } };
    pod.status.containerStatuses = (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: opts.containers === 'running',
      restartCount: 0,
      started: opts.containers === 'running',
      state,
    }));
  }
  return core.replaceNamespacedPodStatus({ name, namespace, body: pod });
}

/**
 * A bare pause pod bound to node-1 (restartPolicy Never). With `ip` it is Running with that IP, as after a successful
 * CNI ADD; without, it is scheduled and has no IP yet (its CNI ADD is in progress).
 */
export async function startTestPod(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  ip?: string,
): Promise<k8s.V1Pod> {
  const pod = await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }], restartPolicy: 'Never' },
    },
  });
  await bindPod(core, namespace, name, 'node-1');
  if (ip !== undefined) await setPodStatus(core, namespace, name, { phase: 'Running', podIPs: [ip] });
  return pod;
}

/** A StatefulSet of pause pods (`replicas`, OrderedReady unless `parallel`); no kubelet runs them unless a test does. */
export function pauseStatefulSet(name: string, replicas: number, o: { parallel?: boolean } = {}): k8s.V1StatefulSet {
  return {
    metadata: { name },
    spec: {
      replicas,
      ...(o.parallel ? { podManagementPolicy: 'Parallel' } : {}),
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
      },
    },
  };
}
