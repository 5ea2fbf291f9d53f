// webhook/model: the facts the guard reads, the definitions over them (alive, static, members), API names, and
// the ports the API adapters implement. Imports nothing else from webhook/.
// How to change this room: a new fact is a field in types.ts that object-facts.ts fills (a missing field becomes an empty value); a new definition (like alive) goes to lifecycle.ts with its docs/rules.md Terms entry and a test in test/unit/model/.
export { cachedDiff, cachedScan, emptyScan, sharedScanCache } from './allocation-scan';
export { changedMalformed, diffRecords, parseAllocatedIPs, poolFamily, serializeAllocatedIPs } from './allocations';
export type { AllocationDiff, PoolAddressing } from './allocations';
export {
  ENDPOINT_RESOURCE,
  KUBEVIRT_API_VERSION,
  KUBEVIRT_GROUP,
  KUBEVIRT_VERSION,
  POOL_RESOURCE,
  RESERVED_IP_RESOURCE,
  SPIDERPOOL_API_VERSION,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  VIRT_LAUNCHER_SELECTOR,
  VMI_RESOURCE,
  VM_RESOURCE,
  apiPaths,
} from './api-names';
// The lifecycle definitions and the name helpers are called per object (several times per pod, endpoint and record
// in a reconcile pass): they are exported as plain properties, not through `export { … } from`, which compiles to a
// CommonJS getter run on every call from another room (~45 ms of a 100,000-pod pass).
import * as lifecycle from './lifecycle';
import * as names from './types';
export const {
  isAlive,
  isCompletedPod,
  isOnePod,
  isRestartingForEndpoint,
  isRestartingStaticMember,
  isStaticEndpointType,
  isTerminalPhase,
  isValidStaticMember,
  nextIncarnationPools,
  parseOrdinalName,
  podsOfName,
  recordNameOf,
  statefulSetOfName,
  staticKindOf,
  vmiOf,
} = lifecycle;
export const { nsName, splitNsName } = names;
export type {
  CallOptions,
  EventPublisher,
  EventSpec,
  FreshReader,
  HealRequest,
  HealRequester,
  JsonPatchOp,
  LeaseClient,
  LeaseRecord,
  ReconcileClient,
  StoredLease,
} from './ports';
export {
  endpointFacts,
  nodeFacts,
  podFacts,
  poolFacts,
  reservedIpFacts,
  statefulSetFacts,
  vmFacts,
  vmiFacts,
} from './object-facts';
export { IpRangeSet } from './ip-ranges';
export type { IpListProblem, IpRange } from './ip-ranges';
export { poolIPsOf, poolIpIndex, reservedIpIndex } from './pool-ips';
export type { PoolIpIndex, ReservedIpIndex } from './pool-ips';
export type { KubeObject } from './object-facts';
export { DEFAULT_STATIC_IP_CONFIG, SPIDER_FINALIZER } from './types';
export type {
  EndpointFacts,
  MalformedEntry,
  NodeFacts,
  NodeTaint,
  PodFacts,
  PodTerminationFacts,
  PoolFacts,
  PoolRecord,
  ReservedIpFacts,
  StaticIpConfig,
} from './types';
export { OUT_OF_SERVICE_TAINT, podTerminationState, terminationState } from './termination';
export type { ConfirmedBy, NodeEvidence, TerminationState } from './termination';
export { DEFAULT_TOMBSTONE_LIMITS, PodTombstones } from './tombstones';
export type { TombstoneLimits } from './tombstones';
export { IndexedView, KnownDeletionView, MissRecordingView, OverlayView, emptyFresh } from './view';
export type { ClusterView } from './cluster-view';
export type { FreshObjects, LookupKind, ObjectRef } from './view';
