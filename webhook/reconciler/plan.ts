// Reconciler planning (docs/rules.md, Reconciler actions): pure, from a ClusterView (and the findings of the same view).
// Each planned write is judged by guard.evaluate as a guarded writer before it is kept: the reconciler never plans
// what the admission rules would deny.
import { summarizePod, violationMessage } from '../guard';
import {
  isAlive,
  isCompletedPod,
  isRestartingForEndpoint,
  isRestartingStaticMember,
  isStaticEndpointType,
  isTerminalPhase,
  isValidStaticMember,
  podsOfName,
  staticKindOf,
  statefulSetOfName,
  EndpointFacts,
  PodFacts,
  PoolFacts,
  PoolRecord,
  StaticIpConfig,
  nsName,
  splitNsName,
  ClusterView,
} from '../model';
import { blockedSuccessor } from './blocking-endpoint';
import {
  Action,
  DeleteEndpointAction,
  EndpointReason,
  FixCountAction,
  ReleaseIpAction,
  ReleaseReason,
  RestoreRecordAction,
} from './actions';
import { Finding, summarizeEndpoint } from './finding-types';
import { TerminationOptions, countMismatch, findings as computeFindings, isMalformedPool } from './findings';
import { unrecordedRestoreAction } from './restore-unrecorded';
import { checkEndpointDelete, checkPoolStatusWrite, endpointObjectFromFacts, poolObjectFromFacts } from './selfcheck';

export interface BlockedAction {
  action: Action;
  /** the guard's violation messages (rule name first) */
  violations: string[];
}

export interface Plan {
  actions: Action[];
  /** actions the guard would deny: never executed (a planning bug if it ever happens) */
  blocked: BlockedAction[];
  findings: Finding[];
}

export interface PlanOptions {
  staticIp: StaticIpConfig;
  /** the reconciler's identity, used in the guard self-check */
  user: string;
  /** findings of the same view, when already computed */
  findings?: Finding[];
  /** the time and hold max terminating pods are judged with (findings) */
  termination?: TerminationOptions;
}

/**
 * Pods whose name nothing may be done to (docs/rules.md, Reconciler actions): a pending pod, for the records and the
 * endpoint with its own uid (those of an earlier pod of that name are not its own: they are what blocks it), and pods
 * that are only terminating (cmdDel and GC own them), which covers every pod whose termination is unconfirmed: such
 * a pod is terminating and not in a terminal phase (a terminal phase confirms termination).
 */
function hasUntouchablePod(pods: PodFacts[], uid: string): PodFacts | undefined {
  return pods.find((p) => (p.phase === 'Pending' && p.uid === uid) || (p.deleting && !isTerminalPhase(p)));
}

/** "A StatefulSet owns the name" or the endpoint is static-typed: INVALID_STATIC_MEMBER wins over POD_GONE. */
function staticOwned(view: ClusterView, namespace: string, name: string, ep: EndpointFacts | undefined): boolean {
  if (ep && isStaticEndpointType(ep.ownerControllerType)) return true;
  return !!statefulSetOfName(view, namespace, name);
}

function phaseText(p: PodFacts): string {
  return `${p.phase || 'Unknown'}${p.reason ? ` (${p.reason})` : ''}`;
}

function describePods(pods: PodFacts[]): string {
  return pods
    .map((p) => `${p.namespace}/${p.name} uid ${p.uid} phase ${p.phase || 'Unknown'}${p.deleting ? ' (deleting)' : ''}`)
    .join(', ');
}

function release(
  pool: PoolFacts,
  ip: string,
  record: PoolRecord,
  reason: ReleaseReason,
  pods: PodFacts[],
  why: string,
): ReleaseIpAction {
  return {
    action: 'RELEASE_IP',
    reason,
    pool: pool.name,
    ip,
    record,
    pods: pods.length ? pods.map(summarizePod) : undefined,
    message: `release IP ${ip} of pool ${pool.name} recorded for ${record.pod} uid ${record.podUid}: ${why}`,
  };
}

