// Trimmed facts about the Kubernetes objects the rules read. Informers and snapshots keep these, never whole
// objects: a pod's facts are a few hundred bytes where the object is often tens of kilobytes.
import type { IpRangeSet } from './ip-ranges';
import type { PoolAnnotations } from './pool-annotations';

export { SPIDERPOOL_GROUP, SPIDERPOOL_VERSION } from './api-names';
export const SPIDER_FINALIZER = 'spiderpool.spidernet.io';

/** One IP → owner record of a pool's status.allocatedIPs. */
export interface PoolRecord {
  /** "namespace/name" of the pod (KubeVirt: of the VMI) */
  pod: string;
  podUid: string;
}

export interface ControllerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface PodFacts {
  namespace: string;
  name: string;
  uid: string;
  phase: string;
  /** status.reason, e.g. "Evicted" */
  reason: string;
  restartPolicy: string;
  deleting: boolean;
  hostNetwork: boolean;
  /** canonical IPs from status.podIPs (or podIP) and the multus network-status annotations; empty for hostNetwork */
  observedIPs: string[];
  controller?: ControllerRef;
  // No nodeName or resourceVersion: no rule, finding or plan reads them, and at 100,000 pods each costs memory.
  /** Spiderpool's pool-selection annotations, only those keys (absent when the pod has none) */
  poolAnnotations?: PoolAnnotations;
  /** IPs the multus network-status lists on two or more interfaces, with those interfaces (absent when none) */
  interfaceDuplicates?: { ip: string; interfaces: string[] }[];
  /**
   * Set only while the pod is being deleted: what judging its termination needs (model/termination.ts). Its node
   * name is kept here and nowhere else, so a pod that is not being deleted pays nothing for it.
   */
  termination?: PodTerminationFacts;
}

/** The facts of a pod being deleted that say whether anything confirmed it stopped. */
export interface PodTerminationFacts {
  /** metadata.deletionTimestamp in epoch milliseconds (NaN when unreadable) */
  deletedAt: number;
  /** spec.nodeName ('' when the pod was never scheduled) */
  nodeName: string;
  /**
   * status.containerStatuses: 'none' (no entry), 'terminated' (every entry has state.terminated), 'running'
   * (at least one entry without state.terminated)
   */
  containers: 'none' | 'terminated' | 'running';
}

/** A Node taint as the termination rule reads it. */
export interface NodeTaint {
  key: string;
  effect: string;
}

/** What the guard keeps of a Node: enough to know whether it confirmed its pods' termination (model/termination.ts). */
export interface NodeFacts {
  name: string;
  /** status of the Ready condition: 'True', 'False', 'Unknown', or '' when the node reports none */
  ready: string;
  taints: readonly NodeTaint[];
}

export interface StatefulSetFacts {
  namespace: string;
  name: string;
  uid: string;
  replicas: number;
  /** spec.ordinals.start (0 when unset) */
  ordinalsStart: number;
  deleting: boolean;
  /** Spiderpool's pool-selection annotations of spec.template, only those keys (absent when it has none) */
  templatePoolAnnotations?: PoolAnnotations;
}

export interface EndpointIP {
  pool: string;
  /** canonical, prefix stripped */
  ip: string;
  interface: string;
}

export interface EndpointFacts {
  namespace: string;
  name: string;
  /** metadata.uid of the SpiderEndpoint object itself (for delete preconditions) */
  objectUid: string;
  resourceVersion: string;
  /** status.current.uid: the pod incarnation that owns the IPs */
  podUid: string;
  ips: EndpointIP[];
  ownerControllerType: string;
  ownerControllerName: string;
  deleting: boolean;
  finalizers: string[];
}

export interface MalformedEntry {
  /** the offending key (absent when the whole value is unusable) */
  key?: string;
  reason: string;
}

export interface PoolFacts {
  name: string;
  uid: string;
  resourceVersion: string;
  subnet: string;
  family: 4 | 6 | undefined;
  /** well-formed records, keyed by canonical IP */
  records: Map<string, PoolRecord>;
  /** problems found while parsing status.allocatedIPs */
  malformed: MalformedEntry[];
  /** true when status.allocatedIPs could not be parsed at all */
  unparseable: boolean;
  /** number of keys in the map (well-formed or not) */
  keyCount: number;
  allocatedIPCount: number | undefined;
  totalIPCount: number | undefined;
  /**
   * Pool IPs (docs/rules.md, Terms): spec.ips minus spec.excludeIPs, as ranges. The same set object as long as the
   * spec is unchanged (status writes do not rebuild it).
   */
  ips: IpRangeSet;
}

/** A SpiderReservedIP (cluster-scoped): addresses no pool may hand out. */
export interface ReservedIpFacts {
  name: string;
  uid: string;
  /** spec.ips (single IPs and ranges), as ranges */
  ips: IpRangeSet;
}

export interface VmiFacts {
  namespace: string;
  name: string;
  deleting: boolean;
  /** controlled by a kubevirt.io VirtualMachine */
  controlledByVm: boolean;
}

export interface VmFacts {
  namespace: string;
  name: string;
  deleting: boolean;
}

/** Switches Spiderpool itself has (ipam.enableStatefulSet, ipam.enableKubevirtStaticIP), both on by default. */
export interface StaticIpConfig {
  statefulSet: boolean;
  kubevirt: boolean;
}

export const DEFAULT_STATIC_IP_CONFIG: StaticIpConfig = { statefulSet: true, kubevirt: true };

export function nsName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function splitNsName(key: string): { namespace: string; name: string } | undefined {
  const slash = key.indexOf('/');
  if (slash <= 0 || slash === key.length - 1 || key.indexOf('/', slash + 1) >= 0) return undefined;
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
