// The pure parts of the test bed's process runner (testbed/runner/spec.ts, images.ts, volumes.ts' atomic
// writer): what a container's command line, environment and user are by the Kubernetes rules, token refresh and
// restart back-off timing.
import type * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { imageRepository, knownImage, KNOWN_IMAGES } from '../../../testbed/runner/images';
import {
  containerArgv,
  containerEnv,
  containerUser,
  EnvError,
  expandVars,
  parseQuantity,
  probeStep,
  type ProbeCounts,
  resourceFieldValue,
  restartDelay,
  serviceLinkEnv,
  tokenRefreshAt,
} from '../../../testbed/runner/spec';
import { writeAtomic } from '../../../testbed/runner/volumes';

const guardImage = KNOWN_IMAGES['ghcr.io/spidernet-io/spiderpool-guard'];
const noObjects = { secret: () => undefined, configMap: () => undefined };
const allocatable = { cpu: '2', memory: '8Gi' };

function pod(container: k8s.V1Container, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod {
  return {
    metadata: { name: 'guard-abc', namespace: 'ns1', uid: 'u-1', labels: { app: 'g' } },
    spec: { nodeName: 'runner', serviceAccountName: 'sa', containers: [container], ...extra },
    status: { podIP: '10.200.0.2', hostIP: '10.200.0.1' },
  };
}

describe('images', () => {
  test('the repository decides, whatever the tag or digest; a registry port is not a tag', () => {
    expect(imageRepository('ghcr.io/spidernet-io/spiderpool-guard:0.1.0')).toBe(
      'ghcr.io/spidernet-io/spiderpool-guard',
    );
    expect(imageRepository('ghcr.io/spidernet-io/spiderpool-guard@sha256:abc')).toBe(
      'ghcr.io/spidernet-io/spiderpool-guard',
    );
    expect(imageRepository('localhost:5000/x:1')).toBe('localhost:5000/x');
    expect(imageRepository('localhost:5000/x')).toBe('localhost:5000/x');
    expect(knownImage('curlimages/curl:8.11.1')).toBe(KNOWN_IMAGES['curlimages/curl']);
    expect(knownImage('registry.k8s.io/pause:3.10')).toBeUndefined();
  });
});

describe('command line', () => {
  test('args replace CMD, command replaces ENTRYPOINT and drops CMD, $(VAR) is expanded and $$ escapes', () => {
    expect(containerArgv({ name: 'c', args: ['serve', '--port=$(PORT)'] }, guardImage, { PORT: '9443' })).toEqual([
      ...guardImage.entrypoint,
      'serve',
      '--port=9443',
    ]);
    expect(containerArgv({ name: 'c' }, guardImage, {})).toEqual([...guardImage.entrypoint, 'serve']);
    expect(containerArgv({ name: 'c', command: ['/bin/sh', '-c', 'echo $$HOME $(NOPE)'] }, guardImage, {})).toEqual([
      '/bin/sh',
      '-c',
      'echo $HOME $(NOPE)',
    ]);
    expect(expandVars('$(A)-$(B)', { A: '1' })).toBe('1-$(B)');
  });
});

describe('environment', () => {
  test('image env, service links, fieldRef, resourceFieldRef with divisor, references to earlier entries', () => {
    const c: k8s.V1Container = {
      name: 'guard',
      resources: { limits: { memory: '512Mi' }, requests: { cpu: '100m' } },
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'CPU_REQ_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'GREETING', value: 'hi $(POD_NAME)' },
      ],
    };
    const env = containerEnv(pod(c), c, guardImage, { KUBERNETES_SERVICE_HOST: '10.200.0.1' }, noObjects, allocatable);
    expect(env).toMatchObject({
      NODE_ENV: 'production',
      KUBERNETES_SERVICE_HOST: '10.200.0.1',
      POD_NAME: 'guard-abc',
      POD_IP: '10.200.0.2',
      APP: 'g',
      MEM_MI: '512',
      CPU_LIMIT: '2', // no limit: the node's allocatable
      CPU_REQ_M: '100',
      GREETING: 'hi guard-abc',
      HOME: '/',
    });
  });

  test('secretKeyRef / envFrom; a missing non-optional reference is a config error', () => {
    const objects = {
      secret: (n: string) => (n === 's' ? { token: 't0k' } : undefined),
      configMap: (n: string) => (n === 'cm' ? { A: '1', B: '2' } : undefined),
    };
    const c: k8s.V1Container = {
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'X_' }],
      env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 's', key: 'token' } } }],
    };
    expect(containerEnv(pod(c), c, guardImage, {}, objects, allocatable)).toMatchObject({
      X_A: '1',
      X_B: '2',
      T: 't0k',
    });
    const missing: k8s.V1Container = {
      name: 'c',
      env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }],
    };
    expect(() => containerEnv(pod(missing), missing, guardImage, {}, objects, allocatable)).toThrow(EnvError);
    const optional: k8s.V1Container = {
      name: 'c',
      env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } }],
    };
    expect(containerEnv(pod(optional), optional, guardImage, {}, objects, allocatable).T).toBeUndefined();
  });

  test('service links name every port', () => {
    const svc: k8s.V1Service = {
      metadata: { name: 'spiderpool-guard' },
      spec: {
        clusterIP: '10.200.128.7',
        ports: [
          { name: 'https', port: 443 },
          { name: 'metrics', port: 9090 },
        ],
      },
    };
    expect(serviceLinkEnv([svc])).toEqual({
      SPIDERPOOL_GUARD_SERVICE_HOST: '10.200.128.7',
      SPIDERPOOL_GUARD_SERVICE_PORT: '443',
      SPIDERPOOL_GUARD_SERVICE_PORT_HTTPS: '443',
      SPIDERPOOL_GUARD_SERVICE_PORT_METRICS: '9090',
      SPIDERPOOL_GUARD_PORT: 'tcp://10.200.128.7:443',
    });
  });

  test('quantities', () => {
    expect(parseQuantity('100m')).toBeCloseTo(0.1);
    expect(parseQuantity('512Mi')).toBe(512 * 2 ** 20);
    expect(parseQuantity('1.5G')).toBe(1.5e9);
    expect(parseQuantity('2e3')).toBe(2000);
    expect(() => parseQuantity('lots')).toThrow();
    expect(
      resourceFieldValue(
        { resource: 'requests.memory' },
        [{ name: 'c', resources: { limits: { memory: '1Ki' } } }],
        allocatable,
      ),
    ).toBe('1024');
  });
});

