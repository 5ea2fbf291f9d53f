// Large reviews (over HEAVY_BODY_BYTES, inflight-budget.ts) are decided one at a time. Decoding and judging a multi-megabyte review holds the event loop for
// tens of milliseconds; one at a time, only one large body is expanded on the heap at once, and a small review
// arriving meanwhile waits for at most the one being decided, not for the queue behind it.

/** Runs `fn` once the event loop has had a turn (sockets read, connections accepted, small reviews decided). */
export type Defer = (fn: () => void) => void;

const nextTurn: Defer = (fn) => setImmediate(fn);

/**
 * One holder at a time, first come first served. The lane is handed to the next waiter on a later turn of the event
 * loop, not at once: a waiter resumed at once would run in the same turn as the release, and so would the one after
 * it, so a queue of large reviews would be decided back to back while no socket is read, no handshake completes and
 * no small review is decided (a queue of twenty 3 MB reviews held the loop for about a second).
 */
export class HeavyLane {
  private busy = false;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly defer: Defer = nextTurn) {}

  async acquire(): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) this.defer(next);
    else this.busy = false;
  }

  /** reviews waiting for the lane (not counting the holder) */
  get queued(): number {
    return this.waiting.length;
  }
}
