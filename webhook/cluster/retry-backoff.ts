// Retry delays of a reflector: pure, no timers. Exponential from `baseMs`, capped at `capMs`, in two runs that
// never mix: failures with no answer from the API server (refused, reset, timed out) and failures the API server
// answered (an HTTP error status). The first answer after a run of silence starts over from the base delay: the API
// server is back, so waiting out a delay grown during the outage would only delay recovery. A server that keeps
// answering errors (403, 404, 429) still sees the delay grow, so it is not hammered.

export type FailureKind = 'silent' | 'answered';

export const DEFAULT_RETRY_BASE_MS = 500;
/** Low on purpose: after an outage the caches must be current within seconds of the API server answering. */
export const DEFAULT_RETRY_CAP_MS = 4000;

export class RetryBackoff {
  private failures = 0;
  private lastKind: FailureKind | undefined;

  constructor(
    private readonly baseMs = DEFAULT_RETRY_BASE_MS,
    private readonly capMs = DEFAULT_RETRY_CAP_MS,
  ) {}

  /** A call failed: the delay before the next attempt. */
  failed(kind: FailureKind): number {
    if (kind !== this.lastKind) this.failures = 0;
    this.lastKind = kind;
    this.failures++;
    return Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.failures - 1, 30));
  }

  /**
   * The API server answered something (a probe, any status). True when this ends a run of silent failures: the
   * backoff starts over and a pending retry should run now instead of waiting out its delay.
   */
  answered(): boolean {
    if (this.lastKind !== 'silent' || this.failures === 0) return false;
    this.failures = 0;
    this.lastKind = 'answered';
    return true;
  }

  succeeded(): void {
    this.failures = 0;
    this.lastKind = undefined;
  }
}
