/**
 * Self-managed certificates against the real API server, acting as the chart's service account (so the chart's
 * RBAC is proven sufficient): Secret creation, caBundle injection and repair, convergence of two replicas,
 * rotation without a failed handshake, CA continuity when the Secret is deleted or its CA key corrupted, and — through `serve` as a child process — the API server calling the guard
 * with the injected caBundle (a denied write proves it).
 */
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { selfManagedTlsSource } from '../../certs';
import type { SelfManagedOptions, SelfManagedTlsSource } from '../../certs';
import { isSignedBy, splitPemCerts } from '../../certs/pki';
import { createWebhookHttpsServer } from '../../certs/tls-options';
import {
  adminClients,
  apiErrorMessage,
  createPool,
  deletePool,
  expectApiError,
  randomSuffix,
  serviceAccountKubeConfig,
  testbed,
  useTestNamespace,
  waitFor,
  POOLS,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
} from './support';
import { applyObjects, renderChart } from './support/chart';

const ns = useTestNamespace('certs');
const admin = adminClients();
const log = pino({ level: process.env.SPG_E2E_CERTS_LOG ?? 'silent' });
const full = `guard-${randomSuffix()}`;
let cleanupChart: () => Promise<void> = async () => undefined;
const sources: SelfManagedTlsSource[] = [];

function source(over: Partial<SelfManagedOptions> = {}): SelfManagedTlsSource {
  const s = selfManagedTlsSource({
    kubeConfig: serviceAccountKubeConfig(ns.name, full),
    namespace: ns.name,
    secretName: `${full}-tls`,
    serviceName: full,
    extraDnsNames: [],
    extraIps: ['127.0.0.1'],
    validatingWebhookName: full,
    mutatingWebhookName: full,
    keyType: 'ec',
    logger: log,
    autoStart: false,
    ...over,
  });
  sources.push(s);
  return s;
}

async function readSecret(name: string): Promise<k8s.V1Secret> {
  return admin.core.readNamespacedSecret({ name, namespace: ns.name });
}
const b64d = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

/** Copies the chart's webhook configurations under another name (for sources on other Secrets; admin only). */
async function copyConfigs(name: string): Promise<void> {
  const v = await admin.admission.readValidatingWebhookConfiguration({ name: full });
  const m = await admin.admission.readMutatingWebhookConfiguration({ name: full });
  const strip = <T extends { clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig }>(
    ws: T[] | undefined,
  ): T[] => (ws ?? []).map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } }));
  await admin.admission.createValidatingWebhookConfiguration({
    body: { metadata: { name }, webhooks: strip(v.webhooks) },
  });
  await admin.admission.createMutatingWebhookConfiguration({
    body: { metadata: { name }, webhooks: strip(m.webhooks) },
  });
  extraConfigs.push(name);
}
const extraConfigs: string[] = [];

async function injectedBundles(name = full): Promise<string[]> {
  const v = await admin.admission.readValidatingWebhookConfiguration({ name });
  const m = await admin.admission.readMutatingWebhookConfiguration({ name });
  return [...(v.webhooks ?? []), ...(m.webhooks ?? [])].map((w) => b64d(w.clientConfig.caBundle));
}

beforeAll(async () => {
  // the chart's RBAC + webhook configurations (service clientConfig, failurePolicy Ignore)
  const objs = await renderChart('g', ns.name, { fullnameOverride: full, 'reconciler.enabled': false });
  const wanted = [
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'ValidatingWebhookConfiguration',
    'MutatingWebhookConfiguration',
  ];
  ({ cleanup: cleanupChart } = await applyObjects(
    admin.objects,
    objs.filter((o) => wanted.includes(o.kind ?? '')),
  ));
}, 600_000);

afterAll(async () => {
  await Promise.all(sources.map((s) => s.stop()));
  await cleanupChart();
  for (const name of extraConfigs) {
    await admin.admission.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
    await admin.admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  }
});

