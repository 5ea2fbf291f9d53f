// What `serve` runs, as a typed value: cli/serve.ts turns flags into a GuardConfig, startGuard (guard.ts) runs it.
// Tests build one directly to start the whole guard in-process.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Policy, TerminationSettings, UserMatcher } from '../guard';
import type { StaticIpConfig } from '../model';
import type { LeaderTiming } from '../reconciler';
import type { TlsConfig } from './tls';

export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_PORT = 9443;
export const DEFAULT_METRICS_PORT = 9090;
export const DEFAULT_TLS_SERVICE = 'spiderpool-guard';
/**
 * After SIGTERM the webhook listener stays open this long, answering with `Connection: close` (admission/drain.ts):
 * calls routed here before the endpoint update reached the API server, and calls on its kept-alive connections, are
 * answered instead of failing open. 0 for `serve` on its own (nothing routes to it through a Service: a stop should
 * not linger); the chart, behind a Service, passes its `shutdownDrainSeconds` (15). docs/operations.md, Stopping a
 * replica, has the numbers.
 */
export const DEFAULT_SHUTDOWN_DRAIN_MS = 0;

/** The namespace this pod runs in (the chart sets $POD_NAMESPACE): default home of the Lease, Secret and Service. */
export function podNamespace(): string {
  return process.env.POD_NAMESPACE ?? 'spiderpool-guard';
}

export interface AuditConfig {
  /** also write audit events as JSON lines to this file (rotated by size) */
  file?: string;
  maxBytes: number;
  maxFiles: number;
}

export interface ReconcilerConfig {
  /** namespace of the Lease and of the service account */
  namespace: string;
  settleMs: number;
  intervalMs: number;
  dryRun: boolean;
  maxWritesPerSecond: number;
  leaderElection: { leaseName?: string } & LeaderTiming;
}

export interface GuardConfig {
  kubeConfig: KubeConfig;
  /** HTTPS listener of the webhooks (port 0: any free port) */
  host: string;
  port: number;
  /** plain-HTTP listener of /metrics, /healthz, /readyz (port 0: off) */
  metricsHost: string;
  metricsPort: number;
  /** accept only webhook callers with a client certificate signed by a CA in this PEM file */
  clientCaFile?: string;
  tls: TlsConfig;
  /** a cache whose watch has been down this long counts as unsynced */
  staleAfterMs: number;
  policy: Policy;
  guardedUsers: UserMatcher;
  staticIp: StaticIpConfig;
  /** --termination-hold-max and the clock terminating pods are judged with (docs/rules.md, Termination confirmed) */
  termination?: TerminationSettings;
  audit: AuditConfig;
  /** request bytes in flight before answering 429 */
  inflightBudgetBytes: number;
  /** emit Kubernetes Events about decisions and reconciler actions */
  events: boolean;
  /** deny instead of allow-with-warning on internal errors and unsynced or stale caches */
  failClosed: boolean;
  /** false: run without the reconciler */
  reconciler: ReconcilerConfig | false;
  /** how long the webhook listener keeps answering after a draining stop began (default DEFAULT_SHUTDOWN_DRAIN_MS) */
  shutdownDrainMs?: number;
}
