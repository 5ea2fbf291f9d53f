/**
 * The test bed's process runner (testbed/runner) as a kubelet: pods of a known image (here the `helm test`
 * image, i.e. the local sh + curl) are bound to its Node, run in their own network namespace with their own IP, see
 * their ServiceAccount token, ca.crt and namespace at the Kubernetes path, their env from the downward API, their
 * volumes at their mountPaths (a Secret volume follows the Secret), honour readOnlyRootFilesystem and runAsUser,
 * are restarted per restartPolicy, made Ready by their readiness probe and stopped gracefully on deletion.
 */
import type * as k8s from '@kubernetes/client-node';
import { readState } from '../../testbed/state';
import { containerLog } from '../../testbed/runner/inspect';
import { adminClients, apiErrorCode, testbed, useTestNamespace, waitFor } from './support';

const ns = useTestNamespace('runner');
const admin = adminClients();
const CURL_IMAGE = 'curlimages/curl:8.11.1';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function stateDir(): string {
  const dir = testbed().stateDir;
  if (!dir || !readState(dir)?.network) {
    throw new Error(
      'this test bed runs no pods: the process runner needs root and iproute2 (and SPG_TESTBED_RUN_PODS not 0)',
    );
  }
  return dir;
}

async function readPod(name: string): Promise<k8s.V1Pod> {
  return admin.core.readNamespacedPod({ name, namespace: ns.name });
}

async function gone(name: string): Promise<boolean> {
  try {
    await readPod(name);
    return false;
  } catch (err) {
    if (apiErrorCode(err) === 404) return true;
    throw err;
  }
}

describe('process runner', () => {
  test('a pod runs as its spec says: own IP, token bound to the pod, ca.crt, namespace, downward API, volumes, user, read-only root', async () => {
    const dir = stateDir();
    const network = readState(dir)!.network!;
    await admin.core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'cfg' }, stringData: { greeting: 'hello' } },
    });
    const script = [
      'echo "uid=$(id -u) gid=$(id -g)"',
      'echo "pod=$POD_NAME ip=$POD_IP mem=$MEM_MI x=$X"',
      `echo "ns=$(cat ${SA_DIR}/namespace)"`,
      'echo "greeting=$(cat /etc/cfg/greeting)"',
      'if touch /rootfs-probe 2>/dev/null; then echo rootfs=writable; else echo rootfs=readonly; fi',
      'touch /tmp/probe && echo tmp=writable',
      `curl -sS --fail --cacert ${SA_DIR}/ca.crt -H "Authorization: Bearer $(cat ${SA_DIR}/token)" -H 'Content-Type: application/json' ` +
        `--data '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/apis/authentication.k8s.io/v1/selfsubjectreviews"`,
    ].join('\n');
    await admin.core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'once' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: 4321, runAsGroup: 4321 },
          containers: [
            {
              name: 'main',
              image: CURL_IMAGE,
              command: ['/bin/sh', '-ec', script],
              resources: { limits: { memory: '64Mi' } },
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
                { name: 'X', value: 'of-$(POD_NAME)' },
              ],
              securityContext: {
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'cfg', mountPath: '/etc/cfg', readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: {} },
            { name: 'cfg', secret: { secretName: 'cfg' } },
          ],
        },
      },
    });
    const done = await waitFor(
      'pod once Succeeded',
      async () => {
        const p = await readPod('once');
        if (p.status?.phase === 'Failed') throw new Error(`pod failed: ${containerLog(dir, p, 'main')}`);
        return p.status?.phase === 'Succeeded' ? p : undefined;
      },
      60_000,
    );
    expect(done.spec?.nodeName).toBe('runner');
    const ip = done.status?.podIP ?? '';
    expect(ip.startsWith(`10.${network.block}.`)).toBe(true);
    expect(done.status?.hostIP).toBe(network.gatewayIp);
    expect(done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    const log = containerLog(dir, done, 'main');
    expect(log).toContain('uid=4321 gid=4321');
    expect(log).toContain(`pod=once ip=${ip} mem=64 x=of-once`);
    expect(log).toContain(`ns=${ns.name}`);
    expect(log).toContain('greeting=hello');
    expect(log).toContain('rootfs=readonly');
    expect(log).toContain('tmp=writable');
    // the API server authenticated the projected token as the pod's ServiceAccount, bound to this very pod
    const review = JSON.parse(log.slice(log.indexOf('\n{') + 1)) as {
      status: { userInfo: { username: string; extra?: Record<string, string[]> } };
    };
    expect(review.status.userInfo.username).toBe(`system:serviceaccount:${ns.name}:default`);
    expect(review.status.userInfo.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['once']);
    expect(review.status.userInfo.extra?.['authentication.kubernetes.io/pod-uid']).toEqual([done.metadata?.uid]);
  });

  test('restart per restartPolicy, readiness from its probe, Secret volume updates, graceful deletion (SIGTERM)', async () => {
    const dir = stateDir();
    await admin.core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'live' }, stringData: { greeting: 'v1' } },
    });
    const script = [
      "trap 'echo got-TERM; exit 0' TERM",
      'if [ ! -f /state/ran ]; then touch /state/ran; echo first-run; exit 3; fi',
      'touch /state/ready',
      'while true; do echo "greeting=$(cat /etc/live/greeting)"; sleep 0.3 & wait $!; done',
    ].join('\n');
    await admin.core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'daemon' },
        spec: {
          terminationGracePeriodSeconds: 20,
          containers: [
            {
              name: 'main',
              image: CURL_IMAGE,
              command: ['/bin/sh', '-c', script],
              readinessProbe: { exec: { command: ['test', '-f', '/state/ready'] }, periodSeconds: 1 },
              volumeMounts: [
                { name: 'state', mountPath: '/state' },
                { name: 'live', mountPath: '/etc/live' },
              ],
            },
          ],
          volumes: [
            { name: 'state', emptyDir: {} },
            { name: 'live', secret: { secretName: 'live' } },
          ],
        },
      },
    });
    const ready = await waitFor(
      'pod daemon Ready after one restart',
      async () => {
        const p = await readPod('daemon');
        const ok = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        return ok ? p : undefined;
      },
      60_000,
    );
    const cs = ready.status?.containerStatuses?.[0];
    expect(cs?.restartCount).toBe(1);
    expect(cs?.lastState?.terminated?.exitCode).toBe(3);
    expect(containerLog(dir, ready, 'main', 0)).toContain('first-run');

    await admin.core.replaceNamespacedSecret({
      name: 'live',
      namespace: ns.name,
      body: { metadata: { name: 'live' }, stringData: { greeting: 'v2' } },
    });
    await waitFor(
      'the container reads the updated Secret',
      async () => containerLog(dir, ready, 'main', 1).includes('greeting=v2'),
      20_000,
    );

    const t0 = Date.now();
    await admin.core.deleteNamespacedPod({ name: 'daemon', namespace: ns.name });
    await waitFor('pod daemon gone', () => gone('daemon'), 30_000, 100);
    const took = Date.now() - t0;
    expect(containerLog(dir, ready, 'main', 1)).toContain('got-TERM');
    expect(took).toBeLessThan(15_000); // it exited on SIGTERM: the 20 s grace period was not needed
  });
});
