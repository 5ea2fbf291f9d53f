// The incremental allocatedIPs diff must decide exactly what the general JSON parser decides, for Spiderpool's
// strict form and for everything else (which it hands back to the parser).
import { isDeepStrictEqual } from 'node:util';
import {
  diffScans,
  emptyScan,
  recordsFromScan,
  scanAllocations,
  scanPod,
  scanRecords,
  scanUid,
} from '../../../webhook/model/allocation-scan';
import { diffRecords, parseAllocatedIPs, serializeAllocatedIPs } from '../../../webhook/model/allocations';
import { readPoolUpdate } from '../../../webhook/guard/pool-rules';

const addressing = { subnet: '10.0.0.0/16', family: 4 as const };

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

type Rec = { pod: string; podUid: string };

function randomMap(r: () => number, n: number): Record<string, Rec> {
  const out: Record<string, Rec> = {};
  for (let i = 0; i < n; i++) {
    const ip = `10.0.${Math.floor(r() * 4)}.${Math.floor(r() * 256)}`;
    out[ip] = { pod: `ns${Math.floor(r() * 3)}/pod-${Math.floor(r() * 1000)}`, podUid: `uid-${Math.floor(r() * 1e6)}` };
  }
  return out;
}

function mutate(r: () => number, m: Record<string, unknown>): Record<string, unknown> {
  const next: Record<string, unknown> = { ...m };
  const keys = Object.keys(next);
  const edits = 1 + Math.floor(r() * 4);
  for (let e = 0; e < edits; e++) {
    const k = keys[Math.floor(r() * keys.length)];
    switch (Math.floor(r() * 7)) {
      case 0:
        if (k) delete next[k];
        break;
      case 1:
        next[`10.0.${Math.floor(r() * 4)}.${Math.floor(r() * 256)}`] = { pod: 'ns9/new', podUid: `u${e}` };
        break;
      case 2:
        if (k && next[k]) next[k] = { pod: (next[k] as Rec).pod, podUid: 'rewritten' };
        break;
      case 3:
        if (k) next[k] = { pod: 'ns8/other', podUid: 'o' };
        break;
      case 4:
        next['10.1.0.1'] = { pod: 'ns/outside', podUid: 'x' }; // outside the subnet
        break;
      case 5:
        if (k) next[k] = { pod: 'no-slash', podUid: 'x' };
        break;
      default:
        if (k && next[k]) next[k] = { pod: (next[k] as Rec).pod, podUid: '' };
    }
  }
  return next;
}

