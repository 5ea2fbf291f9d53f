// Views over a ClusterView that change what some lookups answer: fresh objects read live (OverlayView), lookups the
// cache could not answer recorded for a live read (MissRecordingView), a watched deletion as an answer
// (KnownDeletionView). Every other lookup is forwarded to the base view unchanged.
import type { ClusterView } from './cluster-view';
import { EndpointFacts, NodeFacts, PodFacts, StatefulSetFacts, VmFacts, VmiFacts, nsName } from './types';

/** Objects re-read from the API server: a value replaces the cached one, null means "confirmed absent". */
export interface FreshObjects {
  pods: Map<string, PodFacts | null>;
  /** launcher pods controlled by the VMI "ns/name", as listed live */
  vmiPods: Map<string, PodFacts[]>;
  statefulSets: Map<string, StatefulSetFacts | null>;
  endpoints: Map<string, EndpointFacts | null>;
  vmis: Map<string, VmiFacts | null>;
  vms: Map<string, VmFacts | null>;
  /** Nodes by name (cluster-scoped) */
  nodes: Map<string, NodeFacts | null>;
}

export function emptyFresh(): FreshObjects {
  return {
    pods: new Map(),
    vmiPods: new Map(),
    statefulSets: new Map(),
    endpoints: new Map(),
    vmis: new Map(),
    vms: new Map(),
    nodes: new Map(),
  };
}

function pick<T>(fresh: Map<string, T | null>, key: string, cached: () => T | undefined): T | undefined {
  if (fresh.has(key)) return fresh.get(key) ?? undefined;
  return cached();
}

/** Forwards every lookup to a base view; the wrappers below override only what they change. */
class ForwardingView implements ClusterView {
  constructor(protected readonly base: ClusterView) {}
  pod(namespace: string, name: string) {
    return this.base.pod(namespace, name);
  }
  podDeletionWatched(namespace: string, name: string, uid: string) {
    return this.base.podDeletionWatched(namespace, name, uid);
  }
  podsObserving(ip: string) {
    return this.base.podsObserving(ip);
  }
  podsControlledBy(namespace: string, kind: string, name: string) {
    return this.base.podsControlledBy(namespace, kind, name);
  }
  statefulSet(namespace: string, name: string) {
    return this.base.statefulSet(namespace, name);
  }
  endpoint(namespace: string, name: string) {
    return this.base.endpoint(namespace, name);
  }
  endpointsListing(ip: string) {
    return this.base.endpointsListing(ip);
  }
  pool(name: string) {
    return this.base.pool(name);
  }
  vmi(namespace: string, name: string) {
    return this.base.vmi(namespace, name);
  }
  vm(namespace: string, name: string) {
    return this.base.vm(namespace, name);
  }
  node(name: string) {
    return this.base.node(name);
  }
  tracksNodes() {
    return this.base.tracksNodes();
  }
  allPods() {
    return this.base.allPods();
  }
  allEndpoints() {
    return this.base.allEndpoints();
  }
  allPools() {
    return this.base.allPools();
  }
  allStatefulSets() {
    return this.base.allStatefulSets();
  }
  reservedIPs() {
    return this.base.reservedIPs();
  }
}

/** The cached view with freshly read objects laid over it (see docs/architecture.md, Fresh evidence). */
export class OverlayView extends ForwardingView {
  constructor(
    base: ClusterView,
    private readonly fresh: FreshObjects,
  ) {
    super(base);
  }
  override pod(namespace: string, name: string) {
    return pick(this.fresh.pods, nsName(namespace, name), () => this.base.pod(namespace, name));
  }
  override podDeletionWatched(namespace: string, name: string, uid: string) {
    // a live read of that name is the newer truth
    return !this.fresh.pods.has(nsName(namespace, name)) && this.base.podDeletionWatched(namespace, name, uid);
  }
  private freshPods(): PodFacts[] {
    return [...this.fresh.pods.values()].filter((p): p is PodFacts => p !== null);
  }
  override podsObserving(ip: string) {
    const kept = this.base.podsObserving(ip).filter((p) => !this.fresh.pods.has(nsName(p.namespace, p.name)));
    return [...kept, ...this.freshPods().filter((p) => p.observedIPs.includes(ip))];
  }
  override podsControlledBy(namespace: string, kind: string, name: string) {
    const listed = kind === 'VirtualMachineInstance' ? this.fresh.vmiPods.get(nsName(namespace, name)) : undefined;
    if (listed) return listed;
    const match = (p: PodFacts) =>
      p.namespace === namespace && p.controller?.kind === kind && p.controller.name === name;
    const kept = this.base
      .podsControlledBy(namespace, kind, name)
      .filter((p) => !this.fresh.pods.has(nsName(p.namespace, p.name)));
    return [...kept, ...this.freshPods().filter(match)];
  }
  override statefulSet(namespace: string, name: string) {
    return pick(this.fresh.statefulSets, nsName(namespace, name), () => this.base.statefulSet(namespace, name));
  }
  override endpoint(namespace: string, name: string) {
    return pick(this.fresh.endpoints, nsName(namespace, name), () => this.base.endpoint(namespace, name));
  }
  override endpointsListing(ip: string) {
    const kept = this.base.endpointsListing(ip).filter((e) => !this.fresh.endpoints.has(nsName(e.namespace, e.name)));
    const fresh = [...this.fresh.endpoints.values()].filter(
      (e): e is EndpointFacts => e !== null && e.ips.some((i) => i.ip === ip),
    );
    return [...kept, ...fresh];
  }
  override vmi(namespace: string, name: string) {
    return pick(this.fresh.vmis, nsName(namespace, name), () => this.base.vmi(namespace, name));
  }
  override vm(namespace: string, name: string) {
    return pick(this.fresh.vms, nsName(namespace, name), () => this.base.vm(namespace, name));
  }
  override node(name: string) {
    return pick(this.fresh.nodes, name, () => this.base.node(name));
  }
  override tracksNodes() {
    // a Node read live (found or confirmed absent) is known whatever the cache tracks
    return this.fresh.nodes.size > 0 || this.base.tracksNodes();
  }
}

