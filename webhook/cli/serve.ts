// `serve`: the HTTPS admission server over live informer caches, with fresh reads before denials; the reconciler
// runs beside it unless --no-reconcile. Wiring only: every decision lives in webhook/guard.
import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import { fileTlsSource, selfManagedTlsSource } from '../../certs';
import type { LoadableTlsSource } from '../../certs';
import { AdmissionHandler, createAdmissionApp, startHttpsServer, createAdmissionMetrics } from '../admission';
import { Logger, createLogger } from '../log';
import { PinoAuditSink } from '../audit';
import { ApiFreshReader, kubevirtServed, startClusterCache } from '../cluster';
import { UsageError } from './errors';
import { Reconciler, startReconciler } from '../reconciler';
import { Options, POLICY_OPTIONS, Values, intFlag, listFlag, oneOf, parse, policyFromFlags } from './args';

export const SERVE_OPTIONS: Options = {
  ...POLICY_OPTIONS,
  kubeconfig: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'metrics-port': { type: 'string' },
  'audit-log': { type: 'string' },
  'fail-closed': { type: 'boolean' },
  'log-level': { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-key-file': { type: 'string' },
  'tls-ca-file': { type: 'string' },
  'tls-secret': { type: 'string' },
  'tls-namespace': { type: 'string' },
  'tls-service': { type: 'string' },
  'tls-dns-names': { type: 'string' },
  'tls-ip-sans': { type: 'string' },
  'tls-key-type': { type: 'string' },
  'validating-webhook': { type: 'string' },
  'mutating-webhook': { type: 'string' },
  'no-reconcile': { type: 'boolean' },
  'reconcile-interval': { type: 'string' },
  'settle-seconds': { type: 'string' },
  'reconcile-dry-run': { type: 'boolean' },
  'reconcile-max-writes-per-second': { type: 'string' },
  'leader-election-namespace': { type: 'string' },
  'leader-election-lease': { type: 'string' },
};

export const SERVE_HELP = `Usage: spiderpool-guard serve [flags]

The admission webhook server (HTTPS) and, unless --no-reconcile, the leader-elected reconciler.
  --kubeconfig FILE               cluster access (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --host ADDR / --port N          HTTPS listen address (default 0.0.0.0:9443)
  --metrics-port N                Prometheus /metrics over HTTP (default 9090, 0 = off)
  --mode enforce|warn|audit|repair  default mode of every rule (default enforce)
  --rule-mode RULE=MODE           per-rule mode, repeatable
  --guarded-users GLOBS           writers the release rules judge (default system:serviceaccount:*:spiderpool-controller)
  --exempt-users GLOBS            writers never denied (still audited)
  --statefulset-static-ip true|false, --kubevirt-static-ip true|false   Spiderpool's static-IP switches (default true)
  --audit-log FILE                also write audit events as JSON lines to FILE (reopened on SIGHUP)
  --fail-closed                   deny (instead of allow with a warning) on internal errors and unsynced caches
  TLS from files:   --tls-cert-file F --tls-key-file F [--tls-ca-file F]   (reloaded when they change)
  TLS self-managed: --tls-secret NAME [--tls-namespace NS] [--tls-service NAME] [--tls-dns-names a,b]
                    [--tls-ip-sans ip,ip] [--tls-key-type rsa|ec] --validating-webhook NAME --mutating-webhook NAME
  Reconciler: --no-reconcile, --reconcile-interval S (300), --settle-seconds S (60), --reconcile-dry-run,
              --reconcile-max-writes-per-second N (5), --leader-election-namespace NS, --leader-election-lease NAME
  --log-level LEVEL               pino level (default info)`;

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UsageError(`cannot load kubeconfig ${path ?? '(default)'}: ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new UsageError(`kubeconfig ${path ?? '(default)'} has no current cluster`);
  return kc;
}

function podNamespace(): string {
  return process.env.POD_NAMESPACE ?? 'spiderpool-guard';
}

function tlsSourceFromFlags(values: Values, kc: KubeConfig, log: Logger, registry: import('prom-client').Registry): LoadableTlsSource {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const certFile = str('tls-cert-file');
  const keyFile = str('tls-key-file');
  const secret = str('tls-secret');
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new UsageError('serve: --tls-cert-file and --tls-key-file go together');
    if (secret) throw new UsageError('serve: choose TLS from files or --tls-secret, not both');
    return fileTlsSource({ certFile, keyFile, caFile: str('tls-ca-file'), logger: log.child({ component: 'certs' }), registry });
  }
  if (!secret) throw new UsageError('serve: a TLS source is required: --tls-cert-file/--tls-key-file or --tls-secret');
  const validating = str('validating-webhook');
  const mutating = str('mutating-webhook');
  if (!validating || !mutating) throw new UsageError('serve: --tls-secret needs --validating-webhook and --mutating-webhook names');
  return selfManagedTlsSource({
    kubeConfig: kc,
    namespace: str('tls-namespace') ?? podNamespace(),
    secretName: secret,
    serviceName: str('tls-service') ?? 'spiderpool-guard',
    extraDnsNames: listFlag(values, 'tls-dns-names'),
    extraIps: listFlag(values, 'tls-ip-sans'),
    validatingWebhookName: validating,
    mutatingWebhookName: mutating,
    keyType: oneOf(values, 'tls-key-type', ['rsa', 'ec'] as const, 'rsa'),
    logger: log.child({ component: 'certs' }),
    registry,
  });
}

function startMetricsServer(port: number, registry: import('prom-client').Registry, log: Logger): http.Server {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      (err: Error) => {
        log.error({ err }, 'metrics rendering failed');
        res.writeHead(500).end();
      },
    );
  });
  server.listen(port);
  return server;
}

/** Watch events that can create work for the reconciler (issue #4): pods completed or deleted, StatefulSets
 * scaled, endpoints or pools changed. Other pod updates (status churn of running pods) wait for the periodic pass. */
function worthAPass(kind: string, type: string, o: Record<string, unknown>): boolean {
  if (kind !== 'pods') return true;
  if (type === 'DELETED') return true;
  const phase = (o.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export async function runServe(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, SERVE_OPTIONS, 'serve');
  if (values.help) {
    process.stdout.write(SERVE_HELP + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`serve: unexpected argument ${JSON.stringify(positionals[0])}`);
  const { policy, guarded, staticIp } = policyFromFlags(values);
  const port = intFlag(values, 'port', 9443);
  const metricsPort = intFlag(values, 'metrics-port', 9090);
  const host = typeof values.host === 'string' ? values.host : '0.0.0.0';
  const log = createLogger(typeof values['log-level'] === 'string' ? values['log-level'] : undefined);
  const kc = loadKubeConfig(typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined);
  const metrics = createAdmissionMetrics();
  const tls = tlsSourceFromFlags(values, kc, log, metrics.registry);
  const audit = new PinoAuditSink(log, typeof values['audit-log'] === 'string' ? values['audit-log'] : undefined);

  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (server keeps running)'));
  process.on('SIGHUP', () => {
    audit.reopen();
    log.info('audit log reopened');
  });

  const kubevirt = staticIp.kubevirt && (await kubevirtServed(kc));
  let reconciler: Reconciler | undefined;
  const cache = startClusterCache(kc, log, {
    kubevirt,
    onChange: (kind, type, o) => {
      if (worthAPass(kind, type, o)) reconciler?.trigger(`${kind} ${type.toLowerCase()}`);
    },
  });
  const fresh = new ApiFreshReader(kc, kubevirt);
  const handler = new AdmissionHandler({
    view: () => cache.view,
    synced: cache.synced,
    settings: { staticIp, guardedUsers: guarded },
    policy,
    audit,
    log,
    fresh,
    metrics,
    failClosed: values['fail-closed'] === true,
  });
  const app = createAdmissionApp(handler, { checks: () => ({ caches: cache.synced(), tls: tls.ready() }) }, log);
  const material = await tls.whenLoaded();
  const server: https.Server = await startHttpsServer(app, material, port, host);
  tls.onChange((m) => {
    server.setSecureContext({ key: m.key, cert: m.cert });
    log.info({ notAfter: m.notAfter.toISOString() }, 'serving certificate reloaded');
  });
  const metricsServer = metricsPort > 0 ? startMetricsServer(metricsPort, metrics.registry, log) : undefined;
  const address = server.address();
  log.info(
    { port: typeof address === 'object' && address ? address.port : port, host, metricsPort, mode: policy.defaultMode, kubevirt },
    'spiderpool-guard serving',
  );
  if (values['no-reconcile'] !== true) {
    const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    reconciler = startReconciler({
      source: cache,
      kubeConfig: kc,
      namespace: str('leader-election-namespace') ?? podNamespace(),
      staticIp,
      kubevirt,
      settleMs: intFlag(values, 'settle-seconds', 60) * 1000,
      intervalMs: intFlag(values, 'reconcile-interval', 300, 1) * 1000,
      dryRun: values['reconcile-dry-run'] === true,
      maxWritesPerSecond: intFlag(values, 'reconcile-max-writes-per-second', 5, 1),
      leaderElection: { leaseName: str('leader-election-lease') },
      registry: metrics.registry,
      log,
    });
  }

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  await reconciler?.stop();
  server.close();
  server.closeAllConnections();
  metricsServer?.close();
  cache.stop();
  fresh.close();
  await tls.stop();
  audit.flush();
  // Everything is closed; should a library still hold a handle, do not linger past the pod's grace period.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
