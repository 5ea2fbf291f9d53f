// IndexedView: the ClusterView (cluster-view.ts) over indexes. The same indexes back the live informer caches
// (serve), a `kubectl get -o json` snapshot (CLI) and the reconciler, so all callers judge from one shape.
import {
  EndpointFacts,
  NodeFacts,
  PodFacts,
  PoolFacts,
  PoolRecord,
  ReservedIpFacts,
  StatefulSetFacts,
  VmFacts,
  VmiFacts,
  nsName,
} from './types';
import { PodTombstones } from './tombstones';
import { recordsFromScan } from './allocation-scan';
import type { ClusterView } from './cluster-view';

export type { ClusterView } from './cluster-view';

/**
 * key → the objects (of one namespace/name each) filed under it. Most buckets hold one object (an IP is observed by
 * one pod), so such a bucket is the object itself; a bucket of several is a frozen array replaced on every change,
 * which lookups hand out without copying. (A one-entry Map per bucket costs several times more memory, and a
 * one-element array per bucket about 56 bytes per pod and per endpoint at 100,000 of each.)
 */
class MultiIndex<V extends { namespace: string; name: string }> {
  private readonly map = new Map<string, V | readonly V[]>();
  add(key: string, value: V): void {
    const old = this.map.get(key);
    const others = old === undefined ? [] : bucket(old).filter((v) => !sameName(v, value.namespace, value.name));
    // a bucket of one is the object itself, also when `value` replaces the object of its own name
    this.map.set(key, others.length === 0 ? value : Object.freeze([...others, value]));
  }
  remove(key: string, namespace: string, name: string): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    const all = bucket(old);
    const kept = all.filter((v) => !sameName(v, namespace, name));
    if (kept.length === 0) this.map.delete(key);
    else if (kept.length === 1) this.map.set(key, kept[0]);
    else if (kept.length !== all.length) this.map.set(key, Object.freeze(kept));
  }
  get(key: string): V[] {
    const hit = this.map.get(key);
    return (hit === undefined ? [] : bucket(hit)) as V[];
  }
  /** What is filed under `key` as stored: the one object, the frozen array of several, or undefined (no copy). */
  entry(key: string): V | readonly V[] | undefined {
    return this.map.get(key);
  }
}

function bucket<V>(entry: V | readonly V[]): readonly V[] {
  return Array.isArray(entry) ? (entry as readonly V[]) : [entry as V];
}

function sameName(v: { namespace: string; name: string }, namespace: string, name: string): boolean {
  return v.namespace === namespace && v.name === name;
}

/**
 * namespace → name → value. Lookups by (namespace, name) need no "ns/name" string: building and hashing one per
 * lookup was the largest cost of a reconcile pass over 100,000 pods.
 */
class NamespacedMap<V> {
  private readonly byNamespace = new Map<string, Map<string, V>>();
  private count = 0;
  get(namespace: string, name: string): V | undefined {
    return this.byNamespace.get(namespace)?.get(name);
  }
  has(namespace: string, name: string): boolean {
    return this.byNamespace.get(namespace)?.has(name) ?? false;
  }
  set(namespace: string, name: string, value: V): void {
    let names = this.byNamespace.get(namespace);
    if (!names) this.byNamespace.set(namespace, (names = new Map()));
    if (!names.has(name)) this.count++;
    names.set(name, value);
  }
  delete(namespace: string, name: string): void {
    const names = this.byNamespace.get(namespace);
    if (!names?.delete(name)) return;
    this.count--;
    if (names.size === 0) this.byNamespace.delete(namespace);
  }
  *values(): IterableIterator<V> {
    for (const names of this.byNamespace.values()) yield* names.values();
  }
  get size(): number {
    return this.count;
  }
}

/*
 * A pod and its SpiderEndpoint (same namespace and name) hold equal name strings, equal IP strings (an observed IP,
 * the endpoint's IP of it) and, while the endpoint belongs to this incarnation, equal uid strings (metadata.uid,
 * status.current.uid), each parsed from its own watch event: at 100,000 pods the copies cost about 120 bytes per pod.
 * The newcomer takes the cached one's instances (which are also the cached one's index keys). Only equal strings
 * are exchanged, so every comparison decides as before.
 */
function takePodStrings(endpoint: EndpointFacts, pod: PodFacts): void {
  endpoint.name = pod.name;
  if (endpoint.podUid === pod.uid) endpoint.podUid = pod.uid;
  for (const i of endpoint.ips) {
    const same = pod.observedIPs.find((ip) => ip === i.ip);
    if (same !== undefined && !Object.isFrozen(i)) i.ip = same;
  }
}

