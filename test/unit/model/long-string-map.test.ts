// LongStringMap: a cache keyed by whole allocatedIPs values. Lookups must be exact whatever the buckets do.
import { LongStringMap, bucketOf } from '../../../webhook/model/long-string-map';
import { serializeAllocatedIPs } from '../../../webhook/model/allocations';

/** A pool value of n records (about 60 characters each), without the record at index `skip`. */
function poolValue(n: number, skip: number): string {
  const records: Record<string, { pod: string; podUid: string }> = {};
  for (let i = 0; i < n; i++)
    if (i !== skip)
      records[`10.7.${i >> 8}.${i & 255}`] = {
        pod: `ns-${i % 7}/pod-${i}`,
        podUid: `uid-${String(i).padStart(12, '0')}`,
      };
  return serializeAllocatedIPs(records)!;
}

const copy = (s: string) => Buffer.from(s).toString(); // the same text in another string, as a new request brings it

describe('LongStringMap', () => {
  // records whose IP, name and uid have the same number of digits: the values without one of them have one length
  it('values of one length that differ over a stretch are told apart by their samples, and each is found by an equal copy', () => {
    const n = 2000; // about 130,000 characters: past the length up to which a key is its own bucket
    const variants = [1124, 1380, 1636, 1892].map((skip) => poolValue(n, skip));
    expect(new Set(variants.map((v) => v.length)).size).toBe(1);
    expect(variants[0].length).toBeGreaterThan(65_536);
    expect(new Set(variants.map(bucketOf)).size).toBe(variants.length);
    const m = new LongStringMap<number>();
    variants.forEach((v, i) => m.add(v, i));
    variants.forEach((v, i) => expect(m.get(copy(v))).toBe(i));
    expect(m.get(poolValue(n, 1125))).toBeUndefined();
  });

  it('stays exact when different keys share a bucket (they differ between samples)', () => {
    const a = poolValue(2000, 5);
    const b = poolValue(2000, 6); // adjacent records: the values differ in a few characters only
    const i = a.indexOf('uid-000000001000') + 13;
    const c = a.slice(0, i) + (a[i] === '7' ? '8' : '7') + a.slice(i + 1); // one character changed
    expect(bucketOf(c)).toBe(bucketOf(a));
    const m = new LongStringMap<string>();
    m.add(a, 'a');
    expect([m.get(b), m.get(c)]).toEqual([undefined, undefined]);
    m.add(b, 'b');
    m.add(c, 'c');
    expect([m.get(copy(a)), m.get(copy(b)), m.get(copy(c)), m.size]).toEqual(['a', 'b', 'c', 3]);
    expect(m.removeOldest()!.value).toBe('a');
    expect([m.get(a), m.get(b), m.get(c), m.size]).toEqual([undefined, 'b', 'c', 2]);
  });

  it('short keys are their own bucket; removeOldest() follows insertion order, and a refreshing get moves an entry last', () => {
    const m = new LongStringMap<number>();
    m.add('x', 1);
    m.add('y', 2);
    m.add('z', 3);
    expect(bucketOf('x')).toBe('x');
    expect(m.get('x', undefined, true)).toBe(1);
    expect([m.removeOldest()!.key, m.removeOldest()!.key, m.removeOldest()!.key, m.removeOldest()]).toEqual([
      'y',
      'z',
      'x',
      undefined,
    ]);
  });
});
