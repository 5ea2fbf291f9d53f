// What a reflector (reflector.ts) is given and what it reports: the resource's list/watch/cache operations, the
// options, and its status for /readyz and the cache metrics.
import { KubeObject } from '../model';
import { CacheState } from './cache-health';
import { SyncMethod } from './initial-events';
import { RetryBackoff } from './retry-backoff';
import { OpenWatch, WatchHandlers } from './watch-stream';

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
  /** opens a watch of `path` with this query (default: watch-stream.ts over a client of the reflector's kubeconfig) */
  watch?(query: Record<string, string>, handlers: WatchHandlers): Promise<OpenWatch>;
}

export type ChangeListener = (kind: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', o: KubeObject) => void;

/** Staleness limit: a cache whose watch has not been known healthy for longer than this counts as unsynced. */
export const DEFAULT_STALE_AFTER_MS = 10_000;

export interface ReflectorOptions {
  /**
   * 'watch-list': a streaming list, falling back to LIST pages for good when the API server refuses it;
   * 'list' (default): LIST pages, then a watch.
   */
  sync?: SyncMethod;
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
  /** how the cache (re)fills: a streaming list, or LIST pages (configured so, or the API server refused streaming) */
  syncMethod: SyncMethod;
}
