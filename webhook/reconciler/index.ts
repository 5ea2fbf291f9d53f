// webhook/reconciler: findings, the plan, and the executor that writes through cluster/. Sibling of admission/.
export { actionKey } from './actions';
export type { Action } from './actions';
export { DEFAULT_MAX_WRITES_PER_SECOND, Executor } from './executor';
export { FINDINGS, findingKey } from './finding-types';
export type { Finding, FindingName } from './finding-types';
export { findings, hasErrors } from './findings';
export { inNamespaces } from './namespace-filter';
export { podInstance, processIdentity, startReconcilerOnPorts } from './start';
export { DEFAULT_INTERVAL_MS } from './loop';
export { DEFAULT_LEASE_NAME } from './leader';
export { DEFAULT_LEADER_TIMING, leaderTimingProblem } from './lease-rules';
export type { LeaderTiming } from './lease-rules';
export type { Reconciler, ReconcilerPorts, ReconcilerSettings } from './start';
export { plan } from './plan';
export type { BlockedAction } from './plan';
export { reconcilerUser } from './selfcheck';
export { DEFAULT_CLI_SETTLE_SECONDS, DEFAULT_SETTLE_MS } from './settle';
