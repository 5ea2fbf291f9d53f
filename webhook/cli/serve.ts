// `serve`: the HTTPS admission server over live informer caches, with fresh reads before denials; the reconciler
// runs beside it unless --no-reconcile. This file only turns flags into a GuardConfig; webhook/app runs it.
import { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import {
  DEFAULT_HOST,
  DEFAULT_METRICS_PORT,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_DRAIN_MS,
  DEFAULT_TLS_SERVICE,
  GuardConfig,
  GuardConfigError,
  RunningGuard,
  TLS_KEY_TYPES,
  TlsConfig,
  podNamespace,
  startGuard,
  tlsSourceOf,
} from '../app';
import { DEFAULT_INFLIGHT_BUDGET_BYTES } from '../admission';
import { Logger, createLogger } from '../log';
import { DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES } from '../audit';
import { DEFAULT_STALE_AFTER_MS } from '../cluster';
import { UsageError } from './errors';
import {
  DEFAULT_INTERVAL_MS,
  DEFAULT_LEADER_TIMING,
  DEFAULT_LEASE_NAME,
  DEFAULT_MAX_WRITES_PER_SECOND,
  DEFAULT_SETTLE_MS,
  LeaderTiming,
  leaderTimingProblem,
} from '../reconciler';
import {
  POLICY_FLAGS,
  Values,
  intFlag,
  listFlag,
  oneOf,
  parse,
  policyFromFlags,
  secondsFlag,
  terminationFromFlags,
} from './args';
import { FlagTable, helpText } from './flags';

export { DEFAULT_HOST, DEFAULT_METRICS_PORT, DEFAULT_PORT, DEFAULT_TLS_SERVICE };
const MIB = 1024 * 1024;

export const SERVE_FLAGS: FlagTable = [
  {
    name: 'kubeconfig',
    type: 'string',
    arg: 'FILE',
    help: 'cluster access (default: $KUBECONFIG, ~/.kube/config, in-cluster)',
  },
  { name: 'host', type: 'string', arg: 'ADDR', default: DEFAULT_HOST, help: 'HTTPS listen address' },
  { name: 'port', type: 'string', arg: 'N', default: DEFAULT_PORT, help: 'HTTPS listen port' },
  {
    name: 'metrics-port',
    type: 'string',
    arg: 'N',
    default: DEFAULT_METRICS_PORT,
    help: 'plain-HTTP listener for Prometheus /metrics and the kubelet probes /healthz, /readyz (0 = off)',
  },
  {
    name: 'metrics-host',
    type: 'string',
    arg: 'ADDR',
    help: 'listen address of the metrics port (default: the --host value)',
  },
  {
    name: 'client-ca-file',
    type: 'string',
    arg: 'FILE',
    help: 'accept only webhook callers with a client certificate signed by a CA in FILE (PEM; reloaded when it changes)',
  },
  {
    name: 'cache-stale-seconds',
    type: 'string',
    arg: 'S',
    default: DEFAULT_STALE_AFTER_MS / 1000,
    help: 'a cache whose watch has been down this long counts as unsynced: decisions fail open (or closed) with cause stale-cache',
  },
  ...POLICY_FLAGS,
  {
    name: 'audit-log',
    type: 'string',
    arg: 'FILE',
    help: 'also write audit events as JSON lines to FILE (rotated by size, reopened on SIGHUP)',
  },
  {
    name: 'audit-log-max-size',
    type: 'string',
    arg: 'MIB',
    default: DEFAULT_AUDIT_MAX_BYTES / MIB,
    help: 'rotate the audit file at this size',
  },
  {
    name: 'audit-log-max-files',
    type: 'string',
    arg: 'N',
    default: DEFAULT_AUDIT_MAX_FILES,
    help: 'rotated audit files kept (FILE.1..FILE.N); (N+1) x max size is the disk used',
  },
  {
    name: 'max-inflight-mib',
    type: 'string',
    arg: 'MIB',
    default: DEFAULT_INFLIGHT_BUDGET_BYTES / MIB,
    help: 'request bytes in flight; past them a review waits (half its decision budget), then 429 (keep about 1/6 of --max-old-space-size)',
  },
  {
    name: 'no-events',
    type: 'boolean',
    help: 'do not emit Kubernetes Events (about decisions and reconciler actions)',
  },
  {
    name: 'fail-closed',
    type: 'boolean',
    help: 'deny (instead of allow with a warning) on internal errors and unsynced or stale caches',
  },
  { name: 'log-level', type: 'string', arg: 'LEVEL', help: 'pino level (default $LOG_LEVEL, else info)' },
  {
    name: 'tls-cert-file',
    type: 'string',
    arg: 'FILE',
    help: 'TLS from files: serving certificate (reloaded when it changes)',
  },
  { name: 'tls-key-file', type: 'string', arg: 'FILE', help: 'TLS from files: its key' },
  { name: 'tls-ca-file', type: 'string', arg: 'FILE', help: 'TLS from files: the CA bundle' },
  {
    name: 'tls-secret',
    type: 'string',
    arg: 'NAME',
    help: 'self-managed TLS: the Secret holding CA and serving certificate',
  },
  {
    name: 'tls-namespace',
    type: 'string',
    arg: 'NS',
    help: 'self-managed TLS: namespace of Secret and Service (default $POD_NAMESPACE, else spiderpool-guard)',
  },
  {
    name: 'tls-service',
    type: 'string',
    arg: 'NAME',
    default: DEFAULT_TLS_SERVICE,
    help: 'self-managed TLS: the webhook Service',
  },
  { name: 'tls-dns-names', type: 'string', arg: 'a,b', help: 'self-managed TLS: extra DNS names' },
  { name: 'tls-ip-sans', type: 'string', arg: 'ip,ip', help: 'self-managed TLS: extra IP SANs' },
  {
    name: 'tls-key-type',
    type: 'string',
    arg: TLS_KEY_TYPES.join('|'),
    default: TLS_KEY_TYPES[0],
    help: 'self-managed TLS: key type',
  },
  {
    name: 'validating-webhook',
    type: 'string',
    arg: 'NAME',
    help: 'self-managed TLS: ValidatingWebhookConfiguration to inject the CA into',
  },
  {
    name: 'mutating-webhook',
    type: 'string',
    arg: 'NAME',
    help: 'self-managed TLS: MutatingWebhookConfiguration to inject the CA into',
  },
  {
    name: 'shutdown-drain-seconds',
    type: 'string',
    arg: 'S',
    default: DEFAULT_SHUTDOWN_DRAIN_MS / 1000,
    help: 'on SIGTERM: not ready at once, but the webhook listener answers (with Connection: close) for S more seconds before it closes (the chart: 15); calls in flight then still finish (SIGINT: 0)',
  },
  { name: 'no-reconcile', type: 'boolean', help: 'run without the reconciler' },
  {
    name: 'reconcile-interval',
    type: 'string',
    arg: 'S',
    default: DEFAULT_INTERVAL_MS / 1000,
    help: 'seconds between full reconcile passes',
  },
  {
    name: 'settle-seconds',
    type: 'string',
    arg: 'S',
    default: DEFAULT_SETTLE_MS / 1000,
    help: 'a finding or action is acted on only after persisting this long',
  },
  { name: 'reconcile-dry-run', type: 'boolean', help: 'the reconciler judges and logs, never writes' },
  {
    name: 'reconcile-max-writes-per-second',
    type: 'string',
    arg: 'N',
    default: DEFAULT_MAX_WRITES_PER_SECOND,
    help: 'rate limit of reconciler writes',
  },
  {
    name: 'leader-election-namespace',
    type: 'string',
    arg: 'NS',
    help: 'namespace of the Lease and of the service account (default $POD_NAMESPACE, else spiderpool-guard)',
  },
  {
    name: 'leader-election-lease',
    type: 'string',
    arg: 'NAME',
    default: DEFAULT_LEASE_NAME,
    help: 'name of the Lease',
  },
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

function stringFlag(values: Values, name: string): string | undefined {
  return typeof values[name] === 'string' ? (values[name] as string) : undefined;
}

/** Where the serving certificate comes from: files or a self-managed Secret (exactly one). */
export function tlsConfigFromFlags(values: Values): TlsConfig {
  const str = (k: string) => stringFlag(values, k);
  const certFile = str('tls-cert-file');
  const keyFile = str('tls-key-file');
  const secret = str('tls-secret');
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new UsageError('serve: --tls-cert-file and --tls-key-file go together');
    if (secret) throw new UsageError('serve: choose TLS from files or --tls-secret, not both');
    return { kind: 'files', certFile, keyFile, caFile: str('tls-ca-file') };
  }
  if (!secret) throw new UsageError('serve: a TLS source is required: --tls-cert-file/--tls-key-file or --tls-secret');
  const validating = str('validating-webhook');
  const mutating = str('mutating-webhook');
  if (!validating || !mutating)
    throw new UsageError('serve: --tls-secret needs --validating-webhook and --mutating-webhook names');
  return {
    kind: 'self-managed',
    namespace: str('tls-namespace') ?? podNamespace(),
    secretName: secret,
    serviceName: str('tls-service') ?? DEFAULT_TLS_SERVICE,
    extraDnsNames: listFlag(values, 'tls-dns-names'),
    extraIps: listFlag(values, 'tls-ip-sans'),
    validatingWebhookName: validating,
    mutatingWebhookName: mutating,
    keyType: oneOf(values, 'tls-key-type', TLS_KEY_TYPES, TLS_KEY_TYPES[0]),
  };
}

export function tlsSourceFromFlags(
  values: Values,
  kc: KubeConfig,
  log: Logger,
  registry: Registry,
): ReturnType<typeof tlsSourceOf> {
  return tlsSourceOf(tlsConfigFromFlags(values), kc, log, registry);
}

/** The serve flags as a GuardConfig; every usage error is thrown here, before anything starts. */
export function guardConfigFromFlags(values: Values): GuardConfig {
  const { policy, guarded, staticIp } = policyFromFlags(values);
  const leaderTiming = leaderTimingFromFlags(values);
  const port = intFlag(values, 'port', DEFAULT_PORT);
  const metricsPort = intFlag(values, 'metrics-port', DEFAULT_METRICS_PORT);
  const host = stringFlag(values, 'host') ?? DEFAULT_HOST;
  const staleAfterMs = intFlag(values, 'cache-stale-seconds', DEFAULT_STALE_AFTER_MS / 1000, 1) * 1000;
  const kubeConfig = loadKubeConfig(stringFlag(values, 'kubeconfig'));
  const tls = tlsConfigFromFlags(values);
  const audit = {
    file: stringFlag(values, 'audit-log'),
    maxBytes: intFlag(values, 'audit-log-max-size', DEFAULT_AUDIT_MAX_BYTES / MIB, 1) * MIB,
    maxFiles: intFlag(values, 'audit-log-max-files', DEFAULT_AUDIT_MAX_FILES),
  };
  const inflightBudgetBytes = intFlag(values, 'max-inflight-mib', DEFAULT_INFLIGHT_BUDGET_BYTES / MIB, 1) * MIB;
  const reconciler =
    values['no-reconcile'] === true
      ? (false as const)
      : {
          namespace: stringFlag(values, 'leader-election-namespace') ?? podNamespace(),
          settleMs: intFlag(values, 'settle-seconds', DEFAULT_SETTLE_MS / 1000) * 1000,
          intervalMs: intFlag(values, 'reconcile-interval', DEFAULT_INTERVAL_MS / 1000, 1) * 1000,
          dryRun: values['reconcile-dry-run'] === true,
          maxWritesPerSecond: intFlag(values, 'reconcile-max-writes-per-second', DEFAULT_MAX_WRITES_PER_SECOND, 1),
          leaderElection: { leaseName: stringFlag(values, 'leader-election-lease'), ...leaderTiming },
        };
  return {
    kubeConfig,
    host,
    port,
    metricsHost: stringFlag(values, 'metrics-host') ?? host,
    metricsPort,
    clientCaFile: stringFlag(values, 'client-ca-file'),
    tls,
    staleAfterMs,
    policy,
    guardedUsers: guarded,
    staticIp,
    termination: terminationFromFlags(values),
    audit,
    inflightBudgetBytes,
    events: values['no-events'] !== true,
    failClosed: values['fail-closed'] === true,
    shutdownDrainMs: intFlag(values, 'shutdown-drain-seconds', DEFAULT_SHUTDOWN_DRAIN_MS / 1000) * 1000,
    reconciler,
  };
}

export async function runServe(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, SERVE_FLAGS, 'serve');
  if (values.help) {
    process.stdout.write(SERVE_HELP + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`serve: unexpected argument ${JSON.stringify(positionals[0])}`);
  const config = guardConfigFromFlags(values);
  const log = createLogger(stringFlag(values, 'log-level'));
  let guard: RunningGuard | undefined;
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (server keeps running)'));
  process.on('SIGHUP', () => {
    guard?.reopenAuditLog();
    log.info('audit log reopened');
  });
  try {
    guard = await startGuard(config, log);
  } catch (err) {
    if (err instanceof GuardConfigError) throw new UsageError(`serve: ${err.message}`);
    throw err;
  }
  const running = guard;
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  // SIGTERM is the kubelet's (orchestrated: drain); SIGINT is someone at a terminal (no delay, calls in flight finish)
  const drain = signal === 'SIGTERM';
  log.info({ signal, drainMs: drain ? config.shutdownDrainMs : 0 }, 'shutting down');
  await running.stop({ drain });
  // Everything is closed; should a library still hold a handle, do not linger past the pod's grace period.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
