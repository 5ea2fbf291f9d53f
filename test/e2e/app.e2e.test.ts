/**
 * The whole guard started in-process by webhook/app's startGuard, as `serve` starts it (caches, handler, HTTPS with
 * TLS from files, ops listener, Events, reconciler with leader election), against the test bed's API server. One
 * AdmissionReview sent to its HTTPS port is judged from the live caches: the GC releasing the IP of a running pod
 * is denied.
 */
import https from 'node:https';
import { startGuard, type GuardConfig, type RunningGuard } from '../../webhook/app';
import { DEFAULT_GUARDED_USERS, UserMatcher, buildPolicy } from '../../webhook/guard';
import { createLogger } from '../../webhook/log';
import { DEFAULT_STATIC_IP_CONFIG } from '../../webhook/model';
import { DEFAULT_LEADER_TIMING } from '../../webhook/reconciler';
import { poolStatusReview, rec, v4Pool } from '../../testbed/fixtures';
import { loopbackCerts, type LoopbackCerts } from '../../testbed/guard';
import { adminClients, adminKubeConfig, bindPod, setPodStatus, useTestNamespace, waitFor } from './support';

const ns = useTestNamespace('app');
let certs: LoopbackCerts;
let guard: RunningGuard | undefined;

function configFor(namespace: string): GuardConfig {
  return {
    kubeConfig: adminKubeConfig(),
    host: '127.0.0.1',
    port: 0,
    metricsHost: '127.0.0.1',
    metricsPort: 0,
    tls: { kind: 'files', certFile: certs.certFile, keyFile: certs.keyFile },
    staleAfterMs: 30_000,
    policy: buildPolicy('enforce', [], new UserMatcher([])),
    guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS),
    staticIp: { ...DEFAULT_STATIC_IP_CONFIG, kubevirt: false },
    audit: { maxBytes: 1024 * 1024, maxFiles: 1 },
    inflightBudgetBytes: 64 * 1024 * 1024,
    events: false,
    failClosed: false,
    reconciler: {
      namespace,
      settleMs: 60_000,
      intervalMs: 300_000,
      dryRun: true,
      maxWritesPerSecond: 5,
      leaderElection: { ...DEFAULT_LEADER_TIMING },
    },
  };
}

function post(port: number, path: string, body: unknown): Promise<{ allowed: boolean; message: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca: certs.ca,
        agent: false,
        timeout: 15_000,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const r = (JSON.parse(text) as { response: { allowed: boolean; status?: { message?: string } } }).response;
          resolve({ allowed: r.allowed, message: r.status?.message ?? '' });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/readyz', ca: certs.ca, agent: false, timeout: 5_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

beforeAll(async () => {
  certs = await loopbackCerts();
});

afterAll(async () => {
  await guard?.stop();
});

test('startGuard serves the webhooks over HTTPS from live caches: a running pod keeps its IP', async () => {
  const admin = adminClients();
  const created = await admin.core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name: 'web-0' },
      spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
    },
  });
  await bindPod(admin.core, ns.name, 'web-0', 'node-1');
  await setPodStatus(admin.core, ns.name, 'web-0', { phase: 'Running', podIPs: ['10.6.168.101'] });
  const podUid = created.metadata?.uid ?? '';

  guard = await startGuard(configFor(ns.name), createLogger('warn'));
  const running = guard;
  await waitFor(
    '/readyz 200 (caches synced, TLS loaded)',
    async () => (await readyz(running.port)) === 200,
    30_000,
    200,
  );
  const held = v4Pool({ '10.6.168.101': rec(`${ns.name}/web-0`, podUid) });
  const answer = await post(running.port, '/validate/spiderippools', poolStatusReview(held, v4Pool({})));
  expect(answer.allowed).toBe(false);
  expect(answer.message).toContain('LIVE_IP_RELEASE');
});
