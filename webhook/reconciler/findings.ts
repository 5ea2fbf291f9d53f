// Consistency findings (docs/rules.md, Findings): pure, from a ClusterView. `check` prints them; the reconciler plans from the
// same view. Every definition (alive, static, valid/restarting member, observed IPs, pods of a name) comes from
// webhook/model; nothing here redefines them.
import { summarizePod } from '../guard';
import {
  isAlive,
  isCompletedPod,
  isOnePod,
  isRestartingStaticMember,
  isValidStaticMember,
  podsOfName,
  EndpointFacts,
  MalformedEntry,
  PodFacts,
  PoolFacts,
  PoolRecord,
  StaticIpConfig,
  nsName,
  splitNsName,
  ClusterView,
} from '../model';
import { blockedSuccessor, blockingEndpointFinding } from './blocking-endpoint';
export type { TerminationOptions } from './termination-findings';
export { TERMINATION_UNCONFIRMED_AFTER_MS, heldByUnconfirmedTermination } from './termination-findings';
import { FINDINGS, Finding, FindingName, SEVERITY, summarizeEndpoint } from './finding-types';
import { IndexedRecord, recordsByIp } from './records-by-ip';
import { heldRecordFinding, zombieFindings, type TerminationOptions } from './termination-findings';
import {
  UnrecordedCandidate,
  distinctPods,
  duplicateInterfaceFindings,
  recordUnknown,
  reservedFindings,
  unrecordedFindings,
} from './pool-ip-findings';

/**
 * A pool whose allocatedIPs cannot be (fully) parsed: the reconciler never writes it (a rewrite would have to drop or
 * keep entries nobody can interpret). `check` still judges its well-formed entries, unless nothing is parseable.
 */
export function isMalformedPool(p: PoolFacts): boolean {
  return p.unparseable || p.malformed.length > 0;
}

/**
 * allocatedIPCount differs from the number of entries (a missing count matters only when entries exist). Entries,
 * malformed ones included, as Spiderpool counts them and the mutating webhook sets them; for a pool without malformed
 * entries that is the number of records.
 */
export function countMismatch(p: PoolFacts): boolean {
  if (p.allocatedIPCount === undefined) return p.keyCount > 0;
  return p.allocatedIPCount !== p.keyCount;
}

const NO_CLOCK: TerminationOptions = { now: NaN };

function endpointListsIp(e: EndpointFacts, ip: string, pool: string): boolean {
  return e.ips.some((i) => i.ip === ip && (i.pool === pool || i.pool === ''));
}

/** How many malformed entries a MALFORMED_POOL finding lists (and its message quotes). */
export const MALFORMED_LISTED = 100;
const MALFORMED_QUOTED = 5;

function malformedPoolFinding(pool: PoolFacts): Finding {
  const quote = (m: MalformedEntry) => (m.key === undefined ? m.reason : `key ${JSON.stringify(m.key)}: ${m.reason}`);
  const problems = pool.malformed.slice(0, MALFORMED_QUOTED).map(quote).join('; ');
  const more = pool.malformed.length > MALFORMED_QUOTED ? `; and ${pool.malformed.length - MALFORMED_QUOTED} more` : '';
  const what = pool.unparseable
    ? `status.allocatedIPs cannot be parsed: ${problems}`
    : `status.allocatedIPs holds ${pool.malformed.length} malformed ${pool.malformed.length === 1 ? 'entry' : 'entries'} (its ${pool.records.size} well-formed records are still checked): ${problems}${more}`;
  return {
    finding: 'MALFORMED_POOL',
    severity: SEVERITY.MALFORMED_POOL,
    pool: pool.name,
    malformed: pool.malformed.slice(0, MALFORMED_LISTED),
    malformedCount: pool.malformed.length,
    message: `pool ${pool.name} (uid ${pool.uid}): ${what}`,
  };
}

