// The decision deadline from the `timeout` query parameter the API server adds to each webhook call (the webhook's
// timeoutSeconds as a Go duration, e.g. "5s"): the guard answers before the API server gives up on it.

/** The API server's default webhook timeout (timeoutSeconds unset). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** timeoutSeconds is at most 30. */
const MAX_WEBHOOK_TIMEOUT_MS = 30_000;
/** Left for the answer to reach the API server. */
export const DEADLINE_MARGIN_MS = 1_000;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go time.Duration string ("5s", "1m30s", "1.5s", "500ms") in milliseconds; undefined when it is not one or not positive. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 && Number.isFinite(ms) ? ms : undefined;
}

/**
 * Milliseconds a decision may take: the webhook timeout (default 10 s, at most 30 s) minus a 1 s margin, but never
 * less than half the timeout (timeoutSeconds: 1 leaves 500 ms).
 */
export function decisionBudgetMs(timeoutParam: string | undefined | null): number {
  const parsed = timeoutParam ? parseGoDuration(timeoutParam) : undefined;
  const timeout = Math.min(parsed ?? DEFAULT_WEBHOOK_TIMEOUT_MS, MAX_WEBHOOK_TIMEOUT_MS);
  return Math.max(timeout - DEADLINE_MARGIN_MS, timeout / 2);
}

/** The decision ran out of its budget (the reason its signal is aborted with). */
export class DeadlineReached extends Error {}

/**
 * A decision's deadline, armed only when the decision first waits. A review judged on the cache alone (nearly every
 * review) never waits, and a timer, an AbortController and a race per request were a measurable share of its cost
 * (bench/README.md, Where the time goes). Whatever waits takes `signal` before it waits: that arms the timer, with
 * what is left of the budget counted from construction. `expired` rejects when the budget runs out, `aborted` tells
 * without arming.
 */
export class LazyDeadline {
  private readonly start = performance.now();
  private controller?: AbortController;
  private timer?: NodeJS.Timeout;
  /** set once armed: rejects with DeadlineReached when the budget runs out (never resolves) */
  expired?: Promise<never>;

  constructor(readonly budgetMs: number) {}

  /** The signal aborted at the deadline; the first read arms the timer. */
  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = (this.controller = new AbortController());
      const left = Math.max(0, this.budgetMs - (performance.now() - this.start));
      this.expired = new Promise<never>((_, reject) => {
        this.timer = setTimeout(() => {
          const reached = new DeadlineReached();
          controller.abort(reached);
          reject(reached);
        }, left);
      });
      this.expired.catch(() => undefined); // a decision that settled first leaves nobody awaiting it
    }
    return this.controller.signal;
  }

  /** Whether the deadline passed (false while unarmed: a decision that never waited cannot outlive its answer). */
  get aborted(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  /** Stops the timer once the answer is out. */
  disarm(): void {
    clearTimeout(this.timer);
  }
}