/** The release a record calls for, if any (RELEASE_IP in docs/rules.md, Reconciler actions), with every "never acted on" exclusion applied. */
export function recordAction(
  view: ClusterView,
  cfg: StaticIpConfig,
  pool: PoolFacts,
  ip: string,
  record: PoolRecord,
): ReleaseIpAction | undefined {
  // Never: IPs observed on an alive pod. Checked before the name is split: nearly every record stops here.
  if (view.podsObserving(ip).some(isAlive)) return undefined;
  const n = splitNsName(record.pod);
  if (!n) return undefined;
  const pods = podsOfName(view, n.namespace, n.name, cfg);
  // Never: alive pods' records.
  if (pods.some((p) => isAlive(p) && p.uid === record.podUid)) return undefined;
  // Never: restarting static members (their next incarnation reuses the IP; not when it is annotated with other pools).
  if (isRestartingStaticMember(view, n.namespace, n.name, cfg, pool.name)) return undefined;
  // Never: pending pods' own records, terminating pods.
  if (hasUntouchablePod(pods, record.podUid)) return undefined;
  if (pods.length === 0) {
    if (isValidStaticMember(view, n.namespace, n.name, cfg)) return undefined;
    if (staticOwned(view, n.namespace, n.name, view.endpoint(n.namespace, n.name))) {
      return release(
        pool,
        ip,
        record,
        'INVALID_STATIC_MEMBER',
        pods,
        `pod is gone and ${record.pod} is no longer a valid static member`,
      );
    }
    return release(pool, ip, record, 'POD_GONE', pods, 'pod does not exist and is not a valid static member');
  }
  if (pods.some((p) => staticKindOf(p, cfg))) {
    const valid = isValidStaticMember(view, n.namespace, n.name, cfg);
    if (!valid && pods.every((p) => !isAlive(p))) {
      return release(
        pool,
        ip,
        record,
        'INVALID_STATIC_MEMBER',
        pods,
        `static member no longer valid and its pod is not alive (${describePods(pods)})`,
      );
    }
    const leftIpam = pods.every(
      (p) => p.uid !== record.podUid && !p.deleting && p.observedIPs.length > 0 && !p.observedIPs.includes(ip),
    );
    if (leftIpam) {
      return release(
        pool,
        ip,
        record,
        'STATIC_LEFT_IPAM',
        pods,
        `static pod now has uid ${pods.map((p) => p.uid).join(',')} and IPs [${pods.flatMap((p) => p.observedIPs).join(',')}] without this one`,
      );
    }
    return undefined;
  }
  const pod = pods[0];
  if (pod.uid === record.podUid) {
    if (isCompletedPod(pod))
      return release(pool, ip, record, 'COMPLETED_POD', pods, `pod is ${phaseText(pod)} and not alive`);
    return undefined;
  }
  if (!pod.observedIPs.includes(ip)) {
    return release(
      pool,
      ip,
      record,
      'UID_MISMATCH',
      pods,
      `the pod of that name now has uid ${pod.uid} and does not observe the IP`,
    );
  }
  return undefined;
}

/** RESTORE_RECORD for a MISSING_RECORD (pool, IP, endpoint), when no other alive pod observes the IP. */
export function restoreAction(
  view: ClusterView,
  cfg: StaticIpConfig,
  pool: PoolFacts,
  ep: EndpointFacts,
  ip: string,
): RestoreRecordAction | undefined {
  if (isMalformedPool(pool) || pool.records.has(ip)) return undefined;
  if (!ep.ips.some((i) => i.ip === ip && i.pool === pool.name)) return undefined;
  const holder = podsOfName(view, ep.namespace, ep.name, cfg).find((p) => isAlive(p) && p.uid === ep.podUid);
  if (!holder || !holder.observedIPs.includes(ip) || holder.phase === 'Pending') return undefined;
  const others = view
    .podsObserving(ip)
    .filter((p) => isAlive(p) && !(p.namespace === holder.namespace && p.name === holder.name));
  if (others.length > 0) return undefined;
  const record = { pod: nsName(ep.namespace, ep.name), podUid: holder.uid };
  return {
    action: 'RESTORE_RECORD',
    reason: 'MISSING_RECORD',
    pool: pool.name,
    ip,
    record,
    pods: [summarizePod(holder)],
    endpoint: summarizeEndpoint(ep),
    message: `restore record ${ip} → ${record.pod} uid ${record.podUid} in pool ${pool.name}: alive pod observes it and its SpiderEndpoint lists it`,
  };
}

function deleteEndpoint(
  ep: EndpointFacts,
  reason: EndpointReason,
  pods: PodFacts[],
  why: string,
): DeleteEndpointAction {
  const key = nsName(ep.namespace, ep.name);
  return {
    action: 'DELETE_ENDPOINT',
    reason,
    endpoint: summarizeEndpoint(ep),
    pods: pods.length ? pods.map(summarizePod) : undefined,
    message: `delete SpiderEndpoint ${key} (object uid ${ep.objectUid}, current.uid ${ep.podUid}, IPs [${ep.ips.map((i) => i.ip).join(',')}]): ${why}`,
  };
}

