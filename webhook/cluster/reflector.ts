// A list+watch loop that keeps only trimmed facts. client-node's informer caches whole objects (a pod is often
// tens of KiB) and stops for good after an error; this one keeps names only, re-watches from the last
// resourceVersion, relists on 410 Gone, and retries with a short capped backoff that starts over as soon as the API
// server answers again (retry-backoff.ts). It also knows how current it is (cache-health.ts): a watch down, or open
// but silent while the API server probe gets no answer, makes the cache stale after the staleness limit.
//
// It fills the cache the way client-go does: by a streaming list where the API server serves one (a watch that first
// sends every object, then a bookmark marking the end of that initial state, then goes on as the watch; served from
// the API server's watch cache, one connection, nothing held but the event being parsed), else by LIST pages.
import { isGone, statusCodeOf } from '../../lib/api-errors';
import { KubeConfig } from '@kubernetes/client-node';
import { Logger } from '../log';
import { KubeObject } from '../model';
import { ApiServerState } from './apiserver-probe';
import { CacheHealth } from './cache-health';
import {
  InitialEvents,
  ObjectKeys,
  SyncMethod,
  keyOf,
  vanished,
  watchListQuery,
  watchListRefused,
} from './initial-events';
import { KubeHttpClient } from './kube-http';
import {
  ChangeListener,
  DEFAULT_STALE_AFTER_MS,
  ReflectorOptions,
  ReflectorSpec,
  ReflectorStatus,
} from './reflector-spec';
import { FailureKind, RetryBackoff } from './retry-backoff';
import { OpenWatch, WatchHandlers, openWatch } from './watch-stream';

export { DEFAULT_STALE_AFTER_MS } from './reflector-spec';
export type { ChangeListener, ListPage, ReflectorOptions, ReflectorSpec, ReflectorStatus } from './reflector-spec';

/** An error with an HTTP status came from the API server; anything else (refused, reset, timeout) did not. */
function failureKind(err: unknown): FailureKind {
  return statusCodeOf(err) !== undefined ? 'answered' : 'silent';
}

