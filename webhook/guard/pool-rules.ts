// Rules for UPDATEs of spiderippools/status (docs/rules.md, Pool status rules).
import {
  cachedDiff,
  cachedScan,
  emptyScan,
  sharedScanCache,
  AllocationDiff,
  PoolAddressing,
  changedMalformed,
  diffRecords,
  parseAllocatedIPs,
  poolFamily,
  isAlive,
  isOnePod,
  isRestartingStaticMember,
  podTerminationState,
  OUT_OF_SERVICE_TAINT,
  PoolRecord,
  TerminationState,
  isStaticEndpointType,
  parseOrdinalName,
  KubeObject,
  EndpointFacts,
  MalformedEntry,
  PodFacts,
  StaticIpConfig,
  nsName,
  splitNsName,
  ClusterView,
  ObjectRef,
} from '../model';
import {
  aliveWithUid,
  nameRefs,
  podRef,
  podsOfRecordName,
  recordNameRefs,
  releaseView,
  sameName,
  summarizePod,
} from './facts';
import { ViolationCollector } from './collector';

export interface PoolUpdate {
  pool: string;
  diff: AllocationDiff;
  /**
   * problems of the new allocatedIPs that this write brings in: the value itself, or entries it adds or changes
   * (entries left exactly as they were are not judged; docs/rules.md, Pool status rules)
   */
  malformed: MalformedEntry[];
  /** the new allocatedIPs is not a JSON object at all */
  unparseable: boolean;
  /** number of keys in the new map, well-formed or not */
  keyCount: number;
  /** the decoded new map (undefined when unparseable); decoded on demand, only a repair needs it */
  newEntries(): Record<string, unknown> | undefined;
}