/** The DELETE_ENDPOINT an endpoint calls for, if any (docs/rules.md, Reconciler actions), with the "never acted on" exclusions. */
export function endpointAction(
  view: ClusterView,
  cfg: StaticIpConfig,
  ep: EndpointFacts,
): DeleteEndpointAction | undefined {
  const pods = podsOfName(view, ep.namespace, ep.name, cfg);
  // Never: alive pods' endpoints.
  if (pods.some((p) => isAlive(p) && p.uid === ep.podUid)) return undefined;
  if (isRestartingForEndpoint(view, ep, cfg)) return undefined;
  if (hasUntouchablePod(pods, ep.podUid)) return undefined;
  if (pods.length === 0) {
    if (isValidStaticMember(view, ep.namespace, ep.name, cfg)) return undefined;
    if (staticOwned(view, ep.namespace, ep.name, ep)) {
      return deleteEndpoint(
        ep,
        'INVALID_STATIC_MEMBER',
        pods,
        'its pod is gone and the name is no longer a valid static member',
      );
    }
    return deleteEndpoint(ep, 'POD_GONE', pods, 'its pod does not exist and is not a valid static member');
  }
  if (pods.some((p) => staticKindOf(p, cfg))) {
    if (!isValidStaticMember(view, ep.namespace, ep.name, cfg) && pods.every((p) => !isAlive(p))) {
      return deleteEndpoint(
        ep,
        'INVALID_STATIC_MEMBER',
        pods,
        `static member no longer valid and its pod is not alive (${describePods(pods)})`,
      );
    }
    // STATIC_LEFT_IPAM: another incarnation runs with IPs, none of them the endpoint's (kept when its uid is the pod's).
    const left = pods.every(
      (p) =>
        p.uid !== ep.podUid &&
        !p.deleting &&
        p.observedIPs.length > 0 &&
        ep.ips.every((i) => !p.observedIPs.includes(i.ip)),
    );
    if (left)
      return deleteEndpoint(
        ep,
        'STATIC_LEFT_IPAM',
        pods,
        `the static pod now has uid ${pods.map((p) => p.uid).join(',')} and observes none of its IPs`,
      );
    return undefined;
  }
  const pod = pods[0];
  if (pod.uid === ep.podUid && isCompletedPod(pod))
    return deleteEndpoint(ep, 'COMPLETED_POD', pods, `its pod is ${phaseText(pod)} and not alive`);
  // BLOCKING_ENDPOINT; plan() and the executor hold the delete back until its records are released (RELEASE_IP UID_MISMATCH).
  if (blockedSuccessor(ep, pods, cfg) === pod) {
    return deleteEndpoint(
      ep,
      'UID_MISMATCH',
      pods,
      `the pod of that name now has uid ${pod.uid} (phase ${phaseText(pod)}) and observes none of its IPs; Spiderpool refuses that pod's allocation while this endpoint exists`,
    );
  }
  return undefined;
}

/** (pool, IP) pairs of the endpoint that a pool still records under the endpoint's pod uid. */
export function recordedUnderUid(view: ClusterView, ep: EndpointFacts): { pool: string; ip: string }[] {
  return ep.ips
    .filter((i) => view.pool(i.pool)?.records.get(i.ip)?.podUid === ep.podUid)
    .map((i) => ({ pool: i.pool, ip: i.ip }));
}

function fixCountAction(pool: PoolFacts): FixCountAction | undefined {
  if (isMalformedPool(pool) || !countMismatch(pool)) return undefined;
  return {
    action: 'FIX_COUNT',
    reason: 'COUNT_MISMATCH',
    pool: pool.name,
    allocatedIPCount: pool.allocatedIPCount ?? null,
    records: pool.records.size,
    message: `set allocatedIPCount of pool ${pool.name} from ${pool.allocatedIPCount ?? 'unset'} to ${pool.records.size}, the number of records`,
  };
}

/** The records a pool holds after its planned releases and restores. */
function recordsAfter(pool: PoolFacts, actions: Action[]): Map<string, PoolRecord> {
  const next = new Map(pool.records);
  for (const a of actions) {
    if (a.action === 'RELEASE_IP' && a.ip && next.get(a.ip)?.podUid === a.record?.podUid) next.delete(a.ip);
    if (a.action === 'RESTORE_RECORD' && a.ip && a.record && !next.has(a.ip)) next.set(a.ip, a.record);
  }
  return next;
}

/**
 * Judges one pool's writes with the guard; actions whose IP a violation names are blocked and the rest judged again.
 * Returns the permitted actions.
 */
