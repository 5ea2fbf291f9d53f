// Findings about pods whose termination nobody confirmed (docs/rules.md, Findings: ZOMBIE_IP_REUSE and
// TERMINATION_UNCONFIRMED), and the held-record test the capacity's held_terminating column counts. Pure, from a
// ClusterView; findings.ts calls them from its record and pod loops.
import { summarizePod } from '../guard';
import {
  isAlive,
  podTerminationState,
  podsOfName,
  recordNameOf,
  PodFacts,
  PoolFacts,
  PoolRecord,
  StaticIpConfig,
  TerminationState,
  splitNsName,
  ClusterView,
} from '../model';
import { Finding, SEVERITY } from './finding-types';
import { IndexedRecord } from './records-by-ip';

/** The time and hold max terminations are judged with; without `now` TERMINATION_UNCONFIRMED cannot be judged. */
export interface TerminationOptions {
  /** epoch ms (NaN: unknown) */
  now: number;
  /** --termination-hold-max in ms (undefined: no limit) */
  holdMaxMs?: number;
}

/** TERMINATION_UNCONFIRMED is reported once a pod's termination has stayed unconfirmed longer than this. */
export const TERMINATION_UNCONFIRMED_AFTER_MS = 5 * 60_000;

export type Unconfirmed = Extract<TerminationState, { state: 'unconfirmed' }>;

export function unconfirmed(view: ClusterView, pod: PodFacts, t: TerminationOptions): Unconfirmed | undefined {
  if (!pod.deleting) return undefined;
  const s = podTerminationState(view, pod, t.now, t.holdMaxMs);
  return s.state === 'unconfirmed' ? s : undefined;
}

export function nodeText(s: Unconfirmed): string {
  return `node ${s.nodeName}${s.nodeReady === undefined ? '' : ` (Ready ${s.nodeReady || 'not reported'})`}`;
}

/** The record's own incarnation (its uid) among the pods of its name, when its termination is unconfirmed. */
function unconfirmedIncarnation(
  view: ClusterView,
  record: PoolRecord,
  pods: PodFacts[],
  t: TerminationOptions,
): { pod: PodFacts; state: Unconfirmed } | undefined {
  for (const pod of pods) {
    if (pod.uid !== record.podUid) continue;
    const state = unconfirmed(view, pod, t);
    if (state) return { pod, state };
  }
  return undefined;
}

/**
 * Whether UNCONFIRMED_TERMINATION_RELEASE holds a pool's record now: its pod (the record's uid) is being deleted and
 * its termination is unconfirmed. The capacity's held_terminating column counts these (capacity.ts heldTerminating).
 */
export function heldByUnconfirmedTermination(
  view: ClusterView,
  cfg: StaticIpConfig,
  t: TerminationOptions,
): (pool: PoolFacts, ip: string) => boolean {
  return (pool, ip) => {
    const record = pool.records.get(ip);
    const n = record && splitNsName(record.pod);
    if (!record || !n) return false;
    const pods = podsOfName(view, n.namespace, n.name, cfg);
    return pods.some((p) => p.deleting) && !!unconfirmedIncarnation(view, record, pods, t);
  };
}

/** TERMINATION_UNCONFIRMED: the record's own incarnation has been terminating, unconfirmed, for more than 5 minutes. */
export function heldRecordFinding(
  view: ClusterView,
  pool: PoolFacts,
  ip: string,
  record: PoolRecord,
  pods: PodFacts[],
  t: TerminationOptions,
  out: Finding[],
): void {
  const held = unconfirmedIncarnation(view, record, pods, t);
  if (!held || !(t.now - held.state.deletedAt > TERMINATION_UNCONFIRMED_AFTER_MS)) return;
  const s = held.state;
  out.push({
    finding: 'TERMINATION_UNCONFIRMED',
    severity: SEVERITY.TERMINATION_UNCONFIRMED,
    pool: pool.name,
    ip,
    record,
    pods: [summarizePod(held.pod)],
    node: s.nodeName,
    message: `IP ${ip} in pool ${pool.name} is held for ${record.pod} uid ${record.podUid}, deleted ${Math.floor((t.now - s.deletedAt) / 60_000)} min ago, whose termination ${nodeText(s)} has not confirmed: it stays held until the node confirms, the Node is deleted, or it is tainted node.kubernetes.io/out-of-service`,
  });
}

/**
 * ZOMBIE_IP_REUSE: an IP of a pod whose termination is unconfirmed is observed on an alive pod, or recorded for
 * another pod. Launcher pods of one VMI are one pod here (docs/rules.md, Findings).
 */
export function zombieFindings(
  view: ClusterView,
  zombie: PodFacts,
  byIp: Map<string, IndexedRecord[]>,
  cfg: StaticIpConfig,
  t: TerminationOptions,
  out: Finding[],
): void {
  if (zombie.observedIPs.length === 0) return;
  const s = unconfirmed(view, zombie, t);
  if (!s) return;
  const own = recordNameOf(zombie, cfg);
  for (const ip of zombie.observedIPs) {
    const alive = view.podsObserving(ip).filter((p) => isAlive(p) && recordNameOf(p, cfg) !== own);
    const foreign = (byIp.get(ip) ?? []).find((e) => e.record.pod !== own);
    if (alive.length === 0 && !foreign) continue;
    const why = [
      ...(alive.length
        ? [
            `observed on alive pod${alive.length === 1 ? '' : 's'} ${alive.map((p) => `${p.namespace}/${p.name} uid ${p.uid}`).join(', ')}`,
          ]
        : []),
      ...(foreign
        ? [`recorded in pool ${foreign.pool.name} for ${foreign.record.pod} uid ${foreign.record.podUid}`]
        : []),
    ];
    out.push({
      finding: 'ZOMBIE_IP_REUSE',
      severity: SEVERITY.ZOMBIE_IP_REUSE,
      ip,
      pool: foreign?.pool.name,
      record: foreign?.record,
      pods: [zombie, ...alive].map(summarizePod),
      node: s.nodeName,
      message: `IP ${ip} of terminating pod ${zombie.namespace}/${zombie.name} uid ${zombie.uid}, whose termination ${nodeText(s)} has not confirmed (its sandbox may still answer on it), is also ${why.join(' and ')}`,
    });
  }
}
