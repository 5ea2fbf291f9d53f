// A set of short-lived objects held by a long-lived owner, in array slots a removal clears and a later addition
// reuses.
//
// Why not a Set: V8 rebuilds a Set's hash table after every few dozen additions and removals, and the table it
// leaves keeps the entries it held plus a link to its successor (for iterators still walking it). A Set that lives
// for the whole process ends up with a table in the old generation (a full collection promotes the current one);
// from there every later table, and every entry any of them held, is reachable through an old object until the next
// full collection, so each one survives two young-generation collections and is promoted. With the webhook
// listener's calls in flight as entries (admission/drain.ts) that was every request's response, request, body text
// and decoded review: 3-3.6 MB promoted per scavenge at 256 records and c=32, scavenges of about 2 ms instead of 0.5,
// a full collection every few hundred milliseconds, and the small-body p99 tail (bench/README.md). Here a removed
// entry's slot is cleared at once and nothing links one array to another.

/** Where an entry sits, to remove it by (valid until removed). */
export type Slot = number;

export class SlotSet<T extends object> {
  private readonly slots: (T | undefined)[] = [];
  /** cleared slots, reused last-cleared first */
  private readonly free: Slot[] = [];
  private count = 0;

  add(value: T): Slot {
    const slot = this.free.length > 0 ? (this.free.pop() as Slot) : this.slots.length;
    this.slots[slot] = value;
    this.count++;
    return slot;
  }

  /** Clears the slot `add` returned; a slot already cleared is left alone. */
  remove(slot: Slot): void {
    if (this.slots[slot] === undefined) return;
    this.slots[slot] = undefined;
    this.free.push(slot);
    this.count--;
  }

  get size(): number {
    return this.count;
  }

  /** Slots ever used: the most entries held at once, however many came and went. */
  get capacity(): number {
    return this.slots.length;
  }

  *values(): IterableIterator<T> {
    for (const value of this.slots) if (value !== undefined) yield value;
  }
}
