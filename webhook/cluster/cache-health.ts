// Whether a reflector's cache can be trusted, from what it has observed: pure, with time passed in (milliseconds).
//
// A cache is *healthy* while its watch is open and nothing says the API server has gone quiet (the API server
// probe answers, or watch events arrive). It is *stale* once it has not been known healthy for longer than the
// staleness limit: a watch that is down (or open but silent because the API server stopped answering) no longer
// tells us about changes, so decisions made on that cache could rest on facts that are no longer true. A cache
// that has never completed a LIST is *unsynced*.

export type CacheState = 'unsynced' | 'synced' | 'stale';

export class CacheHealth {
  private listedOnce = false;
  private watchOpen = false;
  private apiAnswering = true;
  /** the last moment the cache was known current (a LIST, an open watch with evidence of life) */
  private lastHealthyAt: number | undefined;

  constructor(private readonly staleAfterMs: number) {}

  /** A full LIST completed: the cache is current as of now (the watch opens next). */
  listed(now: number): void {
    this.listedOnce = true;
    this.lastHealthyAt = now;
  }

  watchOpened(now: number): void {
    this.watchOpen = true;
    this.lastHealthyAt = now;
  }

  /** An event or bookmark arrived: the watch delivers, whatever the probe said last. */
  watchEvent(now: number): void {
    if (this.watchOpen) this.lastHealthyAt = now;
  }

  /** The watch ended (error, expiry or a normal close): current up to now if it was healthy until now. */
  watchClosed(now: number): void {
    if (this.healthy()) this.lastHealthyAt = now;
    this.watchOpen = false;
  }

  /** The API server answered a probe (any HTTP status). */
  apiAnswered(now: number): void {
    this.apiAnswering = true;
    if (this.watchOpen) this.lastHealthyAt = now;
  }

  /** A probe got no answer: from now on an open watch is evidence of nothing, the staleness counts from the last proof. */
  apiSilent(): void {
    this.apiAnswering = false;
  }

  healthy(): boolean {
    return this.listedOnce && this.watchOpen && this.apiAnswering;
  }

  /** ms since the cache was last known current; 0 while healthy (and before the first LIST: never synced). */
  stalenessMs(now: number): number {
    if (this.healthy() || this.lastHealthyAt === undefined) return 0;
    return Math.max(0, now - this.lastHealthyAt);
  }

  state(now: number): CacheState {
    if (!this.listedOnce) return 'unsynced';
    return this.stalenessMs(now) > this.staleAfterMs ? 'stale' : 'synced';
  }
}
