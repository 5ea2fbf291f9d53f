// A list+watch loop that keeps only trimmed facts. client-node's informer caches whole objects (a pod is often
// tens of KiB) and stops for good after an error; this one keeps names only, re-watches from the last
// resourceVersion, relists on 410 Gone, and retries with a short capped backoff that starts over as soon as the API
// server answers again (retry-backoff.ts). It also knows how current it is (cache-health.ts): a watch down, or open
// but silent while the API server probe gets no answer, makes the cache stale after the staleness limit.
import { isGone, statusCodeOf } from '../../lib/api-errors';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Logger } from '../log';
import { KubeObject } from '../model';
import { ApiServerState } from './apiserver-probe';
import { CacheHealth, CacheState } from './cache-health';
import { FailureKind, RetryBackoff } from './retry-backoff';

export interface ListPage {
  /** iterated once, in order (the live lister parses each item as it is taken) */
  items: Iterable<KubeObject>;
  resourceVersion: string;
  continueToken?: string;
}

export interface ReflectorSpec {
  /** for logs and metrics: "pods", "spiderippools", ... */
  name: string;
  /** watch path, e.g. /api/v1/pods */
  path: string;
  list(continueToken: string | undefined): Promise<ListPage>;
  upsert(o: KubeObject): void;
  remove(namespace: string, name: string): void;
  /**
   * namespace/name ('' for cluster-scoped kinds) of every object the cache holds now: a relist removes those its
   * LIST no longer returns. Read from the cache itself, so the reflector keeps no second copy of 100,000 keys.
   */
  cached(): Iterable<{ namespace: string; name: string }>;
  /**
   * The cache stops following the server: a list begins (first sync, 410 Gone, retry) or a list/watch failed and a
   * retry waits. Events may be missed until the next list completes; what was learnt from events alone (pod
   * tombstones) is dropped here.
   */
  onGap?(): void;
}

export type ChangeListener = (kind: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', o: KubeObject) => void;

/** Staleness limit: a cache whose watch has not been known healthy for longer than this counts as unsynced. */
export const DEFAULT_STALE_AFTER_MS = 10_000;

export interface ReflectorOptions {
  staleAfterMs?: number;
  backoff?: RetryBackoff;
  now?: () => number;
}

export interface ReflectorStatus {
  state: CacheState;
  /** seconds since the cache was last known current (0 while its watch is healthy) */
  stalenessSeconds: number;
  /** the last resourceVersion seen (LIST, event or bookmark) */
  resourceVersion: string;
  lastError?: string;
  /** why the cache is not synced, for /readyz (absent while synced) */
  reason?: string;
}

function keyOf(o: KubeObject): { namespace: string; name: string } {
  const m = (o.metadata ?? {}) as { namespace?: string; name?: string };
  return { namespace: m.namespace ?? '', name: m.name ?? '' };
}

/**
 * The namespace/name of the objects a LIST returned, as namespace → names, reusing the objects' own strings (a
 * "namespace/name" string per object costs two strings more: the concatenation and its flattened copy).
 */
class ObjectKeys {
  private readonly byNamespace = new Map<string, Set<string>>();
  add(namespace: string, name: string): void {
    let names = this.byNamespace.get(namespace);
    if (!names) this.byNamespace.set(namespace, (names = new Set()));
    names.add(name);
  }
  has(namespace: string, name: string): boolean {
    return this.byNamespace.get(namespace)?.has(name) ?? false;
  }
}

/** An error with an HTTP status came from the API server; anything else (refused, reset, timeout) did not. */
function failureKind(err: unknown): FailureKind {
  return statusCodeOf(err) !== undefined ? 'answered' : 'silent';
}

export class Reflector {
  private resourceVersion = '';
  private abort?: AbortController;
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
  lastError?: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly spec: ReflectorSpec,
    private readonly log: Logger,
    private readonly onChange?: ChangeListener,
    opts: ReflectorOptions = {},
  ) {
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
    };
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pendingRetry = undefined;
    this.abort?.abort();
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

  /** Lists every page, upserting as pages arrive; relist() removes what vanished once the LIST completed. */
  private async listAll(): Promise<{ seen: ObjectKeys; resourceVersion: string }> {
    const seen = new ObjectKeys();
    let token: string | undefined;
    let rv: string;
    do {
      const page = await this.spec.list(token);
      for (const o of page.items) {
        this.spec.upsert(o);
        const { namespace, name } = keyOf(o);
        seen.add(namespace, name);
      }
      rv = page.resourceVersion;
      token = page.continueToken || undefined;
    } while (token);
    return { seen, resourceVersion: rv };
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      this.spec.onGap?.();
      const { seen, resourceVersion } = await this.listAll();
      const gone: { namespace: string; name: string }[] = [];
      for (const o of this.spec.cached()) if (!seen.has(o.namespace, o.name)) gone.push(o);
      for (const o of gone) this.spec.remove(o.namespace, o.name);
      this.resourceVersion = resourceVersion;
      this.health.listed(this.now());
      this.backoff.succeeded();
      this.lastError = undefined;
    } catch (err) {
      this.retryLater('list', err, () => void this.relist());
      return;
    }
    await this.watch();
  }

  private restartWatch(): void {
    this.watchGeneration++;
    this.abort?.abort();
    this.abort = undefined;
    this.health.watchClosed(this.now());
    void this.watch();
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
    const onDone = (err: unknown) => {
      ended = true;
      if (!current()) return;
      this.abort = undefined;
      this.health.watchClosed(this.now());
      if (gone || isGone(err)) {
        this.log.info({ reflector: this.spec.name }, 'watch expired (410), relisting');
        void this.relist();
      } else if (err) this.retryLater('watch', err, () => void this.relist());
      else void this.watch(); // the server closed the watch normally: resume from the last resourceVersion
    };
    try {
      const abort = await new Watch(this.kc).watch(
        this.spec.path,
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
        (type: string, o: KubeObject) => {
          if (current() && this.onEvent(type, o)) gone = true;
        },
        onDone,
      );
      if (!current()) {
        abort.abort();
        return;
      }
      if (ended) return;
      this.abort = abort;
      this.health.watchOpened(this.now());
      this.backoff.succeeded();
    } catch (err) {
      if (current()) this.retryLater('watch', err, () => void this.relist());
    }
  }
}