export type LookupKind = 'pod' | 'vmiPods' | 'statefulSet' | 'endpoint' | 'vmi' | 'vm' | 'node';

export interface ObjectRef {
  kind: LookupKind;
  /** '' for cluster-scoped kinds (Nodes) */
  namespace: string;
  name: string;
}

/** Wraps a view and remembers which by-name lookups missed, so the caller can read them live before trusting "absent". */
export class MissRecordingView extends ForwardingView {
  readonly misses = new Map<string, ObjectRef>();
  private note<T>(kind: LookupKind, namespace: string, name: string, found: T | undefined): T | undefined {
    if (found === undefined) this.misses.set(`${kind}:${namespace}/${name}`, { kind, namespace, name });
    return found;
  }
  override pod(namespace: string, name: string) {
    return this.note('pod', namespace, name, this.base.pod(namespace, name));
  }
  override podsControlledBy(namespace: string, kind: string, name: string) {
    const pods = this.base.podsControlledBy(namespace, kind, name);
    if (pods.length === 0 && kind === 'VirtualMachineInstance') this.note('vmiPods', namespace, name, undefined);
    return pods;
  }
  override statefulSet(namespace: string, name: string) {
    return this.note('statefulSet', namespace, name, this.base.statefulSet(namespace, name));
  }
  override endpoint(namespace: string, name: string) {
    return this.note('endpoint', namespace, name, this.base.endpoint(namespace, name));
  }
  override vmi(namespace: string, name: string) {
    return this.note('vmi', namespace, name, this.base.vmi(namespace, name));
  }
  override vm(namespace: string, name: string) {
    return this.note('vm', namespace, name, this.base.vm(namespace, name));
  }
  override node(name: string) {
    // only a view that knows Nodes can miss one; without Nodes the node is assumed to exist
    const found = this.base.node(name);
    return this.base.tracksNodes() ? this.note('node', '', name, found) : found;
  }
}

/**
 * The view a release of one record is judged on: when the watch saw exactly the record's incarnation deleted and
 * nothing of that name since, the pod lookup of that name answers "absent" without asking the base view, so a
 * MissRecordingView below does not turn it into a live read.
 *
 * The KubeVirt lookups of that name (the VMI, the VM, the VMI's launcher pods) answer "absent" too. A KubeVirt record
 * is named after its VMI and carries its launcher pod's uid, and a launcher pod is never named like its VMI
 * (`virt-launcher-<vmi>-<suffix>`): a pod literally named like the record, with the record's uid, deleted, proves the
 * record was that plain pod's, not a VM's. A uid names one incarnation, so no VMI's launcher can carry it, and the
 * questions "is a launcher of this name alive, is this name a restarting VM" are about another object than the record.
 * Without this, every release of a gone pod on a cluster that serves KubeVirt read the VMI and listed its launcher
 * pods live. The StatefulSet and endpoint checks and the pod indexes go through as usual, read live on a miss.
 */
export class KnownDeletionView extends ForwardingView {
  constructor(
    base: ClusterView,
    private readonly namespace: string,
    private readonly name: string,
    private readonly uid: string,
  ) {
    super(base);
  }
  /** the record's own name, and the watch saw its incarnation deleted with nothing of that name since */
  private knownGone(namespace: string, name: string): boolean {
    return (
      namespace === this.namespace && name === this.name && this.base.podDeletionWatched(namespace, name, this.uid)
    );
  }
  override pod(namespace: string, name: string) {
    return this.knownGone(namespace, name) ? undefined : this.base.pod(namespace, name);
  }
  override podsControlledBy(namespace: string, kind: string, name: string) {
    if (kind === 'VirtualMachineInstance' && this.knownGone(namespace, name)) return [];
    return this.base.podsControlledBy(namespace, kind, name);
  }
  override vmi(namespace: string, name: string) {
    return this.knownGone(namespace, name) ? undefined : this.base.vmi(namespace, name);
  }
  override vm(namespace: string, name: string) {
    return this.knownGone(namespace, name) ? undefined : this.base.vm(namespace, name);
  }
}
