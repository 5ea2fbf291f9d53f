// `serve`: the HTTPS admission server over live informer caches, with fresh reads before denials; the reconciler
// runs beside it unless --no-reconcile. Wiring only: every decision lives in webhook/guard.
import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import { fileTlsSource, selfManagedTlsSource } from '../../certs';
import type { LoadableTlsSource } from '../../certs';
import { AdmissionHandler, createAdmissionApp, startHttpsServer, createAdmissionMetrics, DEFAULT_INFLIGHT_BUDGET_BYTES } from '../admission';
import { Logger, createLogger } from '../log';
import { DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES, PinoAuditSink } from '../audit';
import { ApiFreshReader, kubevirtServed, startClusterCache } from '../cluster';
import { UsageError } from './errors';
import { DEFAULT_INTERVAL_MS, DEFAULT_LEASE_NAME, DEFAULT_MAX_WRITES_PER_SECOND, DEFAULT_SETTLE_MS, Reconciler, startReconciler } from '../reconciler';
import { POLICY_FLAGS, Values, intFlag, listFlag, oneOf, parse, policyFromFlags } from './args';
import { FlagTable, helpText } from './flags';

export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_PORT = 9443;
export const DEFAULT_METRICS_PORT = 9090;
export const DEFAULT_TLS_SERVICE = 'spiderpool-guard';
const MIB = 1024 * 1024;
const TLS_KEY_TYPES = ['rsa', 'ec'] as const;

export const SERVE_FLAGS: FlagTable = [
  { name: 'kubeconfig', type: 'string', arg: 'FILE', help: 'cluster access (default: $KUBECONFIG, ~/.kube/config, in-cluster)' },
  { name: 'host', type: 'string', arg: 'ADDR', default: DEFAULT_HOST, help: 'HTTPS listen address' },
  { name: 'port', type: 'string', arg: 'N', default: DEFAULT_PORT, help: 'HTTPS listen port' },
  { name: 'metrics-port', type: 'string', arg: 'N', default: DEFAULT_METRICS_PORT, help: 'Prometheus /metrics over HTTP (0 = off)' },
  ...POLICY_FLAGS,
  { name: 'audit-log', type: 'string', arg: 'FILE', help: 'also write audit events as JSON lines to FILE (rotated by size, reopened on SIGHUP)' },
  { name: 'audit-log-max-size', type: 'string', arg: 'MIB', default: DEFAULT_AUDIT_MAX_BYTES / MIB, help: 'rotate the audit file at this size' },
  { name: 'audit-log-max-files', type: 'string', arg: 'N', default: DEFAULT_AUDIT_MAX_FILES, help: 'rotated audit files kept (FILE.1..FILE.N); (N+1) x max size is the disk used' },
  { name: 'max-inflight-mib', type: 'string', arg: 'MIB', default: DEFAULT_INFLIGHT_BUDGET_BYTES / MIB, help: 'request bytes in flight before answering 429 (keep about 1/6 of --max-old-space-size)' },
  { name: 'fail-closed', type: 'boolean', help: 'deny (instead of allow with a warning) on internal errors and unsynced caches' },
  { name: 'log-level', type: 'string', arg: 'LEVEL', help: 'pino level (default $LOG_LEVEL, else info)' },
  { name: 'tls-cert-file', type: 'string', arg: 'FILE', help: 'TLS from files: serving certificate (reloaded when it changes)' },
  { name: 'tls-key-file', type: 'string', arg: 'FILE', help: 'TLS from files: its key' },
  { name: 'tls-ca-file', type: 'string', arg: 'FILE', help: 'TLS from files: the CA bundle' },
  { name: 'tls-secret', type: 'string', arg: 'NAME', help: 'self-managed TLS: the Secret holding CA and serving certificate' },
  { name: 'tls-namespace', type: 'string', arg: 'NS', help: 'self-managed TLS: namespace of Secret and Service (default $POD_NAMESPACE, else spiderpool-guard)' },
  { name: 'tls-service', type: 'string', arg: 'NAME', default: DEFAULT_TLS_SERVICE, help: 'self-managed TLS: the webhook Service' },
  { name: 'tls-dns-names', type: 'string', arg: 'a,b', help: 'self-managed TLS: extra DNS names' },
  { name: 'tls-ip-sans', type: 'string', arg: 'ip,ip', help: 'self-managed TLS: extra IP SANs' },
  { name: 'tls-key-type', type: 'string', arg: TLS_KEY_TYPES.join('|'), default: TLS_KEY_TYPES[0], help: 'self-managed TLS: key type' },
  { name: 'validating-webhook', type: 'string', arg: 'NAME', help: 'self-managed TLS: ValidatingWebhookConfiguration to inject the CA into' },
  { name: 'mutating-webhook', type: 'string', arg: 'NAME', help: 'self-managed TLS: MutatingWebhookConfiguration to inject the CA into' },
  { name: 'no-reconcile', type: 'boolean', help: 'run without the reconciler' },
  { name: 'reconcile-interval', type: 'string', arg: 'S', default: DEFAULT_INTERVAL_MS / 1000, help: 'seconds between full reconcile passes' },
  { name: 'settle-seconds', type: 'string', arg: 'S', default: DEFAULT_SETTLE_MS / 1000, help: 'a finding or action is acted on only after persisting this long' },
  { name: 'reconcile-dry-run', type: 'boolean', help: 'the reconciler judges and logs, never writes' },
  { name: 'reconcile-max-writes-per-second', type: 'string', arg: 'N', default: DEFAULT_MAX_WRITES_PER_SECOND, help: 'rate limit of reconciler writes' },
  { name: 'leader-election-namespace', type: 'string', arg: 'NS', help: 'namespace of the Lease and of the service account (default $POD_NAMESPACE, else spiderpool-guard)' },
  { name: 'leader-election-lease', type: 'string', arg: 'NAME', default: DEFAULT_LEASE_NAME, help: 'name of the Lease' },
];

