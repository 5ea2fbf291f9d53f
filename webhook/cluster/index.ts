// webhook/cluster: the only room that talks to the API server (caches, LISTs, fresh reads, writes, leases) or
// reads cluster snapshots. Imports model/ and log/, never admission/ or reconciler/.
// How to change this room: a new watched kind is a reflector in informers.ts (and its RBAC in the chart); a new read or write the other rooms need is a port in model/ports.ts that a client here implements.
export { ClusterReadError } from './errors';
export { KubeEventWriter, QueuedEventPublisher } from './event-publisher';
export type { EventResult, EventWriter } from './event-publisher';
export { ApiFreshReader } from './fresh';
export { kubevirtServed, reservedIPsServed, startClusterCache } from './informers';
export type { ClusterCache } from './informers';
export { DEFAULT_STALE_AFTER_MS } from './reflector';
export { loadKubeConfigFile } from './kubeconfig';
export { KubeLeaseClient } from './lease-client';
export { listClusterView } from './list-view';
export { KubeReconcileClient } from './reconcile-client';
export { SnapshotError, loadSnapshot, readFileBytes, readJsonFile } from './snapshot';
