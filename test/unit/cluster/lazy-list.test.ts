// LIST pages parsed one item at a time (webhook/cluster/lazy-list.ts): the same values as JSON.parse of the whole
// page, whatever the strings inside hold, and a named failure for text that is not a list.
import { LazyListError, lazyList } from '../../../webhook/cluster/lazy-list';

const tricky = [
  { metadata: { name: 'a', annotations: { x: 'brace } bracket ] quote " backslash \\ end\\' } } },
  { metadata: { name: 'b', annotations: { y: '{"nested":["json",{"in":"a string"}]}', z: '\\"' } } },
  { n: -1.5e3, t: true, f: false, z: null, e: {}, a: [], u: 'ünï\u2028cödé 🚀', ctl: '\u0000\t\n' },
  [1, [2, [3]], { k: [] }],
  'a plain string item',
  42,
];

function eager(text: string): { head: Record<string, unknown>; items: unknown[] } {
  const { items, ...head } = JSON.parse(text) as { items: unknown[] };
  return { head, items };
}

function lazy(text: string): { head: Record<string, unknown>; items: unknown[] } {
  const l = lazyList(text);
  return { head: l.head, items: [...l.items()] };
}

describe('lazyList', () => {
  it('yields what JSON.parse yields, for compact and indented text, items anywhere among the fields', () => {
    const list = { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7', continue: 'eyJ2Ijo' } };
    for (const text of [
      JSON.stringify({ ...list, items: tricky }),
      JSON.stringify({ ...list, items: tricky }, null, 2),
      JSON.stringify({ items: tricky, ...list }),
      ` \n${JSON.stringify({ ...list, items: [] })}\r\n`,
    ]) {
      expect(lazy(text)).toEqual(eager(text));
      expect(lazyList(text).count).toBe(eager(text).items.length);
    }
  });

  it('parses an item only when it is taken, and reports each parse', () => {
    const l = lazyList(JSON.stringify({ metadata: {}, items: [{ a: 1 }, { b: 2 }] }));
    const times: number[] = [];
    const it = l.items((ms) => times.push(ms))[Symbol.iterator]();
    expect(times).toHaveLength(0);
    expect(it.next().value).toEqual({ a: 1 });
    expect(times).toHaveLength(1);
    expect(it.next().value).toEqual({ b: 2 });
    expect(it.next().done).toBe(true);
  });

  it('names text that is not a list: not an object, truncated, trailing garbage', () => {
    expect(() => lazyList('[1,2]')).toThrow(LazyListError);
    expect(() => lazyList('{"items":[{"a":"b"}')).toThrow(LazyListError);
    expect(() => lazyList('{"items":[{"a":"unterminated}]}')).toThrow(LazyListError);
    expect(() => lazyList('{"items":[]} x')).toThrow(LazyListError);
    expect(() => lazyList('{"items":[1 2]}')).toThrow(LazyListError);
  });

  it('an item that is not valid JSON fails when it is taken, as JSON.parse would', () => {
    const l = lazyList('{"metadata":{},"items":[{"ok":1},{"bad":tru}]}');
    const it = l.items()[Symbol.iterator]();
    expect(it.next().value).toEqual({ ok: 1 });
    expect(() => it.next()).toThrow(SyntaxError);
  });
});