describe('user', () => {
  test('container securityContext over pod securityContext over the image USER; fsGroup joins the groups', () => {
    expect(containerUser(pod({ name: 'c' }), { name: 'c' }, guardImage)).toEqual({ uid: 1000, gid: 1000, groups: [] });
    const p = pod({ name: 'c' }, { securityContext: { runAsUser: 2000, fsGroup: 3000, supplementalGroups: [4000] } });
    expect(containerUser(p, { name: 'c', securityContext: { runAsGroup: 5000 } }, guardImage)).toEqual({
      uid: 2000,
      gid: 5000,
      groups: [3000, 4000],
    });
    expect(() =>
      containerUser(
        pod({ name: 'c' }, { securityContext: { runAsNonRoot: true, runAsUser: 0 } }),
        { name: 'c' },
        guardImage,
      ),
    ).toThrow(/runAsNonRoot/);
  });
});

describe('probes', () => {
  const run = (results: boolean[], probe: { successThreshold?: number; failureThreshold?: number }) => {
    let c: ProbeCounts = { successes: 0, failures: 0, result: undefined };
    return results.map((ok) => (c = probeStep(c, ok, probe)).result);
  };

  test('a readiness probe is not ready before its first success, and a single failure does not make it ready', () => {
    expect(run([false, false, true], {})).toEqual([undefined, undefined, true]);
  });

  test('the result flips only after the thresholds of consecutive results, and holds in between', () => {
    expect(run([true, false, false, true, false, false, false], { failureThreshold: 3 })).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      false,
    ]);
    expect(run([false, false, false, true, true, false], { successThreshold: 2, failureThreshold: 3 })).toEqual([
      undefined,
      undefined,
      false,
      false,
      true,
      true,
    ]);
  });
});

describe('timing', () => {
  test('a token is refreshed at 80% of its life, at the latest after 24 h', () => {
    expect(tokenRefreshAt(1000, 1000 + 3600_000)).toBe(1000 + 2880_000);
    expect(tokenRefreshAt(0, 365 * 24 * 3600_000)).toBe(24 * 3600_000);
  });

  test('restart back-off: immediate, then 10 s doubling to 5 min; 10 min of running resets it', () => {
    let b = 0;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = restartDelay(b, 1000);
      delays.push(r.delayMs);
      b = r.nextBackoffMs;
    }
    expect(delays).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    expect(restartDelay(300_000, 10 * 60 * 1000).delayMs).toBe(0);
  });
});

describe('atomic volume writer', () => {
  test('files appear through ..data; an update swaps them all and removes vanished keys', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-vol-'));
    try {
      writeAtomic(dir, [
        { path: 'ca.crt', content: 'A', mode: 0o644 },
        { path: 'token', content: 't1', mode: 0o600 },
      ]);
      expect(fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8')).toBe('A');
      expect(fs.readlinkSync(path.join(dir, 'token'))).toBe('..data/token');
      expect(fs.statSync(path.join(dir, 'token')).mode & 0o777).toBe(0o600);
      const first = fs.readlinkSync(path.join(dir, '..data'));
      writeAtomic(dir, [{ path: 'token', content: 't2', mode: 0o644 }]);
      expect(fs.readFileSync(path.join(dir, 'token'), 'utf8')).toBe('t2');
      expect(fs.existsSync(path.join(dir, 'ca.crt'))).toBe(false);
      expect(fs.existsSync(path.join(dir, first))).toBe(false);
      expect(() => writeAtomic(dir, [{ path: '../escape', content: 'x', mode: 0o644 }])).toThrow(/leaves the volume/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
