// What a reflector needs to know about a streaming list (Kubernetes "WatchList", KEP-3157): a watch opened with
// sendInitialEvents=true first sends every existing object as ADDED, then a BOOKMARK annotated
// k8s.io/initial-events-end, then goes on as an ordinary watch on the same connection. Pure: no I/O.
import { isGone, statusCodeOf } from '../../lib/api-errors';
import { KubeObject } from '../model';

export const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end';

/** How a reflector fills its cache: a streaming list (a watch that starts with the current state) or LIST pages. */
export type SyncMethod = 'watch-list' | 'list';

/** The query of a streaming list starting at `resourceVersion` ('' = a consistent read of the current state). */
export function watchListQuery(resourceVersion: string): Record<string, string> {
  return {
    sendInitialEvents: 'true',
    resourceVersionMatch: 'NotOlderThan',
    allowWatchBookmarks: 'true',
    resourceVersion,
  };
}

/** The bookmark that ends a streaming list's initial events: everything the server held was sent before it. */
export function isInitialEventsEnd(type: string, o: KubeObject): boolean {
  if (type !== 'BOOKMARK') return false;
  const annotations = (o.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
  return annotations?.[INITIAL_EVENTS_END_ANNOTATION] === 'true';
}

/**
 * The API server refused the streaming list's parameters: 422 Invalid from a server that knows them but does not
 * serve them (the WatchList feature gate off, as by default on Kubernetes 1.33) or that forbids resourceVersionMatch
 * on a watch (before 1.27), 400 from one that rejects them otherwise. The cache then syncs by LIST pages.
 */
export function watchListRefused(err: unknown): boolean {
  const status = statusCodeOf(err);
  return status === 422 || status === 400;
}

/**
 * The namespace/name of the objects a LIST (or a streaming list's initial events) returned, as namespace → names,
 * reusing the objects' own strings (a "namespace/name" string per object costs two strings more: the concatenation
 * and its flattened copy).
 */
export class ObjectKeys {
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

/** namespace/name of an object ('' for a cluster-scoped kind's namespace) */
export function keyOf(o: KubeObject): { namespace: string; name: string } {
  const m = (o.metadata ?? {}) as { namespace?: string; name?: string };
  return { namespace: m.namespace ?? '', name: m.name ?? '' };
}

/** The cached objects a completed list did not return: removed, since they are gone from the server. */
export function vanished(
  cached: Iterable<{ namespace: string; name: string }>,
  seen: ObjectKeys,
): { namespace: string; name: string }[] {
  const gone: { namespace: string; name: string }[] = [];
  for (const o of cached) if (!seen.has(o.namespace, o.name)) gone.push(o);
  return gone;
}

/**
 * The events of a streaming list before its end bookmark, applied to a cache: objects upserted as they arrive and
 * their keys kept, so that at the end what the cache holds beyond them can be removed. An ERROR event (the server
 * ends the watch after it) is remembered for the retry's log line.
 */
export class InitialEvents {
  readonly seen = new ObjectKeys();
  /** objects received */
  count = 0;
  /** an ERROR event said 410 Gone: the resourceVersion the stream started from has expired */
  gone = false;
  /** the Status of an ERROR event (code, message): why the server ended the stream */
  error?: { code?: number; message?: string };

  constructor(
    private readonly cache: {
      upsert(o: KubeObject): void;
      remove(namespace: string, name: string): void;
    },
  ) {}

  /** Applies one event; returns the end bookmark's resourceVersion when this event ends the initial events. */
  event(type: string, o: KubeObject): string | undefined {
    if (isInitialEventsEnd(type, o))
      return (o.metadata as { resourceVersion?: string } | undefined)?.resourceVersion ?? '';
    if (type === 'ADDED' || type === 'MODIFIED') {
      this.cache.upsert(o);
      const { namespace, name } = keyOf(o);
      this.seen.add(namespace, name);
      this.count++;
    } else if (type === 'DELETED') {
      const { namespace, name } = keyOf(o);
      this.cache.remove(namespace, name);
    } else if (type === 'ERROR') {
      if (isGone(o)) this.gone = true;
      const status = o as { code?: unknown; message?: unknown };
      this.error = {
        ...(typeof status.code === 'number' ? { code: status.code } : {}),
        message: typeof status.message === 'string' ? status.message : JSON.stringify(o).slice(0, 300),
      };
    }
    return undefined;
  }
}