function field(o: KubeObject | undefined, ...path: string[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** The general path: decode both values with JSON.parse and diff the well-formed records. */
function parsedPoolUpdate(pool: string, oldValue: unknown, newValue: unknown, addressing: PoolAddressing): PoolUpdate {
  const newParsed = parseAllocatedIPs(newValue, addressing);
  const oldParsed = parseAllocatedIPs(oldValue, addressing);
  return {
    pool,
    diff: diffRecords(oldParsed.records, newParsed.records),
    malformed: changedMalformed(oldParsed, newParsed),
    unparseable: newParsed.unparseable,
    keyCount: newParsed.keyCount,
    newEntries: () => newParsed.raw,
  };
}

/**
 * Parses old and new allocatedIPs with the pool's addressing and diffs the well-formed records. Strings in Go's
 * strict form (what Spiderpool writes) take the incremental path: only the changed middle is scanned.
 */
export function readPoolUpdate(object: KubeObject | undefined, oldObject: KubeObject | undefined): PoolUpdate {
  const subnet = String(field(object, 'spec', 'subnet') ?? field(oldObject, 'spec', 'subnet') ?? '');
  const family = poolFamily(field(object, 'spec', 'ipVersion'), subnet);
  const addressing = { subnet, family };
  const pool = String(field(object, 'metadata', 'name') ?? field(oldObject, 'metadata', 'name') ?? '');
  const newValue = field(object, 'status', 'allocatedIPs');
  const oldValue = field(oldObject, 'status', 'allocatedIPs');
  if (typeof newValue === 'string' && (typeof oldValue === 'string' || oldValue === undefined || oldValue === null)) {
    const oldScan = typeof oldValue === 'string' ? cachedScan(oldValue, addressing) : emptyScan(addressing);
    const fast = oldScan && cachedDiff(oldScan, newValue, addressing);
    if (fast) {
      sharedScanCache.put(fast.newScan);
      let decoded: Record<string, unknown> | undefined;
      return {
        pool,
        diff: { removed: fast.removed, added: fast.added, rewritten: fast.rewritten },
        malformed: fast.malformed,
        unparseable: false,
        keyCount: fast.newScan.keys.length,
        newEntries: () => (decoded ??= JSON.parse(newValue) as Record<string, unknown>),
      };
    }
  }
  return parsedPoolUpdate(pool, oldValue, newValue, addressing);
}

function staticRefs(namespace: string, name: string, cfg: StaticIpConfig): ObjectRef[] {
  const refs = nameRefs(namespace, name, cfg);
  const parsed = parseOrdinalName(name);
  if (parsed) refs.push({ kind: 'statefulSet', namespace, name: parsed.set });
  if (cfg.kubevirt) refs.push({ kind: 'vm', namespace, name });
  refs.push({ kind: 'endpoint', namespace, name });
  return refs;
}

/**
 * The SpiderEndpoint of static member namespace/name when it lists `ip` in `pool` and the member is restarting for
 * `pool` (docs/rules.md, Terms): its next incarnation reuses that IP, so no other pod may hold it. A member whose next
 * incarnation is annotated with other pools is not restarting for this one. `memberView` judges the member (a release
 * judges it on the view that knows its record's incarnation deleted); `view` gives the endpoint.
 * STATIC_IP_RELEASE (the release of such an IP) and DOUBLE_ALLOCATION (its allocation to another pod) both ask this.
 */
function reservedByRestartingMember(
  memberView: ClusterView,
  view: ClusterView,
  namespace: string,
  name: string,
  ip: string,
  pool: string,
  cfg: StaticIpConfig,
): EndpointFacts | undefined {
  if (!isRestartingStaticMember(memberView, namespace, name, cfg, pool)) return undefined;
  const ep = view.endpoint(namespace, name);
  return ep && ep.ips.some((i) => i.ip === ip && i.pool === pool) ? ep : undefined;
}

/** "endpoint type StatefulSet", and whether the member was judged by its name alone (an endpoint of another type). */
function endpointTypeText(ep: EndpointFacts): string {
  return `endpoint type ${ep.ownerControllerType || 'unknown'}${isStaticEndpointType(ep.ownerControllerType) ? '' : ', judged by name'}`;
}

export function malformedViolations(u: PoolUpdate, out: ViolationCollector): void {
  for (const m of u.malformed) {
    if (out.done) return;
    out.add({
      rule: 'MALFORMED_ALLOCATIONS',
      ip: m.key,
      pool: u.pool,
      detail: m.key === undefined ? m.reason : `key ${JSON.stringify(m.key)}: ${m.reason}`,
      evidence: [],
    });
  }
}

/** The time and hold max terminations are judged with (guard/evaluate.ts terminationJudge). */
export interface TerminationJudge {
  /** epoch ms; NaN when no clock was given (a hold max cannot expire then) */
  now: number;
  holdMaxMs?: number;
}

type Unconfirmed = Extract<TerminationState, { state: 'unconfirmed' }>;

/**
 * The record's own incarnation when it is being deleted and its termination is unconfirmed (docs/rules.md, Terms):
 * its sandbox may still answer on the IP. The Node is looked up only here, for a pod being deleted: the hot path of
 * every other release never touches the Node cache.
 */
function unconfirmedIncarnation(
  view: ClusterView,
  pods: PodFacts[],
  rec: PoolRecord,
  judge: TerminationJudge,
): { pod: PodFacts; state: Unconfirmed } | undefined {
  for (const pod of pods) {
    if (pod.uid !== rec.podUid || !pod.deleting) continue;
    const state = podTerminationState(view, pod, judge.now, judge.holdMaxMs);
    if (state.state === 'unconfirmed') return { pod, state };
  }
  return undefined;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/**
 * Why the IP is held and how to end the hold: this text reaches the writer's error, the audit line and the Event on
 * the terminating pod, where an operator looks first.
 */
function heldDetail(pod: PodFacts, s: Unconfirmed, now: number): string {
  const ready = s.nodeReady === undefined ? '' : `, node Ready ${s.nodeReady || 'not reported'}`;
  const since = Number.isFinite(now) && Number.isFinite(s.deletedAt) ? ` ${duration(now - s.deletedAt)} ago` : '';
  const missing =
    s.waitingFor === 'containers'
      ? 'its containers have not reported terminated'
      : 'it reports no container statuses yet observes IPs';
  return (
    `release of the IP of pod ${pod.namespace}/${pod.name}, deleted${since}, whose termination node ${s.nodeName} has not confirmed (${missing}${ready}): ` +
    `its sandbox may still answer on the IP. The IP stays held until the node confirms, the Node ${s.nodeName} is deleted, ` +
    `or it is tainted: kubectl taint nodes ${s.nodeName} ${OUT_OF_SERVICE_TAINT}=nodeshutdown:NoExecute`
  );
}

/**
 * LIVE_IP_RELEASE, STATIC_IP_RELEASE and UNCONFIRMED_TERMINATION_RELEASE: releases a guarded writer must not make.
 * UNCONFIRMED_TERMINATION_RELEASE is judged only where LIVE_IP_RELEASE is not: one removed record, one of the two.
 */
export function releaseViolations(
  u: PoolUpdate,
  view: ClusterView,
  cfg: StaticIpConfig,
  out: ViolationCollector,
  judge: TerminationJudge = { now: NaN },
): void {
  for (const { ip, old: rec, next } of u.diff.removed) {
    if (out.done) return;
    // A key handed to another pod in the same write: that pod observing the IP is the point, not a conflict.
    // For a KubeVirt record (named after the VMI) "that pod" is the VMI's launcher pod (docs/rules.md, Terms).
    const newOwners = next ? podsOfRecordName(view, next.pod, cfg) : [];
    const isNewOwner = (p: PodFacts) =>
      !!next && (sameName(p, next.pod) || newOwners.some((o) => sameName(p, nsName(o.namespace, o.name))));
    const observers = view.podsObserving(ip).filter((p) => isAlive(p) && !isNewOwner(p));
    // the record's own pod, StatefulSet and KubeVirt checks: a watched deletion of its incarnation needs no live read
    const recordView = releaseView(view, rec);
    const recordPods = podsOfRecordName(recordView, rec.pod, cfg);
    const holder = aliveWithUid(recordPods, rec.podUid);
    if (observers.length > 0) {
      out.add({
        rule: 'LIVE_IP_RELEASE',
        ip,
        pool: u.pool,
        record: rec,
        livePod: summarizePod(observers[0]),
        detail: `release of an IP observed on alive pod ${observers[0].namespace}/${observers[0].name}`,
        evidence: observers.map(podRef),
      });
    } else if (holder) {
      out.add({
        rule: 'LIVE_IP_RELEASE',
        ip,
        pool: u.pool,
        record: rec,
        livePod: summarizePod(holder),
        detail: 'release of a record whose pod is alive with the recorded uid',
        evidence: [podRef(holder)],
      });
    } else {
      const held = unconfirmedIncarnation(recordView, recordPods, rec, judge);
      if (held) {
        out.add({
          rule: 'UNCONFIRMED_TERMINATION_RELEASE',
          ip,
          pool: u.pool,
          record: rec,
          livePod: summarizePod(held.pod),
          detail: heldDetail(held.pod, held.state, judge.now),
          // fresh evidence: the pod (its statuses) and its Node (deleted? tainted?) are re-read before denying
          evidence: [
            podRef(held.pod),
            ...(held.state.nodeName ? [{ kind: 'node' as const, namespace: '', name: held.state.nodeName }] : []),
          ],
        });
      }
    }
    const name = splitNsName(rec.pod);
    const ep = name && reservedByRestartingMember(recordView, view, name.namespace, name.name, ip, u.pool, cfg);
    if (name && ep) {
      out.add({
        rule: 'STATIC_IP_RELEASE',
        ip,
        pool: u.pool,
        record: rec,
        livePod: recordPods[0] ? summarizePod(recordPods[0]) : undefined,
        endpoint: nsName(ep.namespace, ep.name),
        detail: `release of a restarting static member's IP (${endpointTypeText(ep)} still lists it; the next incarnation reuses it)`,
        evidence: staticRefs(name.namespace, name.name, cfg),
      });
    }
  }
}

export function staleRewriteViolations(
  u: PoolUpdate,
  view: ClusterView,
  cfg: StaticIpConfig,
  out: ViolationCollector,
): void {
  for (const { ip, old, next } of u.diff.rewritten) {
    if (out.done) return;
    const pods = podsOfRecordName(view, next.pod, cfg);
    if (pods.some((p) => p.uid === next.podUid)) continue;
    out.add({
      rule: 'STALE_UID_REWRITE',
      ip,
      pool: u.pool,
      record: next,
      livePod: pods[0] ? summarizePod(pods[0]) : undefined,
      detail: pods.length
        ? `podUid rewritten from ${old.podUid} to ${next.podUid}, which is not the uid of the live pod`
        : `podUid rewritten from ${old.podUid} to ${next.podUid} but no pod of that name exists`,
      evidence: recordNameRefs(next.pod, cfg),
    });
  }
}

/**
 * An endpoint other than `recordPod`'s listing `ip` in `pool`, whose pod is alive with the endpoint's uid, and that pod.
 * A pod that counts as one of `own` (a launcher pod of the same VMI) is not another pod.
 */
function aliveEndpointHolder(
  view: ClusterView,
  ip: string,
  pool: string,
  recordPod: string,
  own: PodFacts[],
  cfg: StaticIpConfig,
): { endpoint: EndpointFacts; pod: PodFacts } | undefined {
  for (const e of view.endpointsListing(ip)) {
    const name = nsName(e.namespace, e.name);
    if (name === recordPod || !e.ips.some((i) => i.ip === ip && i.pool === pool)) continue;
    const pod = aliveWithUid(podsOfRecordName(view, name, cfg), e.podUid);
    if (pod && !own.some((o) => isOnePod(o, pod))) return { endpoint: e, pod };
  }
  return undefined;
}

/**
 * A restarting static member other than `recordPod` whose endpoint lists `ip` in `pool`, and that endpoint: the IP is
 * reserved for the member's next incarnation (Spiderpool keeps a static endpoint across incarnations and its next ADD
 * reuses the IP; with the IP given to another pod that ADD fails for good).
 */
function restartingMemberHolder(
  view: ClusterView,
  ip: string,
  pool: string,
  recordPod: string,
  cfg: StaticIpConfig,
): EndpointFacts | undefined {
  for (const e of view.endpointsListing(ip)) {
    if (nsName(e.namespace, e.name) === recordPod) continue;
    const ep = reservedByRestartingMember(view, view, e.namespace, e.name, ip, pool, cfg);
    if (ep) return ep;
  }
  return undefined;
}

export function allocationViolations(
  u: PoolUpdate,
  view: ClusterView,
  cfg: StaticIpConfig,
  out: ViolationCollector,
): void {
  for (const { ip, next: rec } of u.diff.added) {
    if (out.done) return;
    const own = podsOfRecordName(view, rec.pod, cfg);
    // the record's own pod: same name, a launcher pod of the record's VMI, or of the same VMI as one (a live migration)
    const isOwn = (p: PodFacts) => sameName(p, rec.pod) || own.some((o) => isOnePod(o, p));
    const others = view.podsObserving(ip).filter((p) => isAlive(p) && !isOwn(p));
    if (others.length > 0) {
      out.add({
        rule: 'DOUBLE_ALLOCATION',
        ip,
        pool: u.pool,
        record: rec,
        livePod: summarizePod(others[0]),
        detail: `allocation of an IP observed on another alive pod ${others[0].namespace}/${others[0].name}`,
        evidence: others.map(podRef),
      });
    } else {
      const held = aliveEndpointHolder(view, ip, u.pool, rec.pod, own, cfg);
      if (held) {
        const { endpoint: holder, pod: holderPod } = held;
        out.add({
          rule: 'DOUBLE_ALLOCATION',
          ip,
          pool: u.pool,
          record: rec,
          livePod: summarizePod(holderPod),
          endpoint: nsName(holder.namespace, holder.name),
          detail: `allocation of an IP that endpoint ${holder.namespace}/${holder.name} of alive pod uid ${holder.podUid} lists in this pool`,
          evidence: [podRef(holderPod), { kind: 'endpoint', namespace: holder.namespace, name: holder.name }],
        });
      } else {
        const reserved = restartingMemberHolder(view, ip, u.pool, rec.pod, cfg);
        if (reserved) {
          const member = nsName(reserved.namespace, reserved.name);
          out.add({
            rule: 'DOUBLE_ALLOCATION',
            ip,
            pool: u.pool,
            record: rec,
            endpoint: member,
            detail: `allocation of an IP that endpoint ${member} of restarting static member ${member} (${endpointTypeText(reserved)}) lists in this pool; the member's next incarnation reuses it`,
            evidence: staticRefs(reserved.namespace, reserved.name, cfg),
          });
        }
      }
    }
    if (!own.some((p) => p.uid === rec.podUid)) {
      out.add({
        rule: 'STALE_ALLOCATION',
        ip,
        pool: u.pool,
        record: rec,
        livePod: own[0] ? summarizePod(own[0]) : undefined,
        detail: own.length
          ? 'allocation for a pod uid that is not the live pod of that name'
          : 'allocation for a pod that does not exist',
        evidence: recordNameRefs(rec.pod, cfg),
      });
    }
  }
}
