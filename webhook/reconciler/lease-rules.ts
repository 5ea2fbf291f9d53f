// The pure part of leader election (client-go's leaderelection rules), time passed in:
// - timings: renewDeadline < leaseDuration (a leader gives up before others may take over) and retryPeriod <
//   renewDeadline (a leader gets more than one try per deadline); each Lease call times out after half the renew
//   deadline, so a hung call leaves time for a retry before the deadline;
// - what to do with the Lease as read: create it, renew it, acquire it, or wait. A lease held by another replica is
//   taken only once its duration has passed on OUR clock since we saw its record last change (observedAt); the
//   renewTime written by the other machine is never compared with the local clock.
import { LeaseRecord, StoredLease } from '../model';

export interface LeaderTiming {
  /** how long a lease is valid without renewal */
  leaseDurationMs: number;
  /** a leader steps down when it could not renew for this long */
  renewDeadlineMs: number;
  /** time between attempts */
  retryPeriodMs: number;
}

/** client-go / controller-runtime defaults: 15 s / 10 s / 2 s. */
export const DEFAULT_LEADER_TIMING: LeaderTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** Why these timings cannot work (undefined when they can). */
export function leaderTimingProblem(t: LeaderTiming): string | undefined {
  const { leaseDurationMs: lease, renewDeadlineMs: renew, retryPeriodMs: retry } = t;
  if (![lease, renew, retry].every((v) => Number.isFinite(v) && v > 0))
    return 'lease duration, renew deadline and retry period must be positive';
  if (!(renew < lease)) return `the renew deadline (${renew} ms) must be shorter than the lease duration (${lease} ms)`;
  if (!(retry < renew)) return `the retry period (${retry} ms) must be shorter than the renew deadline (${renew} ms)`;
  return undefined;
}

/** Timeout of one acquire/renew attempt (its read and its write together). */
export function attemptTimeoutMs(t: LeaderTiming): number {
  return t.renewDeadlineMs / 2;
}

/** The lease's validity as written in the record, or ours when the record names none. */
function durationOf(record: LeaseRecord, fallbackMs: number): number {
  return record.leaseDurationSeconds > 0 ? record.leaseDurationSeconds * 1000 : fallbackMs;
}

/** Whether the record changed since `before` (holder, times, transitions or resourceVersion). */
export function leaseChanged(before: StoredLease | undefined, now: StoredLease): boolean {
  if (!before || before.resourceVersion !== now.resourceVersion) return true;
  const a = before.record;
  const b = now.record;
  return (
    a.holderIdentity !== b.holderIdentity ||
    a.leaseDurationSeconds !== b.leaseDurationSeconds ||
    a.renewTime !== b.renewTime ||
    a.acquireTime !== b.acquireTime ||
    a.leaseTransitions !== b.leaseTransitions
  );
}

export type LeaseStep =
  | { step: 'create' }
  | { step: 'renew' }
  | { step: 'acquire' }
  /** held by `holder`; free for us at `freeAt` on our clock */
  | { step: 'wait'; holder: string; freeAt: number };

/**
 * What a candidate or leader does with the lease as read.
 * @param observedAt local time at which this replica saw the record change last (taken after the read returned)
 */
export function nextLeaseStep(
  current: StoredLease | null,
  identity: string,
  observedAt: number,
  now: number,
  leaseDurationMs: number,
): LeaseStep {
  if (!current) return { step: 'create' };
  const holder = current.record.holderIdentity;
  if (holder === identity) return { step: 'renew' };
  if (holder === '') return { step: 'acquire' };
  const freeAt = observedAt + durationOf(current.record, leaseDurationMs);
  return now >= freeAt ? { step: 'acquire' } : { step: 'wait', holder, freeAt };
}

/** The record this replica writes to create, renew or acquire the lease at `now`. */
export function leaseRecordFor(
  identity: string,
  prev: LeaseRecord | undefined,
  now: number,
  leaseDurationMs: number,
): LeaseRecord {
  const ours = prev?.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
    acquireTime: ours ? prev.acquireTime : now,
    renewTime: now,
    leaseTransitions: prev ? (ours ? prev.leaseTransitions : prev.leaseTransitions + 1) : 0,
  };
}

/** The record a leader writes when it steps down gracefully: no holder, so others need not wait for expiry. */
export function releasedRecord(prev: LeaseRecord, now: number): LeaseRecord {
  return { ...prev, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now };
}
