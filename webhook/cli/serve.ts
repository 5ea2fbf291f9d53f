// `serve`: the HTTPS admission server over live informer caches, with fresh reads before denials; the reconciler
// runs beside it unless --no-reconcile. Wiring only: every decision lives in webhook/guard.
import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import { fileTlsSource, selfManagedTlsSource, watchClientCaFile } from '../../certs';
import type { ClientCaFile, LoadableTlsSource, TlsMaterial, WebhookTlsOptions } from '../../certs';
import { AdmissionHandler, Readiness, createAdmissionApp, startHttpsServer, startOpsServer, createAdmissionMetrics, decisionEffects, DEFAULT_INFLIGHT_BUDGET_BYTES } from '../admission';
import { Logger, createLogger } from '../log';
import { DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES, PinoAuditSink } from '../audit';
import { ApiFreshReader, DEFAULT_STALE_AFTER_MS, KubeEventWriter, QueuedEventPublisher, kubevirtServed, reservedIPsServed, startClusterCache } from '../cluster';
import { hostname } from 'node:os';
import { UsageError } from './errors';
import {
  DEFAULT_INTERVAL_MS,
  DEFAULT_LEADER_TIMING,
  DEFAULT_LEASE_NAME,
  DEFAULT_MAX_WRITES_PER_SECOND,
  DEFAULT_SETTLE_MS,
  LeaderTiming,
  Reconciler,
  leaderTimingProblem,
  startReconciler,
} from '../reconciler';
import { POLICY_FLAGS, Values, intFlag, listFlag, oneOf, parse, policyFromFlags, secondsFlag } from './args';
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
  { name: 'metrics-port', type: 'string', arg: 'N', default: DEFAULT_METRICS_PORT, help: 'plain-HTTP listener for Prometheus /metrics and the kubelet probes /healthz, /readyz (0 = off)' },
  { name: 'metrics-host', type: 'string', arg: 'ADDR', help: 'listen address of the metrics port (default: the --host value)' },
  { name: 'client-ca-file', type: 'string', arg: 'FILE', help: 'accept only webhook callers with a client certificate signed by a CA in FILE (PEM; reloaded when it changes)' },
  { name: 'cache-stale-seconds', type: 'string', arg: 'S', default: DEFAULT_STALE_AFTER_MS / 1000, help: 'a cache whose watch has been down this long counts as unsynced: decisions fail open (or closed) with cause stale-cache' },
  ...POLICY_FLAGS,
  { name: 'audit-log', type: 'string', arg: 'FILE', help: 'also write audit events as JSON lines to FILE (rotated by size, reopened on SIGHUP)' },
  { name: 'audit-log-max-size', type: 'string', arg: 'MIB', default: DEFAULT_AUDIT_MAX_BYTES / MIB, help: 'rotate the audit file at this size' },
  { name: 'audit-log-max-files', type: 'string', arg: 'N', default: DEFAULT_AUDIT_MAX_FILES, help: 'rotated audit files kept (FILE.1..FILE.N); (N+1) x max size is the disk used' },
  { name: 'max-inflight-mib', type: 'string', arg: 'MIB', default: DEFAULT_INFLIGHT_BUDGET_BYTES / MIB, help: 'request bytes in flight before answering 429 (keep about 1/6 of --max-old-space-size)' },
  { name: 'no-events', type: 'boolean', help: 'do not emit Kubernetes Events (about decisions and reconciler actions)' },
  { name: 'fail-closed', type: 'boolean', help: 'deny (instead of allow with a warning) on internal errors and unsynced or stale caches' },
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
  {
    name: 'leader-election-lease-duration',
    type: 'string',
    arg: 'S',
    default: DEFAULT_LEADER_TIMING.leaseDurationMs / 1000,
    help: 'how long other replicas wait, from when they last saw the leader renew, before taking over',
  },
  {
    name: 'leader-election-renew-deadline',
    type: 'string',
    arg: 'S',
    default: DEFAULT_LEADER_TIMING.renewDeadlineMs / 1000,
    help: 'the leader stops reconciling (writes aborted) when it could not renew for this long; < lease duration',
  },
  {
    name: 'leader-election-retry-period',
    type: 'string',
    arg: 'S',
    default: DEFAULT_LEADER_TIMING.retryPeriodMs / 1000,
    help: 'time between Lease renewals and acquisition attempts; < renew deadline',
  },
];