export class Reflector {
  private resourceVersion = '';
  /** the last resourceVersion expired (410 Gone): the next streaming list starts from a consistent read ('') */
  private resourceVersionExpired = false;
  private method: SyncMethod;
  /** the cache is filled and a watch (or the stream past its initial events) follows the server */
  private following = false;
  private abort?: OpenWatch;
  /** bumped for every watch started, so callbacks of an abandoned watch are ignored */
  private watchGeneration = 0;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  /** the retry waiting in `timer`, run early when the API server answers again */
  private pendingRetry?: () => void;
  private readonly health: CacheHealth;
  private readonly backoff: RetryBackoff;
  private readonly now: () => number;
  private readonly staleAfterMs: number;
  private apiState: ApiServerState | undefined;
  private watchHttp?: KubeHttpClient;
  lastError?: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly spec: ReflectorSpec,
    private readonly log: Logger,
    private readonly onChange?: ChangeListener,
    opts: ReflectorOptions = {},
  ) {
    this.method = opts.sync ?? 'list';
    this.staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.health = new CacheHealth(this.staleAfterMs);
    this.backoff = opts.backoff ?? new RetryBackoff();
    this.now = opts.now ?? Date.now;
  }

  /** Listed at least once and not stale: what decisions and reconcile passes may rely on. */
  get synced(): boolean {
    return this.health.state(this.now()) === 'synced';
  }

  /** The cache's state alone (asked on every admission request; status() builds the whole report) */
  state(): ReflectorStatus['state'] {
    return this.health.state(this.now());
  }

  status(): ReflectorStatus {
    const now = this.now();
    const state = this.health.state(now);
    const stalenessSeconds = Math.round(this.health.stalenessMs(now)) / 1000;
    const reason =
      state === 'stale'
        ? `stale-cache: watch not known healthy for ${stalenessSeconds} s (limit ${this.staleAfterMs / 1000} s)`
        : state === 'unsynced'
          ? 'unsynced: not listed yet'
          : undefined;
    return {
      state,
      stalenessSeconds,
      resourceVersion: this.resourceVersion,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(reason ? { reason } : {}),
      syncMethod: this.method,
    };
  }

  start(): void {
    void this.sync();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pendingRetry = undefined;
    this.abort?.abort();
    this.watchHttp?.close();
  }

  /**
   * The API server probe's verdict. Silence makes an open watch evidence of nothing. The first answer after
   * silence resets the backoff and retries now; an open watch is restarted from its resourceVersion, so a watch
   * that did not survive the outage (a half-open connection) cannot go on looking healthy.
   */
  apiServer(state: ApiServerState): void {
    const was = this.apiState;
    this.apiState = state;
    if (state === 'silent') {
      this.health.apiSilent();
      return;
    }
    this.health.apiAnswered(this.now());
    const backAfterSilence = was === 'silent';
    const wake = this.backoff.answered() || (state === 'ready' && was !== 'ready');
    if (this.pendingRetry && (wake || backAfterSilence)) {
      const retry = this.pendingRetry;
      clearTimeout(this.timer);
      this.pendingRetry = undefined;
      this.log.info({ reflector: this.spec.name, apiServer: state }, 'API server answers again: retrying now');
      retry();
    } else if (backAfterSilence && this.abort) {
      this.log.info(
        { reflector: this.spec.name },
        'API server answers again: restarting the watch from the last resourceVersion',
      );
      this.restartWatch();
    }
  }

  private retryLater(what: string, err: unknown, next: () => void): void {
    if (this.stopped) return;
    this.spec.onGap?.();
    const kind = failureKind(err);
    const delay = this.backoff.failed(kind);
    this.lastError = `${what}: ${(err as Error)?.message ?? String(err)}`;
    this.log.warn(
      { reflector: this.spec.name, err: this.lastError, answered: kind === 'answered', retryInMs: delay },
      'list/watch failed, retrying',
    );
    this.pendingRetry = next;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.pendingRetry = undefined;
      next();
    }, delay);
  }

  private openWatch(query: Record<string, string>, handlers: WatchHandlers): Promise<OpenWatch> {
    if (this.spec.watch) return this.spec.watch(query, handlers);
    this.watchHttp ??= new KubeHttpClient(this.kc);
    return openWatch(this.watchHttp, `${this.spec.path}?${new URLSearchParams(query)}`, handlers);
  }

  /** (Re)fills the cache from scratch: the start, a 410 Gone, a retry after a failure. */
  private sync(): Promise<void> {
    return this.method === 'watch-list' ? this.streamList() : this.relist();
  }

  /** The cache holds every object of one snapshot of the server, at `resourceVersion`: current as of now. */
  private filled(seen: ObjectKeys, resourceVersion: string, startedAt: number, objects: number): void {
    for (const o of vanished(this.spec.cached(), seen)) this.spec.remove(o.namespace, o.name);
    this.resourceVersion = resourceVersion;
    this.resourceVersionExpired = false;
    this.health.listed(this.now());
    this.backoff.succeeded();
    this.lastError = undefined;
    this.log.info(
      {
        reflector: this.spec.name,
        syncMethod: this.method,
        objects,
        resourceVersion,
        ms: Math.round(this.now() - startedAt),
      },
      'cache filled',
    );
  }

  /** Lists every page, upserting as pages arrive; relist() removes what vanished once the LIST completed. */
  private async listAll(): Promise<{ seen: ObjectKeys; resourceVersion: string; objects: number }> {
    const seen = new ObjectKeys();
    let token: string | undefined;
    let rv: string;
    let objects = 0;
    do {
      const page = await this.spec.list(token);
      for (const o of page.items) {
        this.spec.upsert(o);
        const { namespace, name } = keyOf(o);
        seen.add(namespace, name);
        objects++;
      }
      rv = page.resourceVersion;
      token = page.continueToken || undefined;
    } while (token);
    return { seen, resourceVersion: rv, objects };
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    this.following = false;
    const startedAt = this.now();
    try {
      this.spec.onGap?.();
      const { seen, resourceVersion, objects } = await this.listAll();
      this.filled(seen, resourceVersion, startedAt, objects);
    } catch (err) {
      this.retryLater('list', err, () => void this.sync());
      return;
    }
    this.following = true;
    await this.watch();
  }

  /**
   * A streaming list: a watch that sends every object first (upserted as it arrives, no change listener: as for a
   * LIST), then the bookmark that ends the initial events, where what the cache holds beyond them is removed and the
   * cache counts as synced; the same connection then goes on as the watch. Started from the last resourceVersion
   * (any newer state will do), or from a consistent read at first and after a 410 Gone.
   */
  private async streamList(): Promise<void> {
    if (this.stopped) return;
    this.following = false;
    this.spec.onGap?.();
    const generation = ++this.watchGeneration;
    const current = () => generation === this.watchGeneration && !this.stopped;
    const from = this.resourceVersionExpired ? '' : this.resourceVersion;
    const startedAt = this.now();
    // dropped at the end bookmark: its keys (100,000 names at scale) must not live as long as the watch
    let initial: InitialEvents | undefined = new InitialEvents(this.spec);
    let gone = false;
    let ended = false;
    const event = (type: string, o: KubeObject) => {
      if (!current()) return;
      if (!initial) {
        if (this.onEvent(type, o)) gone = true;
        return;
      }
      const resourceVersion = initial.event(type, o);
      if (resourceVersion === undefined) return;
      this.filled(initial.seen, resourceVersion || from, startedAt, initial.count);
      initial = undefined;
      this.following = true;
      this.health.watchOpened(this.now());
    };
    const done = (err: unknown) => {
      ended = true;
      if (!current()) return;
      this.abort = undefined;
      this.health.watchClosed(this.now());
      const expired = gone || initial?.gone || isGone(err);
      // a consistent read cannot expire; a server answering 410 to one is retried with backoff, not in a loop
      if (expired && (this.following || from !== '')) {
        this.log.info({ reflector: this.spec.name }, 'watch expired (410): streaming the list again from now');
        this.resourceVersionExpired = true;
        void this.sync();
      } else if (!this.following) {
        const why = err ?? initial?.error ?? new Error('the watch ended before its initial events were complete');
        this.retryLater('watch-list', why, () => void this.sync());
      } else if (err) this.retryLater('watch', err, () => void this.sync());
      else void this.watch(); // the server closed the watch normally: resume from the last resourceVersion
    };
    try {
      const w = await this.openWatch(watchListQuery(from), { event, done });
      if (!current()) return w.abort();
      if (ended) return;
      this.abort = w;
    } catch (err) {
      if (!current()) return;
      if (watchListRefused(err)) {
        this.method = 'list';
        this.log.warn(
          { reflector: this.spec.name, err: (err as Error).message },
          'the API server does not serve streaming lists (WatchList): this cache fills by LIST pages from now on',
        );
        void this.relist();
      } else this.retryLater('watch-list', err, () => void this.sync());
    }
  }

  private restartWatch(): void {
    this.watchGeneration++;
    this.abort?.abort();
    this.abort = undefined;
    this.health.watchClosed(this.now());
    // a stream cut inside its initial events left the cache half refilled: that one starts over
    void (this.following ? this.watch() : this.sync());
  }

  private onEvent(type: string, o: KubeObject): boolean {
    this.health.watchEvent(this.now());
    const rv = (o.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return false;
    }
    if (type === 'ERROR') return isGone(o);
    const { namespace, name } = keyOf(o);
    if (rv) this.resourceVersion = rv;
    if (type === 'DELETED') this.spec.remove(namespace, name);
    else if (type === 'ADDED' || type === 'MODIFIED') this.spec.upsert(o);
    else return false;
    this.onChange?.(this.spec.name, type, o);
    return false;
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.watchGeneration;
    const current = () => generation === this.watchGeneration && !this.stopped;
    let gone = false;
    let ended = false;
    const done = (err: unknown) => {
      ended = true;
      if (!current()) return;
      this.abort = undefined;
      this.health.watchClosed(this.now());
      if (gone || isGone(err)) {
        this.log.info({ reflector: this.spec.name }, 'watch expired (410), relisting');
        this.resourceVersionExpired = true;
        void this.sync();
      } else if (err) this.retryLater('watch', err, () => void this.sync());
      else void this.watch(); // the server closed the watch normally: resume from the last resourceVersion
    };
    try {
      const w = await this.openWatch(
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true' },
        {
          event: (type, o) => {
            if (current() && this.onEvent(type, o)) gone = true;
          },
          done,
        },
      );
      if (!current()) return w.abort();
      if (ended) return;
      this.abort = w;
      this.health.watchOpened(this.now());
      this.backoff.succeeded();
    } catch (err) {
      if (!current()) return;
      if (isGone(err)) {
        // a watch from an expired resourceVersion may be refused outright instead of with an ERROR event
        this.resourceVersionExpired = true;
        void this.sync();
      } else this.retryLater('watch', err, () => void this.sync());
    }
  }
}