const SERVE_HELP = helpText(
  'spiderpool-guard serve [flags]',
  'The admission webhook server (HTTPS) and, unless --no-reconcile, the leader-elected reconciler. TLS comes from\nfiles (--tls-cert-file, --tls-key-file) or is self-managed (--tls-secret with --validating-webhook and --mutating-webhook).',
  SERVE_FLAGS,
);

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

export function tlsSourceFromFlags(values: Values, kc: KubeConfig, log: Logger, registry: import('prom-client').Registry): LoadableTlsSource {
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
    serviceName: str('tls-service') ?? DEFAULT_TLS_SERVICE,
    extraDnsNames: listFlag(values, 'tls-dns-names'),
    extraIps: listFlag(values, 'tls-ip-sans'),
    validatingWebhookName: validating,
    mutatingWebhookName: mutating,
    keyType: oneOf(values, 'tls-key-type', TLS_KEY_TYPES, TLS_KEY_TYPES[0]),
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
  const { values, positionals } = parse(argv, SERVE_FLAGS, 'serve');
  if (values.help) {
    process.stdout.write(SERVE_HELP + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`serve: unexpected argument ${JSON.stringify(positionals[0])}`);
  const { policy, guarded, staticIp } = policyFromFlags(values);
  const port = intFlag(values, 'port', DEFAULT_PORT);
  const metricsPort = intFlag(values, 'metrics-port', DEFAULT_METRICS_PORT);
  const host = typeof values.host === 'string' ? values.host : DEFAULT_HOST;
  const log = createLogger(typeof values['log-level'] === 'string' ? values['log-level'] : undefined);
  const kc = loadKubeConfig(typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined);
  const metrics = createAdmissionMetrics();
  const tls = tlsSourceFromFlags(values, kc, log, metrics.registry);
  const audit = new PinoAuditSink(log, {
    file: typeof values['audit-log'] === 'string' ? values['audit-log'] : undefined,
    maxBytes: intFlag(values, 'audit-log-max-size', DEFAULT_AUDIT_MAX_BYTES / MIB, 1) * MIB,
    maxFiles: intFlag(values, 'audit-log-max-files', DEFAULT_AUDIT_MAX_FILES),
    registry: metrics.registry,
  });
  const inflightBudgetBytes = intFlag(values, 'max-inflight-mib', DEFAULT_INFLIGHT_BUDGET_BYTES / MIB, 1) * MIB;

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
  const app = createAdmissionApp(handler, { checks: () => ({ caches: cache.synced(), tls: tls.ready() }) }, log, { metrics, inflightBudgetBytes });
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
      settleMs: intFlag(values, 'settle-seconds', DEFAULT_SETTLE_MS / 1000) * 1000,
      intervalMs: intFlag(values, 'reconcile-interval', DEFAULT_INTERVAL_MS / 1000, 1) * 1000,
      dryRun: values['reconcile-dry-run'] === true,
      maxWritesPerSecond: intFlag(values, 'reconcile-max-writes-per-second', DEFAULT_MAX_WRITES_PER_SECOND, 1),
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