describe('self-managed certificates on the real API server', () => {
  jest.setTimeout(120_000);

  test('creates the Secret and injects the CA into every webhook of both configurations, as the chart service account', async () => {
    const registry = new Registry();
    const src = source({ registry });
    expect(src.ready()).toBe(false);
    const t0 = performance.now();
    await src.sync();
    const firstSyncMs = performance.now() - t0;
    expect(src.ready()).toBe(true);

    const secret = await readSecret(`${full}-tls`);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const ca = b64d(secret.data?.['ca.crt']);
    const bundles = await injectedBundles();
    expect(bundles).toHaveLength(3);
    for (const b of bundles) expect(splitPemCerts(b)).toEqual(splitPemCerts(ca));

    const m = src.current()!;
    expect(m.cert).toBe(b64d(secret.data?.['tls.crt']));
    expect(m.ca).toBe(ca);
    const leaf = new X509Certificate(m.cert);
    for (const n of [full, `${full}.${ns.name}`, `${full}.${ns.name}.svc`, `${full}.${ns.name}.svc.cluster.local`])
      expect(leaf.subjectAltName).toContain(`DNS:${n}`);
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.verify(new X509Certificate(ca).publicKey)).toBe(true);
    const metrics = await registry.getSingleMetricAsString('spiderpool_guard_tls_cert_expiry_timestamp_seconds');
    expect(metrics).toContain(`kind="serving"} ${Math.floor(m.notAfter.getTime() / 1000)}`);
    expect(metrics).toContain('kind="ca"}');
    process.stderr.write(`[certs e2e] first sync (create ec Secret + inject) ${firstSyncMs.toFixed(0)} ms\n`);

    // a second sync with nothing to do writes nothing
    const rv = secret.metadata?.resourceVersion;
    await src.sync();
    expect((await readSecret(`${full}-tls`)).metadata?.resourceVersion).toBe(rv);
  });

  test('a wiped caBundle (GitOps sync) is re-injected by the background loop', async () => {
    const registry = new Registry();
    const src = source({ autoStart: true, resyncMs: 300, registry });
    await src.whenLoaded();
    await waitFor('ready', async () => src.ready());
    const injections = async () =>
      (await registry.getMetricsAsJSON())
        .find((m) => m.name === 'spiderpool_guard_tls_cabundle_injections_total')
        ?.values.reduce((n, v) => n + v.value, 0) ?? 0;
    const injectedBefore = await injections();
    const want = src.current()!.ca;
    // wipe every caBundle, as an `kubectl apply` of the chart's manifests without caBundle would
    for (const kind of ['validating', 'mutating'] as const) {
      const obj =
        kind === 'validating'
          ? await admin.admission.readValidatingWebhookConfiguration({ name: full })
          : await admin.admission.readMutatingWebhookConfiguration({ name: full });
      const body = (obj.webhooks ?? []).map((_, i) => ({ op: 'remove', path: `/webhooks/${i}/clientConfig/caBundle` }));
      if (kind === 'validating') await admin.admission.patchValidatingWebhookConfiguration({ name: full, body });
      else await admin.admission.patchMutatingWebhookConfiguration({ name: full, body });
    }
    // (the 300 ms loop may already have repaired some of them by now: what proves the repair is the injection count)
    const t0 = Date.now();
    await waitFor('caBundle re-injected', async () => (await injectedBundles()).every((b) => b === want), 10_000, 50);
    process.stderr.write(`[certs e2e] wiped caBundle repaired after ${Date.now() - t0} ms (resync 300 ms)\n`);
    expect(await injections()).toBeGreaterThanOrEqual(injectedBefore + 2);
    // readiness follows once the loop has re-read what it injected
    await waitFor('ready again', async () => src.ready(), 5_000, 50);
  });

  test('a missing (404) or unreadable (403) webhook configuration means not ready, retried; the cert is still served', async () => {
    const absent = source({ kubeConfig: admin.kc, validatingWebhookName: `${full}-absent` });
    await absent.sync();
    expect(absent.current()).toBeDefined();
    expect(absent.ready()).toBe(false);
    expect(absent.status().injected).toEqual({ validating: false, mutating: true });
    // as the service account, another name is forbidden by RBAC (resourceNames): same outcome, no crash
    const forbidden = source({ mutatingWebhookName: `${full}-other` });
    await forbidden.sync();
    expect(forbidden.current()).toBeDefined();
    expect(forbidden.ready()).toBe(false);
    expect(forbidden.status().injected).toEqual({ validating: true, mutating: false });
  });

  test('two replicas sharing the Secret converge on one certificate (also with different extra SANs)', async () => {
    const secretName = `${full}-tls-pair`;
    // RSA makes generation slow (~0.2 s), so both replicas generate and one loses the create race.
    // Another Secret name is outside the chart's RBAC (resourceNames): run these as admin.
    const hooks = `${full}-pair`;
    await copyConfigs(hooks);
    const pair = {
      secretName,
      keyType: 'rsa' as const,
      kubeConfig: admin.kc,
      validatingWebhookName: hooks,
      mutatingWebhookName: hooks,
    };
    const a = source(pair);
    const b = source({ ...pair, extraDnsNames: ['replica-b.example'] });
    const t0 = performance.now();
    await Promise.all([a.sync(), b.sync()]);
    const ms = performance.now() - t0;
    await Promise.all([a.sync(), b.sync()]); // whoever saw the other's cert first adopts the union
    for (let round = 0; round < 3; round++) await Promise.all([a.sync(), b.sync()]);
    const secret = await readSecret(secretName);
    const rv = secret.metadata?.resourceVersion;
    expect(a.current()!.cert).toBe(b.current()!.cert);
    expect(a.current()!.cert).toBe(b64d(secret.data?.['tls.crt']));
    expect(splitPemCerts(b64d(secret.data?.['ca.crt']))).toHaveLength(1);
    const leaf = new X509Certificate(a.current()!.cert);
    expect(leaf.subjectAltName).toContain('DNS:replica-b.example');
    expect(leaf.publicKey.asymmetricKeyType).toBe('rsa');
    // stable: more rounds do not rewrite the Secret (no fight)
    await Promise.all([a.sync(), b.sync()]);
    expect((await readSecret(secretName)).metadata?.resourceVersion).toBe(rv);
    process.stderr.write(`[certs e2e] two rsa replicas, concurrent first sync ${ms.toFixed(0)} ms\n`);
  });

  test('forced rotation (serving renewals + CA rotation with overlap) never fails a handshake of a client trusting the injected caBundle', async () => {
    const secretName = `${full}-tls-rot`;
    const hooks = `${full}-rot`;
    await copyConfigs(hooks);
    const src = source({
      secretName,
      validatingWebhookName: hooks,
      mutatingWebhookName: hooks,
      kubeConfig: admin.kc, // another Secret name: outside the chart's RBAC
      autoStart: true,
      resyncMs: 150,
      certValidityDays: 6 / 86400, // 6 s, renewed at 2/3
      caValidityDays: 16 / 86400, // 16 s, rotated at 1/2
      caRenewFraction: 0.5,
      caPublishLeadMs: 1000,
      caOverlapMs: 1500,
    });
    const first = await src.whenLoaded();
    const server = https.createServer({ key: first.key, cert: first.cert }, (_req, res) => res.end('ok'));
    src.onChange((m) => server.setSecureContext({ key: m.key, cert: m.cert }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const initialCa = splitPemCerts(first.ca)[0];
    const seen = {
      servingFingerprints: new Set<string>(),
      bundleSizes: [] as number[],
      handshakes: 0,
      failures: [] as string[],
    };
    const deadline = Date.now() + 45_000;
    let done = false;
    try {
      while (!done && Date.now() < deadline) {
        // trust exactly what the API server would: the caBundle currently in the ValidatingWebhookConfiguration
        const vwc = await admin.admission.readValidatingWebhookConfiguration({ name: hooks });
        const bundle = b64d(vwc.webhooks?.[0]?.clientConfig.caBundle);
        if (bundle === '') {
          await new Promise((r) => setTimeout(r, 20));
          continue; // not injected yet
        }
        seen.bundleSizes.push(splitPemCerts(bundle).length);
        try {
          const fp = await handshake(port, bundle);
          seen.handshakes++;
          seen.servingFingerprints.add(fp);
        } catch (err) {
          seen.failures.push(`${(err as Error).message} at ${new Date().toISOString()}`);
        }
        const cas = splitPemCerts(bundle);
        done =
          seen.bundleSizes.includes(2) &&
          cas.length === 1 &&
          cas[0] !== initialCa &&
          seen.servingFingerprints.size >= 3;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      server.close();
    }
    process.stderr.write(
      `[certs e2e] rotation: ${seen.handshakes} handshakes, ${seen.failures.length} failures, ${seen.servingFingerprints.size} serving certs, bundle sizes seen ${[...new Set(seen.bundleSizes)].join(',')}\n`,
    );
    expect(seen.failures).toEqual([]);
    expect(done).toBe(true);
  });

  test('two replicas: Secret deleted, then its CA key corrupted; a client trusting only the injected caBundles never fails a handshake', async () => {
    const secretName = `${full}-tls-cont`;
    const hooks = `${full}-cont`;
    await copyConfigs(hooks);
    const timing = { resyncMs: 200, caPublishLeadMs: 1000, caOverlapMs: 2000 };
    const replicas = ['a', 'b'].map(() =>
      source({
        secretName,
        validatingWebhookName: hooks,
        mutatingWebhookName: hooks,
        kubeConfig: admin.kc,
        autoStart: true,
        ...timing,
      }),
    );
    const servers: https.Server[] = [];
    const ports: number[] = [];
    for (const r of replicas) {
      const first = await r.whenLoaded();
      // the webhook's own server settings; a reload passes only {key, cert}, as serve does
      const server = createWebhookHttpsServer(first, {}, (_req, res) => res.end('ok'));
      r.onChange((m) => server.setSecureContext({ key: m.key, cert: m.cert }));
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
      servers.push(server);
      ports.push((server.address() as net.AddressInfo).port);
    }
    await waitFor('both replicas ready', async () => replicas.every((r) => r.ready()), 20_000, 50);

    // The client: one loop keeps reading every webhook's caBundle of both configurations (what the API server
    // trusts); another handshakes with each replica, over and over, trusting exactly each distinct bundle last read.
    const seen = { handshakes: 0, failures: [] as string[], bundleSizes: new Set<number>() };
    let running = true;
    let bundles = [...new Set(await injectedBundles(hooks))];
    const reader = (async () => {
      while (running) {
        bundles = [...new Set(await injectedBundles(hooks))];
        for (const b of bundles) seen.bundleSizes.add(splitPemCerts(b).length);
      }
    })();
    const client = (async () => {
      while (running) {
        for (const bundle of bundles) {
          for (const [i, port] of ports.entries()) {
            try {
              await handshake(port, bundle);
              seen.handshakes++;
            } catch (err) {
              seen.failures.push(
                `replica ${i}: ${(err as Error).message} (bundle of ${splitPemCerts(bundle).length} CAs)`,
              );
            }
          }
        }
      }
    })();

    /** Converged: the Secret holds one CA other than `previous`, every caBundle is exactly it, both replicas serve a cert it signed. */
    const convergedAway = async (previous: string): Promise<string | undefined> => {
      const secret = await admin.core
        .readNamespacedSecret({ name: secretName, namespace: ns.name })
        .catch(() => undefined);
      const cas = splitPemCerts(b64d(secret?.data?.['ca.crt']));
      const ca = cas[0];
      if (cas.length !== 1 || ca === undefined || ca === previous) return undefined;
      if (!(await injectedBundles(hooks)).every((b) => splitPemCerts(b).join('') === ca)) return undefined;
      return replicas.every((r) => isSignedBy(r.current()?.cert ?? '', ca) && r.ready()) ? ca : undefined;
    };
    const caOf = async () => splitPemCerts(b64d((await readSecret(secretName)).data?.['ca.crt']))[0] ?? '';
    const report: string[] = [];
    const perPhase: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 500)); // a baseline of handshakes
      const initialCa = await caOf();

      const handshakesBefore = seen.handshakes;
      let t0 = performance.now();
      await admin.core.deleteNamespacedSecret({ name: secretName, namespace: ns.name });
      const afterDelete = await waitFor(
        'convergence after the Secret was deleted',
        () => convergedAway(initialCa),
        30_000,
        50,
      );
      perPhase.push(seen.handshakes - handshakesBefore);
      report.push(`Secret deleted: converged in ${(performance.now() - t0).toFixed(0)} ms, ${perPhase[0]} handshakes`);

      const handshakesMid = seen.handshakes;
      t0 = performance.now();
      const secret = await readSecret(secretName);
      await admin.core.replaceNamespacedSecret({
        name: secretName,
        namespace: ns.name,
        body: {
          ...secret,
          data: {
            ...secret.data,
            'ca.key': Buffer.from('-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n').toString(
              'base64',
            ),
          },
        },
      });
      await waitFor('convergence after the CA key was corrupted', () => convergedAway(afterDelete), 30_000, 50);
      perPhase.push(seen.handshakes - handshakesMid);
      report.push(
        `CA key corrupted: converged in ${(performance.now() - t0).toFixed(0)} ms, ${perPhase[1]} handshakes`,
      );
    } finally {
      running = false;
      await Promise.all([reader, client]);
      for (const server of servers) {
        server.closeAllConnections();
        server.close();
      }
    }
    process.stderr.write(
      `[certs e2e] CA continuity, 2 replicas (resync ${timing.resyncMs} ms, lead ${timing.caPublishLeadMs} ms, overlap ${timing.caOverlapMs} ms): ` +
        `${report.join('; ')}; ${seen.handshakes} handshakes in all, ${seen.failures.length} failed; caBundle sizes seen ${[...seen.bundleSizes].sort().join(',')}\n`,
    );
    expect(seen.failures).toEqual([]);
    expect(seen.bundleSizes.has(2)).toBe(true); // the old CA stayed next to the new one
    for (const n of perPhase) expect(n).toBeGreaterThanOrEqual(10); // the client kept handshaking through each phase
  });
});

