// Findings about pool IPs, interfaces and SpiderReservedIPs (docs/rules.md, Findings): UNRECORDED_LIVE_IP,
// DUPLICATE_INTERFACE_IP and RESERVED_IP_IN_USE. Pure, from a ClusterView. On a healthy cluster they cost next to
// nothing: UNRECORDED_LIVE_IP judges only the observed IPs the conflict scan found without any record,
// DUPLICATE_INTERFACE_IP only pods whose network-status listed one IP twice (known when the pod was cached), and
// RESERVED_IP_IN_USE nothing while no SpiderReservedIP exists.
import { summarizePod } from '../guard';
import {
  isAlive,
  isOnePod,
  nsName,
  poolIpIndex,
  reservedIpIndex,
  ClusterView,
  PodFacts,
  PoolFacts,
  PoolRecord,
} from '../model';
import { Finding, SEVERITY } from './finding-types';

/** An alive pod's observed IP that no pool records (collected by the conflict scan, which looks each IP up anyway). */
export interface UnrecordedCandidate {
  pod: PodFacts;
  ip: string;
}

/**
 * What the pools say about this IP cannot be known: a pool holding it is unparseable, or holds a malformed entry
 * under that key (the key is there, yet it names no usable owner).
 */
export function recordUnknown(p: PoolFacts, ip: string): boolean {
  return p.unparseable || (p.malformed.length > 0 && p.malformed.some((m) => m.key === ip));
}

function describe(pods: PodFacts[]): string {
  return pods.map((p) => `${p.namespace}/${p.name} uid ${p.uid}`).join(', ');
}

/** Distinct alive, non-hostNetwork observers of an IP (a VMI's launcher pods each listed, counted as one pod). */
export function liveObservers(view: ClusterView, ip: string): PodFacts[] {
  return view.podsObserving(ip).filter((p) => isAlive(p) && !p.hostNetwork);
}

/** How many pods the observers are, launcher pods of one VMI counting as one (docs/rules.md, KubeVirt live migration). */
export function distinctPods(pods: PodFacts[]): number {
  let n = 0;
  pods.forEach((p, i) => {
    if (!pods.slice(0, i).some((q) => isOnePod(p, q))) n++;
  });
  return n;
}

/**
 * UNRECORDED_LIVE_IP for the candidates: the IP belongs to a pool and no pool records it, and MISSING_RECORD does
 * not already report that pod and IP (`missingReported` holds "ns/name|ip" of those).
 */
export function unrecordedFindings(
  view: ClusterView,
  candidates: UnrecordedCandidate[],
  missingReported: ReadonlySet<string>,
  out: Finding[],
): void {
  if (candidates.length === 0) return;
  const pools = [...view.allPools()];
  const index = poolIpIndex(pools);
  const done = new Set<string>();
  for (const { ip } of candidates) {
    if (done.has(ip)) continue;
    done.add(ip);
    const holding = [...index.poolsHolding(ip)].sort();
    if (holding.length === 0) continue;
    // a pool whose records cannot be read may record it; any pool may record it (outside its pool IPs, too)
    if (pools.some((p) => recordUnknown(p, ip) || p.records.has(ip))) continue;
    const pods = liveObservers(view, ip).filter((p) => !missingReported.has(`${nsName(p.namespace, p.name)}|${ip}`));
    if (pods.length === 0) continue;
    const where = holding.length === 1 ? `pool ${holding[0]}` : `pools ${holding.join(', ')}`;
    out.push({
      finding: 'UNRECORDED_LIVE_IP',
      severity: SEVERITY.UNRECORDED_LIVE_IP,
      ip,
      pool: holding[0],
      ...(holding.length > 1 ? { pools: holding } : {}),
      pods: pods.map(summarizePod),
      message: `alive pod${pods.length > 1 ? 's' : ''} ${describe(pods)} observe${pods.length > 1 ? '' : 's'} IP ${ip}, which belongs to ${where}, and no pool records it: the next allocation there can hand it out again`,
    });
  }
}

/** DUPLICATE_INTERFACE_IP of one alive pod (the caller checked it is alive and has interfaceDuplicates). */
export function duplicateInterfaceFindings(view: ClusterView, pod: PodFacts, out: Finding[]): void {
  const index = poolIpIndex(view.allPools());
  for (const { ip, interfaces } of pod.interfaceDuplicates ?? []) {
    const pool = index.poolsHolding(ip)[0];
    out.push({
      finding: 'DUPLICATE_INTERFACE_IP',
      severity: SEVERITY.DUPLICATE_INTERFACE_IP,
      ip,
      ...(pool ? { pool } : {}),
      interfaces,
      pods: [summarizePod(pod)],
      message: `alive pod ${pod.namespace}/${pod.name} uid ${pod.uid} observes IP ${ip} on interfaces ${interfaces.join(', ')} (multus network-status)`,
    });
  }
}

/** Above this many reserved addresses, the records and pod IPs are looked up in the reserved set instead. */
const ENUMERATE_RESERVED_LIMIT = 4096;

interface RecordOf {
  pool: string;
  record: PoolRecord;
}

/** RESERVED_IP_IN_USE: one finding per SpiderReservedIP and IP it lists that a pool records or an alive pod observes. */
export function reservedFindings(
  view: ClusterView,
  recordsOf: (ip: string) => RecordOf | undefined,
  out: Finding[],
): void {
  const reserved = reservedIpIndex(view);
  if (reserved.all.isEmpty) return;
  const used = new Set<string>();
  if (reserved.all.size <= BigInt(ENUMERATE_RESERVED_LIMIT)) {
    for (const ip of reserved.all.addresses()) if (recordsOf(ip) || liveObservers(view, ip).length > 0) used.add(ip);
  } else {
    for (const pool of view.allPools()) for (const ip of pool.records.keys()) if (reserved.all.has(ip)) used.add(ip);
    for (const pod of view.allPods()) {
      if (!isAlive(pod)) continue;
      for (const ip of pod.observedIPs) if (reserved.all.has(ip)) used.add(ip);
    }
  }
  for (const ip of used) {
    const held = recordsOf(ip);
    const pods = liveObservers(view, ip);
    const uses = [
      ...(held ? [`pool ${held.pool} records it for ${held.record.pod} uid ${held.record.podUid}`] : []),
      ...(pods.length
        ? [`alive pod${pods.length > 1 ? 's' : ''} ${describe(pods)} observe${pods.length > 1 ? '' : 's'} it`]
        : []),
    ];
    for (const name of reserved.reservedBy(ip)) {
      out.push({
        finding: 'RESERVED_IP_IN_USE',
        severity: SEVERITY.RESERVED_IP_IN_USE,
        ip,
        reservedIP: name,
        ...(held ? { pool: held.pool, record: held.record } : {}),
        ...(pods.length ? { pods: pods.map(summarizePod) } : {}),
        message: `SpiderReservedIP ${name} lists IP ${ip}, but ${uses.join(' and ')}`,
      });
    }
  }
}