function safeParse(raw: string): unknown {
  try {
    const v = JSON.parse(raw) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const sortChanges = (xs: { ip: string }[]) => xs.map((x) => JSON.stringify(x)).sort();

function expectSameAsParser(oldRaw: string | undefined, newRaw: string | undefined) {
  const pool = (raw: string | undefined) => ({
    metadata: { name: 'p' },
    spec: { subnet: addressing.subnet, ipVersion: 4 },
    status: { allocatedIPs: raw },
  });
  const u = readPoolUpdate(pool(newRaw), pool(oldRaw));
  const o = parseAllocatedIPs(oldRaw, addressing);
  const n = parseAllocatedIPs(newRaw, addressing);
  const d = diffRecords(o.records, n.records);
  expect(sortChanges(u.diff.removed)).toEqual(sortChanges(d.removed));
  expect(sortChanges(u.diff.added)).toEqual(sortChanges(d.added));
  expect(sortChanges(u.diff.rewritten)).toEqual(sortChanges(d.rewritten));
  // Judged: the malformed entries of the new value that the write adds or changes (docs/rules.md#malformed_allocations).
  const before = (typeof oldRaw === 'string' ? safeParse(oldRaw) : {}) as Record<string, unknown> | undefined;
  const after = n.raw ?? {};
  const touched = n.malformed.filter(
    (m) => m.key === undefined || !before || !(m.key in before) || !isDeepStrictEqual(before[m.key], after[m.key]),
  );
  expect(u.malformed.map((m) => m.key).sort()).toEqual(touched.map((m) => m.key).sort());
  expect(u.keyCount).toBe(n.keyCount);
  expect(u.unparseable).toBe(n.unparseable);
}

describe('incremental allocatedIPs diff', () => {
  test('matches the general parser on 600 random Spiderpool-style edits (remove, add, rewrite, reassign, malformed)', () => {
    const r = rng(42);
    for (let i = 0; i < 600; i++) {
      const base = randomMap(r, Math.floor(r() * 40));
      const oldRaw = serializeAllocatedIPs(base);
      const newRaw = serializeAllocatedIPs(mutate(r, base));
      expectSameAsParser(oldRaw, newRaw);
    }
  });

  test('matches the parser when the old value already holds malformed entries (edits around them, and of them)', () => {
    const r = rng(99);
    let fast = 0;
    for (let i = 0; i < 600; i++) {
      const base = mutate(r, randomMap(r, 1 + Math.floor(r() * 40)));
      const oldRaw = serializeAllocatedIPs(base);
      const newRaw = serializeAllocatedIPs(mutate(r, base));
      expectSameAsParser(oldRaw, newRaw);
      const oldScan = oldRaw && scanAllocations(oldRaw, addressing);
      if (oldScan && oldScan.malformed.length > 0 && newRaw && diffScans(oldScan, newRaw, addressing)) fast++;
    }
    expect(fast).toBeGreaterThan(300); // the incremental path, not the parser, handled most of them
  });

  test('a malformed entry the write leaves as it is is not judged; one it adds or changes is', () => {
    const good = { '10.0.0.1': { pod: 'ns/a', podUid: 'ua' }, '10.0.0.9': { pod: 'ns/z', podUid: 'uz' } };
    const withBad = { ...good, '10.0.0.5': { pod: 'no-slash', podUid: 'u5' } };
    const oldRaw = serializeAllocatedIPs(withBad)!;
    const oldScan = scanAllocations(oldRaw, addressing)!;
    expect(oldScan.malformed.map((m) => m.key)).toEqual(['10.0.0.5']);
    // a release next to it: the malformed entry is untouched, still listed in the new string's scan
    const { ['10.0.0.1']: _gone, ...rest } = withBad;
    const released = diffScans(oldScan, serializeAllocatedIPs(rest)!, addressing)!;
    expect(released.malformed).toEqual([]);
    expect(released.removed.map((c) => c.ip)).toEqual(['10.0.0.1']);
    expect(released.newScan.malformed.map((m) => m.key)).toEqual(['10.0.0.5']);
    // an allocation right after it (the re-scanned middle then starts at the malformed entry's neighbour)
    const allocated = diffScans(
      oldScan,
      serializeAllocatedIPs({ ...withBad, '10.0.0.6': { pod: 'ns/f', podUid: 'uf' } })!,
      addressing,
    )!;
    expect(allocated.malformed).toEqual([]);
    expect(allocated.added.map((c) => c.ip)).toEqual(['10.0.0.6']);
    // changing the malformed entry (still malformed) is judged
    const changed = diffScans(
      oldScan,
      serializeAllocatedIPs({ ...withBad, '10.0.0.5': { pod: 'still-no-slash', podUid: 'u5' } })!,
      addressing,
    )!;
    expect(changed.malformed.map((m) => m.key)).toEqual(['10.0.0.5']);
    // repairing it adds a record (the malformed one was none)
    const repaired = diffScans(
      oldScan,
      serializeAllocatedIPs({ ...withBad, '10.0.0.5': { pod: 'ns/e', podUid: 'u5' } })!,
      addressing,
    )!;
    expect(repaired.malformed).toEqual([]);
    expect(repaired.added).toEqual([{ ip: '10.0.0.5', next: { pod: 'ns/e', podUid: 'u5' } }]);
    expect(repaired.removed).toEqual([]);
    expect(repaired.newScan.malformed).toEqual([]);
  });

  test('only the changed middle is new: the fast path really runs on a strict pair', () => {
    const base = randomMap(rng(7), 500);
    const oldRaw = serializeAllocatedIPs(base)!;
    const next = { ...base };
    const victim = Object.keys(base).sort()[250];
    delete next[victim];
    const scan = scanAllocations(oldRaw, addressing)!;
    const d = diffScans(scan, serializeAllocatedIPs(next)!, addressing)!;
    expect(d).toBeDefined();
    expect(d.removed).toEqual([{ ip: victim, old: base[victim] }]);
    expect(d.added).toEqual([]);
    expect(d.newScan.keys).toEqual(Object.keys(next).sort());
    // the new scan's offsets are right: every entry can be cut out of the new string
    d.newScan.keys.forEach((k, i) =>
      expect(d.newScan.raw.slice(d.newScan.starts[i], d.newScan.ends[i]).startsWith(`"${k}":`)).toBe(true),
    );
  });

  test('removing the first, the last, everything; adding to an absent field', () => {
    const base = randomMap(rng(3), 20);
    const keys = Object.keys(base).sort();
    const without = (k: string) => Object.fromEntries(Object.entries(base).filter(([x]) => x !== k));
    const raw = serializeAllocatedIPs(base);
    expectSameAsParser(raw, serializeAllocatedIPs(without(keys[0])));
    expectSameAsParser(raw, serializeAllocatedIPs(without(keys[keys.length - 1])));
    expectSameAsParser(raw, undefined);
    expectSameAsParser(raw, '{}');
    expectSameAsParser(undefined, raw);
    expect(diffScans(emptyScan(addressing), raw!, addressing)!.added).toHaveLength(keys.length);
  });

  test('strings outside the strict form fall back to the parser and decide the same', () => {
    const base = randomMap(rng(5), 10);
    const raw = serializeAllocatedIPs(base)!;
    const spaced = JSON.stringify(base, null, 1); // whitespace
    const unsorted = JSON.stringify(Object.fromEntries(Object.entries(base).reverse()));
    const extraField = raw.replace('"podUid":', '"extra":1,"podUid":');
    const escaped = raw.replace('ns', 'n\\u0073');
    const duplicate = raw.slice(0, -1) + ',' + raw.slice(1);
    for (const other of [spaced, unsorted, extraField, escaped, duplicate, '', '{', 'null', '[]', '{"10.0.0.1":1}']) {
      expectSameAsParser(raw, other);
      expectSameAsParser(other, raw);
    }
    expect(scanAllocations(spaced, addressing)).toBeUndefined();
    // raw control characters inside a string: JSON.parse (and Go) reject the whole value, so must the fast path
    const ctrl = raw.replace('"pod":"ns', '"pod":"n\ns').replace('"podUid":"uid', '"podUid":"u\tid');
    expect(scanAllocations(ctrl, addressing)).toBeUndefined();
    expectSameAsParser(raw, ctrl);
    expect(scanAllocations(unsorted, addressing)).toBeUndefined();
  });
});

// PoolFacts.records of a scanned pool are read from the scan (no Map of records is built): every read must answer as
// the Map the general parser builds from the same string.
describe('records read from a scan', () => {
  const strings = (r: () => number) => {
    const map = randomMap(r, 1 + Math.floor(r() * 40));
    // malformed entries the strict form still scans: a non-canonical key, one outside the subnet, a record without
    // a namespace, an empty uid
    if (r() < 0.5) map['10.0.01.7'] = { pod: 'ns0/x', podUid: 'u' };
    if (r() < 0.5) map['10.9.0.7'] = { pod: 'ns0/y', podUid: 'u' };
    if (r() < 0.5) map['10.0.3.250'] = { pod: 'no-namespace', podUid: 'u' };
    if (r() < 0.5) map['10.0.3.251'] = { pod: 'ns0/z', podUid: '' };
    return serializeAllocatedIPs(map)!;
  };

  test('size, get, has, iteration, keys, values and forEach answer as the general parser’s Map', () => {
    const r = rng(7);
    for (let round = 0; round < 200; round++) {
      const raw = strings(r);
      const scan = scanAllocations(raw, addressing)!;
      expect(scan).toBeDefined();
      const records = scanRecords(scan);
      const reference = parseAllocatedIPs(raw, addressing).records;
      expect(records.size).toBe(reference.size);
      expect([...records]).toEqual([...reference].sort(([a], [b]) => (a < b ? -1 : 1)));
      expect([...records.keys()]).toEqual([...records].map(([k]) => k));
      expect([...records.values()]).toEqual([...records].map(([, v]) => v));
      const seen: [string, unknown][] = [];
      records.forEach((v, k) => seen.push([k, v]));
      expect(seen).toEqual([...records]);
      for (const key of [...scan.keys, '10.0.0.0', '10.0.9.9', '', 'zzz']) {
        expect(records.has(key)).toBe(reference.has(key));
        expect(records.get(key)).toEqual(reference.get(key));
      }
      expect(new Map(records)).toEqual(reference);
      expect(recordsFromScan(records)).toBe(true);
      expect(recordsFromScan(reference)).toBe(false);
    }
  });

  test('shareKey and shareKeys exchange only equal key strings: every read and a later diff answer as before', () => {
    const raw = serializeAllocatedIPs({
      '10.0.0.1': { pod: 'a/p1', podUid: 'u1' },
      '10.0.0.2': { pod: 'a/p2', podUid: 'u2' },
      '10.0.0.3': { pod: 'a/p3', podUid: 'u3' },
    })!;
    const scan = scanAllocations(raw, addressing)!;
    const records = scanRecords(scan);
    const before = [...records];
    // a string built apart from the scanned text, as a cached pod's IP is
    const ip2 = ['10', '0', '0', '2'].join('.');
    records.shareKey(ip2);
    records.shareKey('10.0.9.9'); // not a key: nothing changes
    // an instanceOf that answers a different string for a key leaves that key as it is
    records.shareKeys((ip) =>
      ip === '10.0.0.1' ? '10.0.0.9' : ip === '10.0.0.3' ? ['10.0.0', '3'].join('.') : undefined,
    );
    expect(scan.keys).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect([...records]).toEqual(before);
    expect(records.get('10.0.0.2')).toEqual({ pod: 'a/p2', podUid: 'u2' });
    expect(records.has('10.0.9.9')).toBe(false);
    const next = serializeAllocatedIPs({
      '10.0.0.1': { pod: 'a/p1', podUid: 'u1' },
      '10.0.0.3': { pod: 'a/p3', podUid: 'u3' },
    })!;
    const diff = diffScans(scan, next, addressing)!;
    expect(diff.removed).toEqual([{ ip: '10.0.0.2', old: { pod: 'a/p2', podUid: 'u2' } }]);
    expect(diff.added).toEqual([]);
    expect([...scanRecords(diff.newScan)]).toEqual([...parseAllocatedIPs(next, addressing).records]);
  });

  test('read-only', () => {
    const records = scanRecords(scanAllocations('{"10.0.0.1":{"pod":"a/b","podUid":"u"}}', addressing)!);
    expect(() => (records as Map<string, Rec>).set('10.0.0.2', { pod: 'a/c', podUid: 'v' })).toThrow(TypeError);
    expect(() => (records as Map<string, Rec>).delete('10.0.0.1')).toThrow(TypeError);
    expect(() => (records as Map<string, Rec>).clear()).toThrow(TypeError);
    expect(records.get('10.0.0.1')).toEqual({ pod: 'a/b', podUid: 'u' });
  });
});

describe('a scan reads each entry’s pod and uid from its string', () => {
  test('every entry, empty values included, as JSON.parse reads them', () => {
    const r = rng(11);
    for (let round = 0; round < 100; round++) {
      const map: Record<string, Rec> = randomMap(r, 1 + Math.floor(r() * 30));
      map['10.0.3.1'] = { pod: '', podUid: '' };
      map['10.0.3.2'] = { pod: 'ns/p', podUid: '' };
      map['10.0.3.3'] = { pod: '', podUid: 'u' };
      const raw = serializeAllocatedIPs(map)!;
      const scan = scanAllocations(raw, addressing)!;
      const parsed = JSON.parse(raw) as Record<string, Rec>;
      scan.keys.forEach((k, i) => {
        expect(scanPod(scan, i)).toBe(parsed[k].pod);
        expect(scanUid(scan, i)).toBe(parsed[k].podUid);
      });
    }
  });
});
