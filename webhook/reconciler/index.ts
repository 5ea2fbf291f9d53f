// webhook/reconciler: findings, the plan, and the executor that writes through the ReconcileClient port (model/). Sibling of admission/.
// How to change this room: a new finding is a name in finding-types.ts, its check in findings.ts and a section in docs/rules.md (Findings); a new action goes to actions.ts and plan.ts with docs/rules.md (Reconciler actions); test/unit/docs/docs.test.ts checks the pairs. The world is reached only through the ports of model/.
export { actionKey } from './actions';
export { CAPACITY_STATES, capacity } from './capacity';
export type { CapacityState, PoolCapacity } from './capacity';
export type { Action } from './actions';
export { DEFAULT_MAX_WRITES_PER_SECOND, Executor } from './executor';
export { FINDINGS, findingKey } from './finding-types';
export type { Finding, FindingName } from './finding-types';
export { findings, hasErrors, heldByUnconfirmedTermination } from './findings';
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