function takeEndpointStrings(pod: PodFacts, endpoint: EndpointFacts): void {
  pod.name = endpoint.name;
  if (pod.uid === endpoint.podUid) pod.uid = endpoint.podUid;
  const ips = pod.observedIPs;
  if (Object.isFrozen(ips)) return;
  for (let k = 0; k < ips.length; k++) {
    const same = endpoint.ips.find((i) => i.ip === ips[k]);
    if (same !== undefined) ips[k] = same.ip;
  }
}

/*
 * A pool record of a live pod holds the pod's uid once more, parsed from the pool's own status (56 bytes per record
 * at 100,000 records). The record takes the cached pod's instance when the strings are equal; comparisons decide as
 * before. The record is found through what the view already indexes: the pods observing its IP (a pool arriving), or
 * the pools an endpoint names for its IPs (a pod or endpoint arriving after its pool, as at start-up, where the one
 * pool page lands long before the pods).
 */
function shareRecordUid(record: PoolRecord | undefined, pod: PodFacts): void {
  if (record !== undefined && record.podUid === pod.uid) record.podUid = pod.uid;
}

/**
 * The record of `ip` in `records` takes the pod's instances of the strings they share. A scanned pool (Spiderpool's
 * sorted form, the usual case) holds each key as a string of its own, which takes the pod's IP (ScanRecords.shareKey);
 * its uids are slices of the scanned text, which stays alive through its other slices, so another uid instance frees
 * nothing there. A record parsed on its own takes the pod's uid (shareRecordUid).
 */
function shareWithRecords(records: ReadonlyMap<string, PoolRecord>, ip: string, pod: PodFacts): void {
  if (recordsFromScan(records)) records.shareKey(ip);
  else shareRecordUid(records.get(ip), pod);
}

/** A mutable, indexed ClusterView: informers call upsert/remove; snapshots fill it once. */
export class IndexedView implements ClusterView {
  private readonly pods = new NamespacedMap<PodFacts>();
  private readonly podsByIp = new MultiIndex<PodFacts>();
  /**
   * namespace → controller name → pods; the kind is checked on lookup. Keyed by the name string the (shared)
   * controller reference already holds: a "namespace/kind/name" key per controller cost two new strings each.
   */
  private readonly podsByController = new Map<string, MultiIndex<PodFacts>>();
  private readonly statefulSets = new Map<string, StatefulSetFacts>();
  private readonly endpoints = new NamespacedMap<EndpointFacts>();
  private readonly endpointsByIp = new MultiIndex<EndpointFacts>();
  private readonly pools = new Map<string, PoolFacts>();
  private readonly vmis = new Map<string, VmiFacts>();
  private readonly vms = new Map<string, VmFacts>();
  private readonly reserved = new Map<string, ReservedIpFacts>();
  private readonly nodes = new Map<string, NodeFacts>();
  private nodesTracked = false;

  /** @param tombstones the live cache's pod tombstones (snapshots and tests without a watch have none) */
  constructor(readonly tombstones?: PodTombstones) {}

