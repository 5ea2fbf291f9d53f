// The mutating path (docs/rules.md, Repairs): keep allocatedIPCount equal to the number of records, and in repair
// mode take the harmful part out of a guarded writer's write instead of denying it.
import { serializeAllocatedIPs, isAlive, PoolRecord, StaticIpConfig, ClusterView } from '../model';
import { Evaluation } from './evaluate';
import { podsOfRecordName } from './facts';
import { Judged, Policy, repairsRule } from './policy';
import { COUNT_MISMATCH, violationMessage } from './rule-names';

export interface StatusMutation {
  /** new status.allocatedIPs (undefined: field removed) */
  allocatedIPs: string | undefined;
  allocatedIPCount: number;
  repaired: Judged[];
  countFix?: { from: number | undefined; to: number; message: string };
  /** true when the status must change */
  changed: boolean;
}

function statusField(o: Record<string, unknown> | undefined, key: string): unknown {
  const status = o?.status;
  return status && typeof status === 'object' ? (status as Record<string, unknown>)[key] : undefined;
}

/** The record to put back for a denied release: the old one, with the uid of the live pod that holds the IP. */
function restoredRecord(ip: string, old: PoolRecord, view: ClusterView, cfg: StaticIpConfig): PoolRecord {
  const holder = podsOfRecordName(view, old.pod, cfg).find((p) => isAlive(p) && p.observedIPs.includes(ip));
  return { pod: old.pod, podUid: holder ? holder.uid : old.podUid };
}

export function planStatusMutation(
  evaluation: Evaluation,
  object: Record<string, unknown> | undefined,
  view: ClusterView,
  policy: Policy,
  user: string,
  cfg: StaticIpConfig,
): StatusMutation | undefined {
  const u = evaluation.poolUpdate;
  if (!u || u.unparseable) return undefined;
  const mayRepair = evaluation.guarded && !policy.exemptUsers.matches(user);
  const repairs = mayRepair ? evaluation.violations.filter((v) => v.ip && repairsRule(v.rule, policy)) : [];
  const repaired: Judged[] = repairs.map((v) => ({
    violation: v,
    mode: 'repair',
    outcome: 'repaired',
    exempt: false,
    message: violationMessage(v),
  }));
  // Decoding the whole map is only needed to rewrite it; a count check works from the key count alone.
  let count = u.keyCount;
  let allocatedIPs = statusField(object, 'allocatedIPs') as string | undefined;
  if (repairs.length > 0) {
    const entries: Record<string, unknown> = { ...(u.newEntries() ?? {}) };
    for (const v of repairs) {
      const ip = v.ip;
      if (!ip) continue; // repairs are filtered to violations naming an IP
      if (v.rule === 'STALE_UID_REWRITE') {
        const change = u.diff.rewritten.find((c) => c.ip === ip);
        if (change?.old) entries[ip] = { pod: change.old.pod, podUid: change.old.podUid };
      } else {
        const change = u.diff.removed.find((c) => c.ip === ip);
        if (change?.old) entries[ip] = restoredRecord(ip, change.old, view, cfg);
      }
    }
    count = Object.keys(entries).length;
    allocatedIPs = serializeAllocatedIPs(entries);
  }
  const currentCount = statusField(object, 'allocatedIPCount');
  const from = typeof currentCount === 'number' ? currentCount : undefined;
  // COUNT_MISMATCH is the writer's own inconsistency; a count that changes only because of a repair is not one.
  const writtenKeys = u.keyCount;
  const countFix =
    (from ?? 0) !== writtenKeys && (from ?? 0) !== count
      ? {
          from,
          to: count,
          message: `${COUNT_MISMATCH}: pool ${u.pool}: allocatedIPCount ${from ?? 'unset'} set to ${count}, the number of records`,
        }
      : undefined;
  return { allocatedIPs, allocatedIPCount: count, repaired, countFix, changed: repairs.length > 0 || !!countFix };
}
