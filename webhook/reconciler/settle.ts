// Settle tracking: Spiderpool's own write order leaves short-lived inconsistencies (a pool record is written before
// its SpiderEndpoint, a static pod's record uid is rewritten before its endpoint's, a release precedes the endpoint
// delete; docs/architecture.md, Spiderpool's writers). A finding or action is acted on only once the same identity has been seen continuously for the
// settle interval. Pure: time comes in as the `now` parameter (milliseconds).

/**
 * Default settle interval of the reconcile loop: 60 s.
 * - Longer than every legitimate transient of Spiderpool's write order: one cmdAdd writes the record(s), then the
 *   endpoint, within the CNI call (sub-second normally; kubelet retries a failed cmdAdd with backoff, seconds);
 *   a static restart rewrites the record, then the endpoint, then kubelet reports podIPs; Spiderpool's trace worker
 *   runs every 5 s and a terminating pod's default grace is 30 s.
 * - Longer than the lag between independent informer caches (pods vs pools vs endpoints), seconds under load.
 * - Far shorter than what it repairs: Spiderpool's scanAll runs every 600 s by default and W3/W5 leftovers are never
 *   collected at all, so waiting a minute costs nothing, while a wrong action costs an IP conflict.
 * Every write is also re-read and re-judged just before it is made, so the interval guards against transients, not
 * against stale caches.
 */
export const DEFAULT_SETTLE_MS = 60_000;

/** The CLI's `check`/`reconcile` against a live cluster list twice, this far apart (seconds). */
export const DEFAULT_CLI_SETTLE_SECONDS = 5;

export class SettleTracker {
  private readonly firstSeen = new Map<string, number>();

  constructor(readonly settleMs: number = DEFAULT_SETTLE_MS) {}

  /**
   * Records the identities seen in this pass at time `now`. Identities not seen are forgotten (a state that went
   * away and came back starts over). Returns the identities that have persisted for at least the settle interval.
   */
  observe(keys: Iterable<string>, now: number): Set<string> {
    const current = new Set(keys);
    for (const k of this.firstSeen.keys()) if (!current.has(k)) this.firstSeen.delete(k);
    const settled = new Set<string>();
    for (const k of current) {
      let since = this.firstSeen.get(k);
      if (since === undefined) {
        since = now;
        this.firstSeen.set(k, now);
      }
      if (now - since >= this.settleMs) settled.add(k);
    }
    return settled;
  }

  /** Filters items by their identity, recording them as seen at `now`; returns the settled ones. */
  settle<T>(items: T[], keyOf: (item: T) => string, now: number): T[] {
    const settled = this.observe(items.map(keyOf), now);
    return items.filter((i) => settled.has(keyOf(i)));
  }

  /** When the earliest not-yet-settled identity settles (undefined when none is pending). */
  nextSettleAt(now: number): number | undefined {
    let next: number | undefined;
    for (const since of this.firstSeen.values()) {
      const at = since + this.settleMs;
      if (at > now && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** Forgets one identity (e.g. after acting on it) so it must settle again if it comes back. */
  forget(key: string): void {
    this.firstSeen.delete(key);
  }

  clear(): void {
    this.firstSeen.clear();
  }

  get size(): number {
    return this.firstSeen.size;
  }
}
