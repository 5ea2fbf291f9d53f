// A reflector filling its cache by a streaming list (webhook/cluster/reflector.ts, sync 'watch-list'), against a
// scripted API server: synced only at the end bookmark, what the initial events did not mention removed there, a
// gap re-streamed from the last resourceVersion (or from a consistent read after 410 Gone), and LIST pages when the
// API server refuses streaming lists.
import { KubeConfig } from '@kubernetes/client-node';
import { Reflector, ReflectorSpec } from '../../../webhook/cluster/reflector';
import { RetryBackoff } from '../../../webhook/cluster/retry-backoff';
import { KubeHttpError } from '../../../webhook/cluster/kube-http';
import { WatchHandlers } from '../../../webhook/cluster/watch-stream';
import { createLogger } from '../../../webhook/log/logger';
import { KubeObject } from '../../../webhook/model';

const pod = (name: string, rv = '1'): KubeObject => ({ metadata: { namespace: 'ns', name, resourceVersion: rv } });
const endBookmark = (rv: string): KubeObject => ({
  metadata: { resourceVersion: rv, annotations: { 'k8s.io/initial-events-end': 'true' } },
});

interface Opened {
  query: Record<string, string>;
  handlers: WatchHandlers;
  aborted: boolean;
}

/** A cache of names, and an API server whose watches the test drives by hand. */
function harness(answer: (query: Record<string, string>) => Error | undefined = () => undefined) {
  const cache = new Map<string, KubeObject>();
  const opened: Opened[] = [];
  const lists: string[] = [];
  const gaps: number[] = [];
  const kc = new KubeConfig(); // unused: the spec opens the watches
  const spec: ReflectorSpec = {
    name: 'pods',
    path: '/api/v1/pods',
    list: async () => {
      lists.push('list');
      return { items: [pod('listed')], resourceVersion: '50' };
    },
    upsert: (o) => cache.set((o.metadata as { name: string }).name, o),
    remove: (_ns, n) => cache.delete(n),
    cached: () => [...cache.keys()].map((name) => ({ namespace: 'ns', name })),
    onGap: () => gaps.push(opened.length),
    watch: async (query, handlers) => {
      const refusal = answer(query);
      if (refusal) throw refusal;
      const w: Opened = { query, handlers, aborted: false };
      opened.push(w);
      return { abort: () => (w.aborted = true) };
    },
  };
  const reflector = new Reflector(kc, spec, createLogger('silent'), undefined, {
    sync: 'watch-list',
    backoff: new RetryBackoff(1, 1),
  });
  const until = async (what: string, cond: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const last = () => opened[opened.length - 1];
  return { reflector, cache, opened, lists, gaps, until, last };
}

describe('a reflector syncing by streaming list', () => {
  it('is synced only at the end bookmark, which removes what the initial events did not mention', async () => {
    const h = harness();
    h.cache.set('stale', pod('stale'));
    h.reflector.start();
    await h.until('the stream opened', () => h.opened.length === 1);
    expect(h.last().query).toEqual({
      sendInitialEvents: 'true',
      resourceVersionMatch: 'NotOlderThan',
      allowWatchBookmarks: 'true',
      resourceVersion: '',
    });
    h.last().handlers.event('ADDED', pod('a'));
    h.last().handlers.event('ADDED', pod('b'));
    h.last().handlers.event('BOOKMARK', { metadata: { resourceVersion: '7' } }); // a bookmark, not the end
    expect(h.reflector.synced).toBe(false);
    expect(h.reflector.status().reason).toMatch(/unsynced/);
    expect([...h.cache.keys()].sort()).toEqual(['a', 'b', 'stale']);

    h.last().handlers.event('BOOKMARK', endBookmark('10'));
    expect(h.reflector.synced).toBe(true);
    expect([...h.cache.keys()].sort()).toEqual(['a', 'b']);
    expect(h.reflector.status()).toMatchObject({ state: 'synced', resourceVersion: '10', syncMethod: 'watch-list' });

    // the same connection goes on as the watch
    h.last().handlers.event('DELETED', pod('a', '11'));
    h.last().handlers.event('ADDED', pod('c', '12'));
    expect([...h.cache.keys()].sort()).toEqual(['b', 'c']);
    expect(h.reflector.status().resourceVersion).toBe('12');
    expect(h.lists).toEqual([]);
    h.reflector.stop();
  });

  it('after a failure, reports a gap and streams again from the last resourceVersion: a deletion missed meanwhile is removed', async () => {
    const h = harness();
    h.reflector.start();
    await h.until('the stream opened', () => h.opened.length === 1);
    h.last().handlers.event('ADDED', pod('a'));
    h.last().handlers.event('ADDED', pod('b'));
    h.last().handlers.event('BOOKMARK', endBookmark('10'));
    const gapsBefore = h.gaps.length;
    h.last().handlers.done(new Error('connection reset'));
    await h.until('the stream reopened', () => h.opened.length === 2);
    expect(h.gaps.length).toBeGreaterThan(gapsBefore);
    expect(h.last().query).toMatchObject({ sendInitialEvents: 'true', resourceVersion: '10' });
    expect(h.reflector.status().lastError).toMatch(/connection reset/);
    h.last().handlers.event('ADDED', pod('b', '20')); // "a" was deleted while the watch was down
    h.last().handlers.event('BOOKMARK', endBookmark('21'));
    expect([...h.cache.keys()]).toEqual(['b']);
    expect(h.reflector.status()).toMatchObject({ state: 'synced', resourceVersion: '21' });
    expect(h.reflector.status().lastError).toBeUndefined();
    h.reflector.stop();
  });

  it('a server closing the watch normally after the sync is followed by a plain watch; 410 Gone streams from a consistent read', async () => {
    const h = harness();
    h.reflector.start();
    await h.until('the stream opened', () => h.opened.length === 1);
    h.last().handlers.event('BOOKMARK', endBookmark('10'));
    h.last().handlers.done(null);
    await h.until('the watch reopened', () => h.opened.length === 2);
    expect(h.last().query).toEqual({ resourceVersion: '10', allowWatchBookmarks: 'true' });
    h.last().handlers.event('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    h.last().handlers.done(null);
    await h.until('the stream reopened', () => h.opened.length === 3);
    expect(h.last().query).toMatchObject({ sendInitialEvents: 'true', resourceVersion: '' });
    h.reflector.stop();
  });

  it('a stream that ends before its end bookmark is retried and the cache stays unsynced', async () => {
    const h = harness();
    h.reflector.start();
    await h.until('the stream opened', () => h.opened.length === 1);
    h.last().handlers.event('ADDED', pod('a'));
    h.last().handlers.done(null);
    await h.until('the stream reopened', () => h.opened.length === 2);
    expect(h.reflector.synced).toBe(false);
    expect(h.reflector.status().lastError).toMatch(/before its initial events were complete/);
    expect(h.last().query).toMatchObject({ sendInitialEvents: 'true', resourceVersion: '' });
    h.reflector.stop();
  });

  it('an API server back from silence mid-stream restarts the streaming list, not a plain watch', async () => {
    const h = harness();
    h.reflector.start();
    await h.until('the stream opened', () => h.opened.length === 1);
    h.last().handlers.event('ADDED', pod('a'));
    h.reflector.apiServer('silent');
    h.reflector.apiServer('ready');
    await h.until('the stream reopened', () => h.opened.length === 2);
    expect(h.opened[0].aborted).toBe(true);
    expect(h.last().query).toMatchObject({ sendInitialEvents: 'true' });
    h.reflector.stop();
  });

  it('falls back to LIST pages for good when the API server refuses streaming lists (422)', async () => {
    const h = harness((q) =>
      q.sendInitialEvents
        ? new KubeHttpError(
            'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled',
            422,
          )
        : undefined,
    );
    h.cache.set('stale', pod('stale'));
    h.reflector.start();
    await h.until('listed and watching', () => h.opened.length === 1);
    expect(h.lists).toEqual(['list']);
    expect(h.last().query).toEqual({ resourceVersion: '50', allowWatchBookmarks: 'true' });
    expect([...h.cache.keys()]).toEqual(['listed']);
    expect(h.reflector.status()).toMatchObject({ state: 'synced', syncMethod: 'list' });
    h.last().handlers.done(new Error('reset'));
    await h.until('listed again', () => h.lists.length === 2);
    h.reflector.stop();
  });
});