  upsertPod(p: PodFacts): void {
    this.tombstones?.forget(p.namespace, p.name);
    const e = this.endpoints.get(p.namespace, p.name);
    if (e) {
      takeEndpointStrings(p, e);
      this.shareRecordStrings(e, p);
    }
    this.removePod(p.namespace, p.name);
    this.pods.set(p.namespace, p.name, p);
    for (const ip of p.observedIPs) this.podsByIp.add(ip, p);
    if (p.controller) {
      let byName = this.podsByController.get(p.namespace);
      if (!byName) this.podsByController.set(p.namespace, (byName = new MultiIndex()));
      byName.add(p.controller.name, p);
    }
  }
  removePod(namespace: string, name: string): void {
    const old = this.pods.get(namespace, name);
    if (!old) return;
    this.pods.delete(namespace, name);
    for (const ip of old.observedIPs) this.podsByIp.remove(ip, namespace, name);
    if (old.controller) this.podsByController.get(namespace)?.remove(old.controller.name, namespace, name);
  }
  upsertStatefulSet(s: StatefulSetFacts): void {
    this.statefulSets.set(nsName(s.namespace, s.name), s);
  }
  removeStatefulSet(namespace: string, name: string): void {
    this.statefulSets.delete(nsName(namespace, name));
  }
  upsertEndpoint(e: EndpointFacts): void {
    const p = this.pods.get(e.namespace, e.name);
    if (p) {
      takePodStrings(e, p);
      this.shareRecordStrings(e, p);
    }
    this.removeEndpoint(e.namespace, e.name);
    this.endpoints.set(e.namespace, e.name, e);
    for (const ip of new Set(e.ips.map((i) => i.ip))) this.endpointsByIp.add(ip, e);
  }
  removeEndpoint(namespace: string, name: string): void {
    const old = this.endpoints.get(namespace, name);
    if (!old) return;
    this.endpoints.delete(namespace, name);
    for (const ip of new Set(old.ips.map((i) => i.ip))) this.endpointsByIp.remove(ip, namespace, name);
  }
  upsertPool(p: PoolFacts): void {
    const records = p.records;
    // A full scan's keys are all new strings; a diff's scan keeps the earlier scan's keys, already shared (a key the
    // write added is shared when its endpoint arrives after it): the pass (about 75 ns a key) runs only for full scans.
    if (recordsFromScan(records)) {
      if (!records.derived) records.shareKeys((ip) => this.observedInstance(ip));
    } else
      for (const [ip, record] of records) {
        const pods = this.podsByIp.entry(ip);
        if (pods === undefined) continue;
        if (Array.isArray(pods)) for (const pod of pods as readonly PodFacts[]) shareRecordUid(record, pod);
        else shareRecordUid(record, pods as PodFacts);
      }
    this.pools.set(p.name, p);
  }
  /** A cached pod's instance of the IP string `ip`, when a pod observes it. */
  private observedInstance(ip: string): string | undefined {
    const entry = this.podsByIp.entry(ip);
    if (entry === undefined) return undefined;
    const pod = Array.isArray(entry) ? (entry as readonly PodFacts[])[0] : (entry as PodFacts);
    return pod.observedIPs.find((o) => o === ip);
  }
  /** The records of the endpoint's IPs in the pools it names take the pod's strings (shareWithRecords). */
  private shareRecordStrings(e: EndpointFacts, p: PodFacts): void {
    for (const i of e.ips) {
      const records = this.pools.get(i.pool)?.records;
      if (records) shareWithRecords(records, i.ip, p);
    }
  }
  removePool(name: string): void {
    this.pools.delete(name);
  }
  upsertVmi(v: VmiFacts): void {
    this.vmis.set(nsName(v.namespace, v.name), v);
  }
  removeVmi(namespace: string, name: string): void {
    this.vmis.delete(nsName(namespace, name));
  }
  upsertVm(v: VmFacts): void {
    this.vms.set(nsName(v.namespace, v.name), v);
  }
  removeVm(namespace: string, name: string): void {
    this.vms.delete(nsName(namespace, name));
  }
  upsertReservedIP(r: ReservedIpFacts): void {
    this.reserved.set(r.name, r);
  }
  removeReservedIP(name: string): void {
    this.reserved.delete(name);
  }
  /** From now on this view knows the cluster's Nodes: a node it lacks does not exist. */
  trackNodes(): void {
    this.nodesTracked = true;
  }
  upsertNode(n: NodeFacts): void {
    this.nodesTracked = true;
    this.nodes.set(n.name, n);
  }
  removeNode(name: string): void {
    this.nodes.delete(name);
  }

  pod(namespace: string, name: string) {
    return this.pods.get(namespace, name);
  }
  podDeletionWatched(namespace: string, name: string, uid: string) {
    return !!this.tombstones && !this.pods.has(namespace, name) && this.tombstones.deleted(namespace, name, uid);
  }
  podsObserving(ip: string) {
    return this.podsByIp.get(ip);
  }
  podsControlledBy(namespace: string, kind: string, name: string) {
    return (this.podsByController.get(namespace)?.get(name) ?? []).filter((p) => p.controller?.kind === kind);
  }
  statefulSet(namespace: string, name: string) {
    return this.statefulSets.get(nsName(namespace, name));
  }
  endpoint(namespace: string, name: string) {
    return this.endpoints.get(namespace, name);
  }
  endpointsListing(ip: string) {
    return this.endpointsByIp.get(ip);
  }
  pool(name: string) {
    return this.pools.get(name);
  }
  vmi(namespace: string, name: string) {
    return this.vmis.get(nsName(namespace, name));
  }
  vm(namespace: string, name: string) {
    return this.vms.get(nsName(namespace, name));
  }
  node(name: string) {
    return this.nodes.get(name);
  }
  tracksNodes() {
    return this.nodesTracked;
  }
  allNodes() {
    return this.nodes.values();
  }
  allPods() {
    return this.pods.values();
  }
  allEndpoints() {
    return this.endpoints.values();
  }
  allPools() {
    return this.pools.values();
  }
  allStatefulSets() {
    return this.statefulSets.values();
  }
  reservedIPs() {
    return this.reserved.values();
  }
  allVmis() {
    return this.vmis.values();
  }
  allVms() {
    return this.vms.values();
  }
  counts() {
    return {
      pods: this.pods.size,
      endpoints: this.endpoints.size,
      pools: this.pools.size,
      statefulSets: this.statefulSets.size,
      nodes: this.nodes.size,
    };
  }
}

// The wrappers live beside the view; re-exported so that `./view` stays the one place to import views from.
export { KnownDeletionView, MissRecordingView, OverlayView, emptyFresh } from './view-wrappers';
export type { FreshObjects, LookupKind, ObjectRef } from './view-wrappers';