function selfCheckPool(
  view: ClusterView,
  opts: PlanOptions,
  pool: PoolFacts,
  actions: Action[],
  blocked: BlockedAction[],
): Action[] {
  let kept = actions;
  // The guard judges the diff of the write (removed, added, rewritten keys) and the well-formedness of the new
  // entries; the untouched records do not change its verdict, so the check runs on the touched keys only
  // (O(changes) instead of O(pool size)).
  const touched = new Map<string, PoolRecord>();
  for (const a of actions) {
    const rec = a.ip ? pool.records.get(a.ip) : undefined;
    if (a.ip && rec) touched.set(a.ip, rec);
  }
  const subset = { ...pool, records: touched };
  const before = poolObjectFromFacts(subset);
  for (let round = 0; round < 4 && kept.length > 0; round++) {
    const after = poolObjectFromFacts(subset, recordsAfter(subset, kept));
    const violations = checkPoolStatusWrite(view, opts.staticIp, opts.user, before, after);
    if (violations.length === 0) return kept;
    const badIps = new Set(violations.map((v) => v.ip));
    const blame = (a: Action) => badIps.has(a.ip) || badIps.has(undefined);
    for (const a of kept.filter(blame)) {
      blocked.push({
        action: a,
        violations: violations.filter((v) => v.ip === a.ip || v.ip === undefined).map(violationMessage),
      });
    }
    kept = kept.filter((a) => !blame(a));
  }
  return kept;
}

/** One reconcile pass's plan: RELEASE_IP / RESTORE_RECORD / FIX_COUNT per pool, then DELETE_ENDPOINT. */
export function plan(view: ClusterView, opts: PlanOptions): Plan {
  const cfg = opts.staticIp;
  const found = opts.findings ?? computeFindings(view, cfg, opts.termination);
  const blocked: BlockedAction[] = [];
  const byPool = new Map<string, Action[]>();
  const add = (pool: string, a: Action) => {
    const list = byPool.get(pool);
    if (list) list.push(a);
    else byPool.set(pool, [a]);
  };
  const pools = [...view.allPools()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const pool of pools) {
    if (isMalformedPool(pool)) continue;
    for (const [ip, record] of pool.records) {
      const a = recordAction(view, cfg, pool, ip, record);
      if (a) add(pool.name, a);
    }
  }
  for (const f of found) {
    if (f.finding === 'UNRECORDED_LIVE_IP') {
      const pool = !f.pools ? view.pool(f.pool) : undefined;
      const a = pool && unrecordedRestoreAction(view, cfg, pool, f.ip);
      if (a) add(f.pool, a);
      continue;
    }
    if (f.finding !== 'MISSING_RECORD' || !f.pool || !f.ip || !f.endpoint) continue;
    const n = splitNsName(f.endpoint.name);
    const ep = n && view.endpoint(n.namespace, n.name);
    const pool = view.pool(f.pool);
    if (!ep || !pool) continue;
    const a = restoreAction(view, cfg, pool, ep, f.ip);
    if (a) add(pool.name, a);
  }
  const actions: Action[] = [];
  const released = new Set<string>();
  for (const pool of pools) {
    const planned = byPool.get(pool.name);
    // FIX_COUNT is judged on the state before this pass's writes, and only for pools the pass does not write.
    const kept = planned ? selfCheckPool(view, opts, pool, planned, blocked) : [];
    if (kept.length === 0) {
      const fix = fixCountAction(pool);
      if (fix) kept.push(...selfCheckPool(view, opts, pool, [fix], blocked));
    }
    kept.sort((a, b) => ((a.ip ?? '') < (b.ip ?? '') ? -1 : (a.ip ?? '') > (b.ip ?? '') ? 1 : 0));
    for (const a of kept) {
      actions.push(a);
      if (a.action === 'RELEASE_IP') released.add(`${a.pool}|${a.ip}|${a.record?.podUid}`);
    }
  }
  const deletes: DeleteEndpointAction[] = [];
  for (const ep of view.allEndpoints()) {
    const a = endpointAction(view, cfg, ep);
    if (!a) continue;
    // Release before forget: an endpoint whose IPs are still recorded under its uid goes only with those records.
    const pending = recordedUnderUid(view, ep).filter((r) => !released.has(`${r.pool}|${r.ip}|${ep.podUid}`));
    if (pending.length > 0) continue;
    const violations = checkEndpointDelete(view, cfg, opts.user, endpointObjectFromFacts(ep));
    if (violations.length > 0) blocked.push({ action: a, violations: violations.map(violationMessage) });
    else deletes.push(a);
  }
  // Stable output order (plain code-unit comparison: localeCompare costs ~1 µs per call at this scale).
  deletes.sort((a, b) => (a.endpoint.name < b.endpoint.name ? -1 : a.endpoint.name > b.endpoint.name ? 1 : 0));
  actions.push(...deletes);
  return { actions, blocked, findings: found };
}
