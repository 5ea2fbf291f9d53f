// Pod tombstones: namespace/name → uid of a pod incarnation whose deletion the pod watch delivered. They let a
// release of that incarnation's record be decided without a live GET of the pod (docs/architecture.md, Fresh evidence).
//
// Why a tombstone is as good as "read the pod live before concluding it does not exist":
//
// - A uid names one incarnation for all time. Once the watch delivered DELETED for uid U, no object with uid U can
//   exist again (a re-created pod of the same name gets a new uid). A live GET can only confirm that U is gone.
// - The watch delivers the events of one resource in resourceVersion order, without gaps, as long as it runs: the
//   cache saw everything that happened to the name after the deletion, up to its own delay. So "no newer object of
//   that name in the cache, and the tombstone still there" means no newer incarnation reached the cache. Any object
//   of that name arriving (ADDED/MODIFIED, any uid) removes the tombstone (`forget`), and the lookup falls back to the
//   cached pod, or to a live read when that is missed again.
// - A tombstone answers only for its own uid. A record naming another uid (a newer incarnation the cache has not seen
//   yet: the GC or the agent can be ahead of our watch) is read live, as before.
//
// What would make a tombstone wrong, and what this store does about it:
// - A watch gap (a watch or list error and its backoff, a 410 Gone and the relist): events may have been missed,
//   including a re-creation of that name. `clear()` drops every tombstone when the cache stops following the server;
//   only deletions watched after the relist count again. (Dropping, not revalidating: a relist proves absence of a
//   name at its resourceVersion, but nothing cheaper than a live read proves it for the time in between.)
// - A relist that misses a re-creation (created and deleted again during the gap): dropped by the same `clear()`.
// - Cache delay: a same-name pod created moments ago, not yet delivered. It cannot hold the released IP through this
//   record: a static pod's next incarnation gets its IP only after the agent has rewritten the record's podUid to its
//   own uid (so the release would name the new uid and be read live), and any other pod with that IP got it outside
//   this record. Denials are unaffected: whatever a denial rests on is still read live.
// - Age: a tombstone is trusted for a bounded time (the GC releases within minutes of the deletion), and the store is
//   bounded in count (oldest dropped first), so a mass deletion cannot grow it without limit.
import { nsName } from './types';

export interface TombstoneLimits {
  /** most tombstones kept; the oldest go first */
  maxCount: number;
  /** age after which a tombstone is no longer trusted (ms) */
  maxAgeMs: number;
}

export const DEFAULT_TOMBSTONE_LIMITS: TombstoneLimits = { maxCount: 20_000, maxAgeMs: 15 * 60_000 };

interface Tombstone {
  uid: string;
  /** when the deletion was watched (ms, the store's clock) */
  at: number;
}

export class PodTombstones {
  // insertion order is recording order (record() re-inserts), so the oldest are first
  private readonly byKey = new Map<string, Tombstone>();

  constructor(
    private readonly limits: TombstoneLimits = DEFAULT_TOMBSTONE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The watch delivered DELETED for this incarnation. */
  record(namespace: string, name: string, uid: string): void {
    if (!uid) return; // an object without a uid proves nothing about an incarnation
    const key = nsName(namespace, name);
    const at = this.now();
    this.byKey.delete(key);
    this.byKey.set(key, { uid, at });
    this.prune(at);
  }

  /** An object of this name arrived (any uid): the tombstone no longer says "nothing of that name since". */
  forget(namespace: string, name: string): void {
    this.byKey.delete(nsName(namespace, name));
  }

  /** The cache stopped following the watch (error, 410 Gone, relist): nothing learnt from events alone is kept. */
  clear(): void {
    this.byKey.clear();
  }

  /** Whether the deletion of exactly this incarnation was watched, recently enough, with nothing of that name since. */
  deleted(namespace: string, name: string, uid: string): boolean {
    const t = this.byKey.get(nsName(namespace, name));
    return !!t && !!uid && t.uid === uid && this.now() - t.at <= this.limits.maxAgeMs;
  }

  get size(): number {
    return this.byKey.size;
  }

  private prune(now: number): void {
    for (const [key, t] of this.byKey) {
      if (this.byKey.size <= this.limits.maxCount && now - t.at <= this.limits.maxAgeMs) break;
      this.byKey.delete(key);
    }
  }
}
