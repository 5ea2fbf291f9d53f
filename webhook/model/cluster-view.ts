// ClusterView: the read-only facts every decision is made from, as an interface. IndexedView (view.ts) implements it
// over indexes, the wrappers (view-wrappers.ts) over another view; both import it from here, so neither imports the
// other's file to learn the shape.
import type {
  EndpointFacts,
  NodeFacts,
  PodFacts,
  PoolFacts,
  ReservedIpFacts,
  StatefulSetFacts,
  VmFacts,
  VmiFacts,
} from './types';

export interface ClusterView {
  pod(namespace: string, name: string): PodFacts | undefined;
  /**
   * Whether the pod watch delivered the deletion of exactly this incarnation and nothing of that name has arrived
   * since (model/tombstones.ts says why that is as good as a live read). False wherever nothing was watched.
   */
  podDeletionWatched(namespace: string, name: string, uid: string): boolean;
  /** pods whose observed IPs include this canonical IP */
  podsObserving(ip: string): PodFacts[];
  /** pods whose controller ownerReference is kind/name in the namespace (KubeVirt launcher pods of a VMI) */
  podsControlledBy(namespace: string, kind: string, name: string): PodFacts[];
  statefulSet(namespace: string, name: string): StatefulSetFacts | undefined;
  endpoint(namespace: string, name: string): EndpointFacts | undefined;
  /** endpoints listing this canonical IP (in any pool) */
  endpointsListing(ip: string): EndpointFacts[];
  pool(name: string): PoolFacts | undefined;
  vmi(namespace: string, name: string): VmiFacts | undefined;
  vm(namespace: string, name: string): VmFacts | undefined;
  /** the Node of that name (only meaningful when tracksNodes()) */
  node(name: string): NodeFacts | undefined;
  /**
   * Whether this view knows the cluster's Nodes (a live cache; a snapshot that includes Nodes). When it does not, a
   * pod's node is assumed to exist, without taints (model/termination.ts).
   */
  tracksNodes(): boolean;
  allPods(): Iterable<PodFacts>;
  allEndpoints(): Iterable<EndpointFacts>;
  allPools(): Iterable<PoolFacts>;
  allStatefulSets(): Iterable<StatefulSetFacts>;
  /** the SpiderReservedIPs (none where they are not listed or watched) */
  reservedIPs(): Iterable<ReservedIpFacts>;
}