/** TLS handshake trusting only `ca` (hostname check against the IP SAN); resolves with the served cert's fingerprint. */
function handshake(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ca, timeout: 2000 }, () => {
      const fp = sock.getPeerX509Certificate()?.fingerprint256 ?? '';
      sock.end();
      resolve(fp);
    });
    sock.once('error', reject);
    sock.once('timeout', () => {
      sock.destroy();
      reject(new Error('handshake timeout'));
    });
  });
}

describe('serve --tls-secret: the API server calls the guard with the injected caBundle', () => {
  jest.setTimeout(180_000);
  const CLI = path.resolve(__dirname, '../../dist/webhook/cli/main.js');
  let proc: ChildProcess | undefined;
  let output = '';

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
  });

  test('a denied pool status write proves the API server -> guard TLS path (serve as the chart service account)', async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
    const port = await freePort();
    // same names as the chart's (RBAC resourceNames), but reachable from the API server: url clientConfig
    const url = (p: string) => ({ url: `https://127.0.0.1:${port}${p}` });
    const rules = (resources: string[], operations: string[]) => [
      { apiGroups: [SPIDERPOOL_GROUP], apiVersions: [SPIDERPOOL_VERSION], operations, resources },
    ];
    const common = { admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', timeoutSeconds: 5 };
    await admin.admission.deleteValidatingWebhookConfiguration({ name: full });
    await admin.admission.deleteMutatingWebhookConfiguration({ name: full });
    await admin.admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: full },
        webhooks: [
          {
            name: 'validate-spiderippools.spiderpool-guard.spidernet.io',
            clientConfig: url('/validate/spiderippools'),
            rules: rules(['spiderippools/status'], ['UPDATE']),
            ...common,
          },
          {
            name: 'validate-spiderendpoints.spiderpool-guard.spidernet.io',
            clientConfig: url('/validate/spiderendpoints'),
            rules: rules(['spiderendpoints'], ['CREATE', 'UPDATE', 'DELETE']),
            ...common,
          },
        ],
      },
    });
    await admin.admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: full },
        webhooks: [
          {
            name: 'mutate-spiderippools.spiderpool-guard.spidernet.io',
            clientConfig: url('/mutate/spiderippools'),
            rules: rules(['spiderippools/status'], ['UPDATE']),
            ...common,
          },
        ],
      },
    });

    // serve authenticates as the chart's service account (client certificate with its user name and groups)
    const saKc = await testbed().clientCertKubeConfig(`system:serviceaccount:${ns.name}:${full}`, [
      'system:serviceaccounts',
      `system:serviceaccounts:${ns.name}`,
    ]);
    const kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spg-certs-')), 'kubeconfig');
    fs.writeFileSync(kubeconfigFile, saKc.exportConfig(), { mode: 0o600 });
    const secretName = `${full}-tls`; // the chart's name (RBAC); created by the first test: serve adopts it
    proc = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        '--kubeconfig',
        kubeconfigFile,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--metrics-port',
        '0',
        '--no-reconcile',
        '--tls-secret',
        secretName,
        '--tls-namespace',
        ns.name,
        '--tls-service',
        full,
        '--tls-ip-sans',
        '127.0.0.1',
        '--tls-key-type',
        'ec',
        '--validating-webhook',
        full,
        '--mutating-webhook',
        full,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));

    // /readyz turns 200 once caches are synced and the CA is injected; verify TLS with the Secret's CA
    const ca = await waitFor(
      'serve created the Secret',
      async () => b64d((await readSecret(secretName)).data?.['ca.crt']) || undefined,
      60_000,
    );
    await waitFor(
      `serve /readyz (output: ${output.slice(-500)})`,
      async () => (await get(port, '/readyz', ca)) === 200,
      60_000,
      250,
    );
    expect((await injectedBundles()).every((b) => b === ca)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500)); // the API server picks up the caBundle change asynchronously

    const pool = (await createPool(admin.custom, { subnet: '10.77.0.0/16', ips: ['10.77.0.10-10.77.0.20'] })).metadata
      .name!;
    try {
      const body = {
        apiVersion: `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`,
        kind: 'SpiderIPPool',
        ...(await getPoolRaw(pool)),
        status: { allocatedIPs: '"not-a-json-object"', allocatedIPCount: 0 },
      };
      const err = await expectApiError(() =>
        admin.custom.replaceClusterCustomObjectStatus({
          group: SPIDERPOOL_GROUP,
          version: SPIDERPOOL_VERSION,
          plural: POOLS,
          name: pool,
          body,
        }),
      );
      expect(err.code).toBe(403);
      expect(err.message).toMatch(/MALFORMED_ALLOCATIONS/);
    } catch (e) {
      throw new Error(`${apiErrorMessage(e)}\n--- serve output ---\n${output.slice(-3000)}`, { cause: e });
    } finally {
      await deletePool(admin.custom, pool);
    }
  });

  async function getPoolRaw(name: string): Promise<Record<string, unknown>> {
    return (await admin.custom.getClusterCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: POOLS,
      name,
    })) as Record<string, unknown>;
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function get(port: number, p: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, ca, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error('timeout')));
  });
}
