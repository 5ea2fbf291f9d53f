// The in-flight byte budget with its waiting line (budget-queue.ts), wired to a clock: one timer, armed for the
// earliest deadline of a waiting request, refuses those whose wait ran out. The HTTP side is body.ts.
import { BudgetQueue, BudgetTicket, MAX_WAITING_REQUESTS } from './budget-queue';
import { InflightBudget } from './inflight-budget';

/** How a wait ended: admitted (the bytes are the caller's now), timeout (its deadline passed), full (no room to wait) */
export type WaitOutcome = 'admitted' | 'timeout' | 'full';

interface Waiter extends BudgetTicket {
  settle(outcome: WaitOutcome): void;
}

export interface GateEvents {
  /** requests waiting now */
  waiting?: (count: number) => void;
  /** a wait ended (not called for requests admitted without waiting) */
  waited?: (outcome: WaitOutcome, ms: number) => void;
}

export class BudgetGate {
  private readonly queue: BudgetQueue<Waiter & { since: number }>;
  private timer?: NodeJS.Timeout;
  private armedFor?: number;

  constructor(
    readonly budget: InflightBudget,
    private readonly events: GateEvents = {},
    maxWaiting = MAX_WAITING_REQUESTS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.queue = new BudgetQueue(budget, maxWaiting);
  }

  /**
   * Takes `bytes` now or once they fit, waiting at most until `deadlineAt` (this gate's clock). `settle` is called
   * once, synchronously when the bytes are taken (so that the caller holds them from that moment), unless `end` is
   * called first (the caller went away: it stops waiting, and settle is never called). `end` (once) gives the bytes
   * back when they were taken, or leaves the line.
   */
  take(bytes: number, deadlineAt: number, settle: (outcome: WaitOutcome) => void): { end: () => void } {
    let admitted = false;
    // The caller's callback closes over its whole request (socket, body text, decoded review). The waiter reaches it
    // only through `pending`, cleared once it is called or the wait ends: V8 may allocate waiters straight in the old
    // generation (allocation-site pretenuring), and an old waiter still pointing at a request keeps all of it alive
    // through every young-generation collection until the next full one. Measured at 256 records, c=1: every
    // request's objects were copied and promoted, 3 MB per scavenge, scavenges of 2-5 ms instead of 0.3 (the
    // small-body p99 tail), and a full collection of the caches every second or two.
    let pending: ((outcome: WaitOutcome) => void) | undefined = settle;
    const waiter = {
      bytes,
      deadlineAt,
      since: this.now(),
      settle: (o: WaitOutcome) => {
        admitted = o === 'admitted';
        const callback = pending;
        pending = undefined;
        callback?.(o);
      },
    };
    const entry = this.queue.enter(waiter);
    if (entry === 'full') this.events.waited?.('full', 0);
    if (entry !== 'queued') waiter.settle(entry);
    this.changed();
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        pending = undefined;
        this.settleAll(admitted ? this.queue.finish(waiter) : this.queue.leave(waiter), 'admitted');
        this.changed();
      },
    };
  }

  /** Takes bytes of a body whose length is not declared (chunked), as they arrive: never waits. Given back by give. */
  tryTake(n: number, bodyBytes: number): boolean {
    return this.budget.tryTake(n, bodyBytes);
  }

  give(n: number): void {
    this.settleAll(this.queue.give(n), 'admitted');
    this.changed();
  }

  get waiting(): number {
    return this.queue.length;
  }

  private settleAll(waiters: (Waiter & { since: number })[], outcome: WaitOutcome): void {
    const now = this.now();
    for (const w of waiters) {
      this.events.waited?.(outcome, now - w.since);
      w.settle(outcome);
    }
  }

  /** After the line changed: report its length and arm the timer for its earliest deadline. */
  private changed(): void {
    this.events.waiting?.(this.queue.length);
    const next = this.queue.nextDeadline();
    if (next === this.armedFor) return;
    clearTimeout(this.timer);
    this.armedFor = next;
    if (next === undefined) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, next - this.now()));
  }

  private expire(): void {
    this.armedFor = undefined;
    const { expired, admitted } = this.queue.expire(this.now());
    this.settleAll(expired, 'timeout');
    this.settleAll(admitted, 'admitted');
    this.changed();
  }
}
