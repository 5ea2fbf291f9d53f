// A streaming list's initial events applied to a cache (webhook/cluster/initial-events.ts): objects upserted and
// their keys kept until the end bookmark, which alone ends them; the refusals that mean "no streaming lists here".
import {
  InitialEvents,
  isInitialEventsEnd,
  vanished,
  watchListQuery,
  watchListRefused,
} from '../../../webhook/cluster/initial-events';
import { KubeHttpError } from '../../../webhook/cluster/kube-http';

const obj = (namespace: string, name: string) => ({ metadata: { namespace, name, resourceVersion: '3' } });
const endBookmark = (rv: string) => ({
  metadata: { resourceVersion: rv, annotations: { 'k8s.io/initial-events-end': 'true' } },
});

describe('a streaming list', () => {
  it('asks for the initial events from a resourceVersion, not older, with bookmarks', () => {
    expect(watchListQuery('')).toEqual({
      sendInitialEvents: 'true',
      resourceVersionMatch: 'NotOlderThan',
      allowWatchBookmarks: 'true',
      resourceVersion: '',
    });
    expect(watchListQuery('42').resourceVersion).toBe('42');
  });

  it('ends only at a BOOKMARK annotated initial-events-end "true"', () => {
    expect(isInitialEventsEnd('BOOKMARK', endBookmark('9'))).toBe(true);
    expect(isInitialEventsEnd('BOOKMARK', { metadata: { resourceVersion: '9' } })).toBe(false);
    expect(isInitialEventsEnd('ADDED', endBookmark('9'))).toBe(false);
    const falseEnd = { metadata: { annotations: { 'k8s.io/initial-events-end': 'false' } } };
    expect(isInitialEventsEnd('BOOKMARK', falseEnd)).toBe(false);
  });

  it("upserts and remembers what it sends, and hands back the end bookmark's resourceVersion", () => {
    const upserted: string[] = [];
    const removed: string[] = [];
    const initial = new InitialEvents({
      upsert: (o) => upserted.push((o.metadata as { name: string }).name),
      remove: (ns, n) => removed.push(`${ns}/${n}`),
    });
    expect(initial.event('ADDED', obj('a', 'p1'))).toBeUndefined();
    expect(initial.event('ADDED', obj('', 'node-1'))).toBeUndefined();
    expect(initial.event('BOOKMARK', { metadata: { resourceVersion: '5' } })).toBeUndefined(); // not the end
    expect(initial.event('DELETED', obj('a', 'p0'))).toBeUndefined();
    expect(initial.event('BOOKMARK', endBookmark('9'))).toBe('9');
    expect(upserted).toEqual(['p1', 'node-1']);
    expect(removed).toEqual(['a/p0']);
    expect(initial.count).toBe(2);
    const cached = [
      { namespace: 'a', name: 'p1' },
      { namespace: 'a', name: 'gone' },
      { namespace: '', name: 'node-1' },
      { namespace: 'b', name: 'p1' },
    ];
    expect(vanished(cached, initial.seen)).toEqual([
      { namespace: 'a', name: 'gone' },
      { namespace: 'b', name: 'p1' },
    ]);
  });

  it("keeps an ERROR event's status for the retry, and notices 410 Gone", () => {
    const initial = new InitialEvents({ upsert: () => {}, remove: () => {} });
    initial.event('ERROR', { kind: 'Status', code: 504, message: 'Too large resource version' });
    expect(initial.error).toEqual({ code: 504, message: 'Too large resource version' });
    expect(initial.gone).toBe(false);
    initial.event('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    expect(initial.gone).toBe(true);
  });

  it('is refused (fall back to LIST pages) on 422 and 400 only', () => {
    expect(watchListRefused(new KubeHttpError('sendInitialEvents is forbidden', 422))).toBe(true);
    expect(watchListRefused(new KubeHttpError('bad request', 400))).toBe(true);
    for (const code of [401, 403, 404, 410, 429, 500, 503])
      expect(watchListRefused(new KubeHttpError('other', code))).toBe(false);
    expect(watchListRefused(new Error('connect ECONNREFUSED'))).toBe(false);
  });
});