function poolFindings(
  view: ClusterView,
  pool: PoolFacts,
  cfg: StaticIpConfig,
  t: TerminationOptions,
  out: Finding[],
): void {
  if (isMalformedPool(pool)) {
    out.push(malformedPoolFinding(pool));
    if (pool.unparseable) return; // no entry can be read: nothing else to judge
  }
  if (countMismatch(pool)) {
    const entries =
      pool.keyCount === pool.records.size
        ? `${pool.records.size} records`
        : `${pool.keyCount} entries (${pool.records.size} well-formed records)`;
    out.push({
      finding: 'COUNT_MISMATCH',
      severity: SEVERITY.COUNT_MISMATCH,
      pool: pool.name,
      allocatedIPCount: pool.allocatedIPCount ?? null,
      records: pool.keyCount,
      message: `pool ${pool.name}: allocatedIPCount ${pool.allocatedIPCount ?? 'unset'} but ${entries}`,
    });
  }
  for (const [ip, record] of pool.records) recordFindings(view, pool, ip, record, cfg, t, out);
}

function recordFindings(
  view: ClusterView,
  pool: PoolFacts,
  ip: string,
  record: PoolRecord,
  cfg: StaticIpConfig,
  t: TerminationOptions,
  out: Finding[],
): void {
  const n = splitNsName(record.pod);
  if (!n) return; // the parser only keeps well-formed names
  const pods = podsOfName(view, n.namespace, n.name, cfg);
  if (pods.length > 0 && pods.some((p) => p.deleting)) heldRecordFinding(view, pool, ip, record, pods, t, out);
  // Fast path (nearly every record): the pod of that name has the record's uid and has not completed, its endpoint agrees.
  if (pods.length === 1 && pods[0].uid === record.podUid && !isCompletedPod(pods[0])) {
    const ep = view.endpoint(n.namespace, n.name);
    if (ep && ep.podUid === record.podUid && endpointListsIp(ep, ip, pool.name)) return;
  }
  const base = { pool: pool.name, ip, record };
  const completed = pods.find((p) => p.uid === record.podUid && isCompletedPod(p));
  if (completed) {
    out.push({
      finding: 'COMPLETED_POD_RECORD',
      severity: SEVERITY.COMPLETED_POD_RECORD,
      ...base,
      pods: [summarizePod(completed)],
      message: `IP ${ip} in pool ${pool.name} is still recorded for ${record.pod} uid ${record.podUid}, which has completed (phase ${
        completed.phase
      }${completed.reason ? `, reason ${completed.reason}` : ''}, restartPolicy ${completed.restartPolicy}) and will not run again`,
    });
  }
  if (pods.length === 0) {
    if (!isValidStaticMember(view, n.namespace, n.name, cfg)) {
      out.push({
        finding: 'RECORD_POD_MISSING',
        severity: SEVERITY.RECORD_POD_MISSING,
        ...base,
        message: `IP ${ip} in pool ${pool.name} is recorded for pod ${record.pod} uid ${record.podUid}, which does not exist and is not a valid static member`,
      });
      return;
    }
  } else if (
    !pods.some((p) => p.uid === record.podUid) &&
    !isRestartingStaticMember(view, n.namespace, n.name, cfg, pool.name)
  ) {
    out.push({
      finding: 'RECORD_UID_MISMATCH',
      severity: SEVERITY.RECORD_UID_MISMATCH,
      ...base,
      pods: pods.map(summarizePod),
      message: `IP ${ip} in pool ${pool.name} is recorded for ${record.pod} uid ${record.podUid}, but the pod of that name has uid ${pods
        .map((p) => p.uid)
        .join(',')}`,
    });
    return; // the endpoint belongs to the other incarnation: comparing it with this record says nothing more
  }
  const ep = view.endpoint(n.namespace, n.name);
  let problem: string | undefined;
  if (!ep) problem = `has no SpiderEndpoint ${record.pod}`;
  else if (ep.podUid !== record.podUid) problem = `has SpiderEndpoint ${record.pod} with current.uid ${ep.podUid}`;
  else if (!endpointListsIp(ep, ip, pool.name))
    problem = `has SpiderEndpoint ${record.pod} (uid ${ep.podUid}) that does not list ${ip} in pool ${pool.name}`;
  if (problem) {
    out.push({
      finding: 'RECORD_ENDPOINT_MISMATCH',
      severity: SEVERITY.RECORD_ENDPOINT_MISMATCH,
      ...base,
      pods: pods.length ? pods.map(summarizePod) : undefined,
      endpoint: ep ? summarizeEndpoint(ep) : undefined,
      message: `IP ${ip} in pool ${pool.name} is recorded for ${record.pod} uid ${record.podUid}, which ${problem}`,
    });
  }
}