/** The Lease timings from the flags, checked against each other (client-go's rules). */
export function leaderTimingFromFlags(values: Values): LeaderTiming {
  const timing: LeaderTiming = {
    leaseDurationMs: secondsFlag(values, 'leader-election-lease-duration', DEFAULT_LEADER_TIMING.leaseDurationMs),
    renewDeadlineMs: secondsFlag(values, 'leader-election-renew-deadline', DEFAULT_LEADER_TIMING.renewDeadlineMs),
    retryPeriodMs: secondsFlag(values, 'leader-election-retry-period', DEFAULT_LEADER_TIMING.retryPeriodMs),
  };
  const problem = leaderTimingProblem(timing);
  if (problem) throw new UsageError(`serve: leader election: ${problem}`);
  return timing;
}

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
  const leaderTiming = leaderTimingFromFlags(values);
  const port = intFlag(values, 'port', DEFAULT_PORT);
  const metricsPort = intFlag(values, 'metrics-port', DEFAULT_METRICS_PORT);
  const host = typeof values.host === 'string' ? values.host : DEFAULT_HOST;
  const metricsHost = typeof values['metrics-host'] === 'string' ? values['metrics-host'] : host;
  const staleAfterMs = intFlag(values, 'cache-stale-seconds', DEFAULT_STALE_AFTER_MS / 1000, 1) * 1000;
  const clientCaPath = typeof values['client-ca-file'] === 'string' ? values['client-ca-file'] : undefined;
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
  const reservedIPs = await reservedIPsServed(kc);
  if (!reservedIPs) log.warn('spiderreservedips.spiderpool.spidernet.io is not served (or not readable): RESERVED_IP_IN_USE is not judged and no reserved IPs are counted');
  let reconciler: Reconciler | undefined;
  const cache = startClusterCache(kc, log, {
    kubevirt,
    reservedIPs,
    staleAfterMs,
    registry: metrics.registry,
    onChange: (kind, type, o) => {
      if (worthAPass(kind, type, o)) reconciler?.trigger(`${kind} ${type.toLowerCase()}`);
    },
  });
  const fresh = new ApiFreshReader(kc, kubevirt);
  const events =
    values['no-events'] === true
      ? undefined
      : new QueuedEventPublisher(new KubeEventWriter(kc, process.env.POD_NAME || hostname()), {
          onResult: (reason, result) => metrics.events.inc({ reason, result }),
          onError: (err, e) => log.warn({ err, reason: e.reason, object: e.involvedObject }, `could not write event ${e.reason}`),
        });
  const handler = new AdmissionHandler({
    view: () => cache.view,
    synced: cache.synced,
    staleCaches: cache.stale,
    settings: { staticIp, guardedUsers: guarded },
    policy,
    audit,
    log,
    fresh,
    metrics,
    failClosed: values['fail-closed'] === true,
    onDecision: decisionEffects({
      events,
      heal: { requestHeal: (r) => reconciler?.requestHeal(r) },
      onError: (err) => log.error({ err }, 'decision effects failed (the decision stands)'),
    }),
  });
  const readiness: Readiness = {
    checks: () => ({ caches: cache.synced(), tls: tls.ready() }),
    details: () => ({ caches: cache.status() }),
  };
  const app = createAdmissionApp(handler, readiness, log, { metrics, inflightBudgetBytes });
  let material: TlsMaterial = await tls.whenLoaded();
  // Read once and kept: setSecureContext (certificate or client CA reload) merges it in again every time.
  const tlsOptions: WebhookTlsOptions = {};
  let clientCa: ClientCaFile | undefined;
  if (clientCaPath) {
    try {
      clientCa = watchClientCaFile(
        clientCaPath,
        (pem) => {
          tlsOptions.clientCa = pem;
          server.setSecureContext({ key: material.key, cert: material.cert });
        },
        log.child({ component: 'certs' }),
      );
    } catch (err) {
      throw new UsageError(`serve: --client-ca-file ${clientCaPath}: ${(err as Error).message}`);
    }
    tlsOptions.clientCa = clientCa.current();
  }
  const server: https.Server = await startHttpsServer(app, material, port, host, tlsOptions);
  tls.onChange((m) => {
    material = m;
    server.setSecureContext({ key: m.key, cert: m.cert });
    log.info({ notAfter: m.notAfter.toISOString() }, 'serving certificate reloaded');
  });
  const metricsServer: http.Server | undefined = metricsPort > 0 ? await startOpsServer(metricsPort, metricsHost, metrics.registry, readiness, log) : undefined;
  const address = server.address();
  const metricsAddress = metricsServer?.address();
  log.info(
    {
      port: typeof address === 'object' && address ? address.port : port,
      host,
      metricsPort: typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : metricsPort,
      metricsHost,
      clientVerification: clientCaPath !== undefined,
      mode: policy.defaultMode,
      kubevirt,
    },
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
      leaderElection: { leaseName: str('leader-election-lease'), ...leaderTiming },
      events: values['no-events'] !== true,
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
  clientCa?.stop();
  cache.stop();
  fresh.close();
  await tls.stop();
  audit.flush();
  // Everything is closed; should a library still hold a handle, do not linger past the pod's grace period.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
