// Who gets the in-flight byte budget (inflight-budget.ts) when it is full, and who waits: the policy, on plain objects, with
// time passed in. A request whose declared body does not fit is not refused at once: it waits, its body unread (the
// socket is not read, so TCP holds the client back and the bytes cost nothing here), until bytes are given back or
// its deadline passes. A refusal (429) is not free: the API server applies failurePolicy, and the client's next call
// needs a new connection and TLS handshake. Waiting a bounded time in order costs less, and memory stays bounded by
// the budget, as before.
import { HEAVY_BODY_BYTES, InflightBudget } from './inflight-budget';

/** A request waiting for its declared body's bytes. */
export interface BudgetTicket {
  readonly bytes: number;
  /** when it stops waiting (a clock of the caller's, milliseconds) */
  readonly deadlineAt: number;
}

/** admitted: the bytes are taken; queued: it waits; full: too many wait already (refuse it) */
export type Entry = 'admitted' | 'queued' | 'full';

/**
 * The longest a request may wait for the budget: half of its decision budget (deadline.ts), so that the other half
 * is left to read and decide it before the API server gives up (a 5 s webhook timeout: 2 s of waiting, 2 s left).
 */
export function budgetWaitMs(decisionBudgetMs: number): number {
  return Math.max(0, Math.floor(decisionBudgetMs / 2));
}

/**
 * At most this many requests wait at once; past it a request is refused (429) at once. A waiting request holds its
 * connection and what its socket already buffered (tens of KiB, outside the budget), so the queue is bounded too:
 * 64 is twice the load of the bench's 32 concurrent calls.
 */
export const MAX_WAITING_REQUESTS = 64;

/**
 * Large bodies admitted at once (being read, waiting for the lane of large reviews, or being decided). They are
 * decided one at a time anyway (heavy-lane.ts): one being decided and three being read keeps the lane busy. Each one
 * admitted is read as fast as its client sends, so every turn of the event loop reads and decrypts a chunk of every
 * one of them; a TCP accept or a TLS handshake of a small review waits for those turns. Fewer at once: shorter turns,
 * and less memory held (4 x 3.3 MB instead of the budget's 45 MiB).
 */
export const MAX_LARGE_IN_FLIGHT = 4;

const isLarge = (t: BudgetTicket) => t.bytes > HEAVY_BODY_BYTES;

/**
 * Waiting requests in two classes, small and large (HEAVY_BODY_BYTES), each first come first served: a request is
 * admitted only when no earlier one of its class waits and its bytes fit (the budget decides what fits: large bodies
 * leave its reserve to small ones), and a large one only while fewer than MAX_LARGE_IN_FLIGHT are admitted. A small review may pass waiting large ones, never the other way round; within a
 * class nobody overtakes, so a large body is never starved by smaller large ones.
 */
export class BudgetQueue<T extends BudgetTicket> {
  private waiting: T[] = [];
  private largeInFlight = 0;

  constructor(
    readonly budget: InflightBudget,
    readonly maxWaiting = MAX_WAITING_REQUESTS,
    readonly maxLargeInFlight = MAX_LARGE_IN_FLIGHT,
  ) {}

  /** A new request: admitted at once (its bytes taken), queued behind earlier ones, or refused when the queue is full. */
  enter(t: T): Entry {
    const large = isLarge(t);
    if (!this.waiting.some((w) => isLarge(w) === large) && this.tryAdmit(t)) return 'admitted';
    if (this.waiting.length >= this.maxWaiting) return 'full';
    this.waiting.push(t);
    return 'queued';
  }

  /** An admitted request is done (answered, or its client left): its bytes come back. Returns those now admitted. */
  finish(t: T): T[] {
    if (isLarge(t)) this.largeInFlight--;
    return this.give(t.bytes);
  }

  /** Gives `n` bytes back (of a body not admitted through the queue: chunked); returns those now admitted. */
  give(n: number): T[] {
    this.budget.give(n);
    return this.admit();
  }

  /** large bodies admitted and not yet finished */
  get large(): number {
    return this.largeInFlight;
  }

  private tryAdmit(t: T): boolean {
    const large = isLarge(t);
    if (large && this.largeInFlight >= this.maxLargeInFlight) return false;
    if (!this.budget.tryTake(t.bytes)) return false;
    if (large) this.largeInFlight++;
    return true;
  }

  /**
   * Removes the waiting requests whose deadline is at or before `now` (to be refused), and admits what the removal
   * unblocked (a large request at the head of its class may have been all that held the next one).
   */
  expire(now: number): { expired: T[]; admitted: T[] } {
    const expired = this.waiting.filter((w) => w.deadlineAt <= now);
    if (expired.length === 0) return { expired, admitted: [] };
    this.waiting = this.waiting.filter((w) => w.deadlineAt > now);
    return { expired, admitted: this.admit() };
  }

  /** Removes a request that stopped waiting (its client went away); returns those its leaving admitted. */
  leave(t: T): T[] {
    const before = this.waiting.length;
    this.waiting = this.waiting.filter((w) => w !== t);
    return before === this.waiting.length ? [] : this.admit();
  }

  /** The earliest deadline of a waiting request, if any waits. */
  nextDeadline(): number | undefined {
    return this.waiting.length === 0 ? undefined : Math.min(...this.waiting.map((w) => w.deadlineAt));
  }

  get length(): number {
    return this.waiting.length;
  }

  private admit(): T[] {
    const admitted: T[] = [];
    const blocked = { small: false, large: false };
    this.waiting = this.waiting.filter((w) => {
      const cls = isLarge(w) ? 'large' : 'small';
      if (blocked[cls]) return true;
      if (this.tryAdmit(w)) {
        admitted.push(w);
        return false;
      }
      blocked[cls] = true;
      return true;
    });
    return admitted;
  }
}