/** "ns/name" === the pod's namespace/name, without building the string. */
function isNamed(key: string, p: PodFacts): boolean {
  return (
    key.length === p.namespace.length + 1 + p.name.length &&
    key.startsWith(p.namespace) &&
    key.charCodeAt(p.namespace.length) === 47 &&
    key.endsWith(p.name)
  );
}

/**
 * Does the pod count as the record's own pod: same name, a KubeVirt launcher of the record's VMI, or a launcher of the
 * same VMI as one of the record's pods (a live migration's source and target are one pod)?
 */
function isRecordPod(p: PodFacts, recordPod: string, recordPods: PodFacts[]): boolean {
  return nsName(p.namespace, p.name) === recordPod || recordPods.some((o) => isOnePod(o, p));
}

/**
 * IP_CONFLICT, and on the way (the same loop over the pods and their IPs): ZOMBIE_IP_REUSE of pods being deleted, the
 * IPs no pool records (for UNRECORDED_LIVE_IP), and the pods whose network-status lists one IP on two interfaces
 * (DUPLICATE_INTERFACE_IP).
 */
function conflictFindings(
  view: ClusterView,
  byIp: Map<string, IndexedRecord[]>,
  cfg: StaticIpConfig,
  t: TerminationOptions,
  out: Finding[],
  unrecorded: UnrecordedCandidate[],
): void {
  const seen = new Set<string>();
  for (const pod of view.allPods()) {
    if (!isAlive(pod)) {
      if (pod.deleting) zombieFindings(view, pod, byIp, cfg, t, out);
      continue;
    }
    if (pod.interfaceDuplicates) duplicateInterfaceFindings(view, pod, out);
    for (const ip of pod.observedIPs) {
      const entries = byIp.get(ip);
      if (!entries) unrecorded.push({ pod, ip });
      const all = view.podsObserving(ip);
      // Fast path (nearly every IP): one observer, recorded (if at all) for that very pod.
      if (all.length === 1 && (!entries || (entries.length === 1 && isNamed(entries[0].record.pod, pod)))) continue;
      if (seen.has(ip)) continue;
      seen.add(ip);
      const observers = all.filter(isAlive);
      const involved = new Map<string, PodFacts>();
      for (const p of observers) involved.set(nsName(p.namespace, p.name), p);
      let conflicting: IndexedRecord | undefined;
      const reasons: string[] = [];
      // launcher pods of one VMI share its IP during a live migration by design: they count as one pod
      const distinct = distinctPods(observers);
      if (distinct >= 2) reasons.push(`observed on ${distinct} alive pods`);
      for (const entry of entries ?? []) {
        const n = splitNsName(entry.record.pod);
        if (!n) continue;
        const recordPods = podsOfName(view, n.namespace, n.name, cfg);
        const aliveRecordPods = recordPods.filter(isAlive);
        const strangers = observers.filter((p) => !isRecordPod(p, entry.record.pod, recordPods));
        if (aliveRecordPods.length === 0 || strangers.length === 0) continue;
        conflicting ??= entry;
        for (const p of aliveRecordPods) involved.set(nsName(p.namespace, p.name), p);
        reasons.push(
          `pool ${entry.pool.name} records it for alive pod ${entry.record.pod} uid ${entry.record.podUid} while ${strangers
            .map((p) => `${p.namespace}/${p.name} uid ${p.uid}`)
            .join(', ')} observe${strangers.length === 1 ? 's' : ''} it`,
        );
      }
      if (reasons.length === 0) continue;
      const pods = [...involved.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
      const pool = conflicting?.pool.name ?? byIp.get(ip)?.[0]?.pool.name;
      out.push({
        finding: 'IP_CONFLICT',
        severity: SEVERITY.IP_CONFLICT,
        ip,
        pool,
        record: conflicting?.record ?? byIp.get(ip)?.[0]?.record,
        pods: pods.map(summarizePod),
        message: `IP ${ip}: ${reasons.join('; ')} (pods ${pods.map((p) => `${p.namespace}/${p.name} uid ${p.uid}`).join(', ')})`,
      });
    }
  }
}

function endpointFindings(view: ClusterView, ep: EndpointFacts, cfg: StaticIpConfig, out: Finding[]): void {
  const pods = podsOfName(view, ep.namespace, ep.name, cfg);
  const holder = pods.find((p) => isAlive(p) && p.uid === ep.podUid);
  const key = nsName(ep.namespace, ep.name);
  if (holder) {
    for (const { ip, pool: poolName } of ep.ips) {
      if (!holder.observedIPs.includes(ip)) continue;
      const pool = view.pool(poolName);
      if (!pool || pool.records.has(ip) || recordUnknown(pool, ip)) continue;
      out.push({
        finding: 'MISSING_RECORD',
        severity: SEVERITY.MISSING_RECORD,
        pool: poolName,
        ip,
        pods: [summarizePod(holder)],
        endpoint: summarizeEndpoint(ep),
        message: `alive pod ${holder.namespace}/${holder.name} uid ${holder.uid} holds IP ${ip} (observed, listed by its SpiderEndpoint ${key}) but pool ${poolName} has no record of it`,
      });
    }
    return;
  }
  // An earlier pod's endpoint that blocks the pod now named so is that, not a mere leftover.
  const successor = blockedSuccessor(ep, pods, cfg);
  if (successor) {
    out.push(blockingEndpointFinding(ep, successor));
    return;
  }
  const incarnation = pods.find((p) => p.uid === ep.podUid);
  // An IP whose record cannot be read (unparseable pool, malformed entry under that key) proves nothing.
  if (
    ep.ips.some((i) => {
      const p = view.pool(i.pool);
      return !!p && recordUnknown(p, i.ip);
    })
  )
    return;
  const recorded = ep.ips.filter((i) => view.pool(i.pool)?.records.get(i.ip)?.podUid === ep.podUid);
  if (recorded.length > 0) return;
  out.push({
    finding: 'LEFTOVER_ENDPOINT',
    severity: SEVERITY.LEFTOVER_ENDPOINT,
    ip: ep.ips[0]?.ip,
    pool: ep.ips[0]?.pool,
    pods: pods.length ? pods.map(summarizePod) : undefined,
    endpoint: summarizeEndpoint(ep),
    message: `SpiderEndpoint ${key} (current.uid ${ep.podUid}, IPs [${ep.ips.map((i) => i.ip).join(',')}]): its pod ${
      incarnation
        ? `is not alive (phase ${incarnation.phase || 'Unknown'}${incarnation.deleting ? ', deleting' : ''})`
        : 'is gone'
    } and no pool records its IPs under that uid`,
  });
}

const ORDER = Object.fromEntries(FINDINGS.map((f, i) => [f, i])) as Record<FindingName, number>;

/**
 * All findings of the view, errors and warnings, in a stable order (finding kind, pool, IP, objects). `termination`
 * gives the time and hold max terminating pods are judged with (without a clock TERMINATION_UNCONFIRMED is not judged).
 */
export function findings(
  view: ClusterView,
  cfg: StaticIpConfig,
  termination: TerminationOptions = NO_CLOCK,
): Finding[] {
  const out: Finding[] = [];
  for (const pool of view.allPools()) poolFindings(view, pool, cfg, termination, out);
  const byIp = recordsByIp(view);
  const unrecorded: UnrecordedCandidate[] = [];
  conflictFindings(view, byIp, cfg, termination, out, unrecorded);
  for (const ep of view.allEndpoints()) endpointFindings(view, ep, cfg, out);
  const missingReported = new Set(
    out.flatMap((f) => (f.finding === 'MISSING_RECORD' ? f.pods.map((p) => `${p.name}|${f.ip}`) : [])),
  );
  unrecordedFindings(view, unrecorded, missingReported, out);
  reservedFindings(
    view,
    (ip) => {
      const e = byIp.get(ip)?.[0];
      return e && { pool: e.pool.name, record: e.record };
    },
    out,
  );
  const sortKey = (f: Finding) =>
    `${f.pool ?? ''}\u0000${f.ip ?? ''}\u0000${f.endpoint?.name ?? ''}\u0000${f.record?.pod ?? ''}`;
  return out
    .map((f) => ({ f, k: sortKey(f) }))
    .sort((a, b) => ORDER[a.f.finding] - ORDER[b.f.finding] || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.f);
}

export function hasErrors(list: Finding[]): boolean {
  return list.some((f) => f.severity === 'error');
}
