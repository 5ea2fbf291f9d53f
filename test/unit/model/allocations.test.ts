// Records and their diff (docs/rules.md#records-and-the-allocatedips-diff) and what MALFORMED_ALLOCATIONS covers
// (docs/rules.md#malformed_allocations); the encoding is Go's json.Marshal of a map.
import { diffRecords, parseAllocatedIPs, poolFamily, serializeAllocatedIPs } from '../../../webhook/model/allocations';
import { PoolRecord } from '../../../webhook/model/types';
import { goAllocatedIPs, rec, uid } from '../../../testbed/fixtures';

const V4 = { subnet: '10.6.0.0/16', family: 4 as const };
const V6 = { subnet: 'fd00:10:6::/64', family: 6 as const };
const A = uid('web-0#A');
const B = uid('web-0#B');
const C = uid('api-x2k8q#C');

function map(entries: Record<string, PoolRecord>): Map<string, PoolRecord> {
  return new Map(Object.entries(entries));
}

describe('parseAllocatedIPs: whole value', () => {
  it.each([
    ['absent', undefined],
    ['null', null],
  ])('%s means no records, not malformed', (_what, value) => {
    const p = parseAllocatedIPs(value, V4);
    expect(p.unparseable).toBe(false);
    expect(p.malformed).toEqual([]);
    expect(p.records.size).toBe(0);
    expect(p.keyCount).toBe(0);
  });

  it('"{}" is an empty object: no records, not malformed', () => {
    const p = parseAllocatedIPs('{}', V4);
    expect(p.unparseable).toBe(false);
    expect(p.malformed).toEqual([]);
    expect(p.records.size).toBe(0);
  });

  it.each([
    ['the empty string', ''],
    ['truncated JSON', '{"10.6.168.101":{"pod":"demo/web-0","podUid":"' + A],
    ['a JSON array', '[]'],
    ['a JSON string', '"10.6.168.101"'],
    ['a JSON number', '3'],
    ['the JSON literal null', 'null'],
    ['whitespace', '   '],
  ])('%s is unparseable', (_what, value) => {
    const p = parseAllocatedIPs(value, V4);
    expect(p.unparseable).toBe(true);
    expect(p.malformed).toHaveLength(1);
    expect(p.malformed[0].key).toBeUndefined();
    expect(p.records.size).toBe(0);
  });

  it.each([
    ['a number', 42],
    ['an object (not a JSON string)', { '10.6.168.101': { pod: 'demo/web-0', podUid: A } }],
    ['a boolean', true],
  ])('a value that is %s (not a string) is unparseable', (_what, value) => {
    expect(parseAllocatedIPs(value, V4).unparseable).toBe(true);
  });

  it('parses a realistic allocatedIPs value as Spiderpool writes it', () => {
    const value =
      '{"10.6.168.101":{"pod":"demo/web-0","podUid":"0b6c3f7e-5a2d-4e1b-9f3a-7c8d9e0f1a2b"},"10.6.168.102":{"pod":"demo/web-1","podUid":"7f3c1a9e-3b1d-4c55-9a0e-2d3f4b5c6d7e"},"10.6.168.103":{"pod":"demo/api-6d9f7c-x2k8q","podUid":"c41e2b7a-9d3f-4a61-8b20-5e6f7a8b9c0d"}}';
    const p = parseAllocatedIPs(value, V4);
    expect(p.unparseable).toBe(false);
    expect(p.malformed).toEqual([]);
    expect(p.keyCount).toBe(3);
    expect(p.records.get('10.6.168.102')).toEqual({
      pod: 'demo/web-1',
      podUid: '7f3c1a9e-3b1d-4c55-9a0e-2d3f4b5c6d7e',
    });
    expect([...p.records.keys()]).toEqual(['10.6.168.101', '10.6.168.102', '10.6.168.103']);
  });
});

describe('parseAllocatedIPs: malformed entries, well-formed ones still parse', () => {
  function parseWithBad(badKey: string, badValue: unknown, addressing: { subnet: string; family: 4 | 6 } = V4) {
    const good = addressing.family === 4 ? '10.6.168.101' : 'fd00:10:6::a8:65';
    const value = JSON.stringify({ [good]: rec('demo/web-0', A), [badKey]: badValue });
    const p = parseAllocatedIPs(value, addressing);
    expect(p.unparseable).toBe(false);
    expect(p.records.get(good)).toEqual(rec('demo/web-0', A));
    expect(p.records.has(badKey)).toBe(false);
    expect(p.keyCount).toBe(2);
    expect(p.malformed).toHaveLength(1);
    expect(p.malformed[0].key).toBe(badKey);
    return p.malformed[0].reason;
  }

  it('a key that is not an IP', () => {
    expect(parseWithBad('not-an-ip', rec('demo/x', C))).toMatch(/not an IP/);
  });
  it('a key with a prefix length', () => {
    expect(parseWithBad('10.6.168.102/16', rec('demo/x', C))).toMatch(/not an IP/);
  });
  it('a key with leading zeros', () => {
    expect(parseWithBad('10.6.168.010', rec('demo/x', C))).toMatch(/not an IP/);
  });
  it('a non-canonical IPv6 key (expanded)', () => {
    expect(parseWithBad('fd00:10:6:0:0:0:a8:66', rec('demo/x', C), V6)).toMatch(/canonical/);
  });
  it('a non-canonical IPv6 key (upper case)', () => {
    expect(parseWithBad('FD00:10:6::A8:66', rec('demo/x', C), V6)).toMatch(/canonical/);
  });
  it('an IPv4-mapped key in an IPv4 pool', () => {
    expect(parseWithBad('::ffff:10.6.168.102', rec('demo/x', C))).toMatch(/canonical/);
  });
  it('a key outside the pool subnet', () => {
    expect(parseWithBad('10.7.0.1', rec('demo/x', C))).toMatch(/outside/);
  });
  it('a key of the wrong family (IPv6 key in an IPv4 pool)', () => {
    expect(parseWithBad('fd00:10:6::a8:66', rec('demo/x', C))).toMatch(/IPv4/);
  });
  it('a key of the wrong family (IPv4 key in an IPv6 pool)', () => {
    expect(parseWithBad('10.6.168.102', rec('demo/x', C), V6)).toMatch(/IPv6/);
  });
  it('a record without pod', () => {
    expect(parseWithBad('10.6.168.102', { podUid: C })).toMatch(/pod/);
  });
  it('a record whose pod is not namespace/name', () => {
    expect(parseWithBad('10.6.168.102', { pod: 'web-1', podUid: C })).toMatch(/pod/);
    expect(parseWithBad('10.6.168.102', { pod: 'demo/', podUid: C })).toMatch(/pod/);
    expect(parseWithBad('10.6.168.102', { pod: '/web-1', podUid: C })).toMatch(/pod/);
    expect(parseWithBad('10.6.168.102', { pod: 'a/b/c', podUid: C })).toMatch(/pod/);
  });
  it('a record without podUid, or an empty one', () => {
    expect(parseWithBad('10.6.168.102', { pod: 'demo/web-1' })).toMatch(/podUid/);
    expect(parseWithBad('10.6.168.102', { pod: 'demo/web-1', podUid: '' })).toMatch(/podUid/);
    expect(parseWithBad('10.6.168.102', { pod: 'demo/web-1', podUid: 7 })).toMatch(/podUid/);
  });
  it('a record that is not an object', () => {
    expect(parseWithBad('10.6.168.102', 'demo/web-1')).toMatch(/object/);
    expect(parseWithBad('10.6.168.102', null)).toMatch(/object/);
    expect(parseWithBad('10.6.168.102', [])).toMatch(/object/);
  });

  it('the family comes from spec.subnet when spec.ipVersion is missing', () => {
    expect(poolFamily(undefined, '10.6.0.0/16')).toBe(4);
    expect(poolFamily(undefined, 'fd00::/64')).toBe(6);
    expect(poolFamily(6, '10.6.0.0/16')).toBe(6);
    expect(poolFamily('4', 'garbage')).toBeUndefined();
  });
});

describe('serializeAllocatedIPs', () => {
  it('writes Go json.Marshal output: keys in byte order, no whitespace', () => {
    const entries = {
      '10.6.168.99': rec('demo/c', C),
      '10.6.168.101': rec('demo/web-0', A),
      '10.6.168.2': rec('demo/b', B),
    };
    const text = serializeAllocatedIPs(entries)!;
    expect(text).toBe(goAllocatedIPs(entries));
    expect(text.indexOf('10.6.168.101')).toBeLessThan(text.indexOf('10.6.168.2'));
    expect(text.indexOf('10.6.168.2')).toBeLessThan(text.indexOf('10.6.168.99'));
    expect(text).not.toMatch(/\s/);
  });

  it('round-trips through the parser', () => {
    const entries = { 'fd00:10:6::a8:65': rec('demo/web-0', A), 'fd00:10:6::a8:66': rec('demo/web-1', B) };
    const parsed = parseAllocatedIPs(serializeAllocatedIPs(entries), V6);
    expect(Object.fromEntries(parsed.records)).toEqual(entries);
    expect(serializeAllocatedIPs(parsed.raw!)).toBe(serializeAllocatedIPs(entries));
  });

  it('an empty map drops the field (undefined), as Spiderpool does', () => {
    expect(serializeAllocatedIPs({})).toBeUndefined();
  });
});

describe('diffRecords (docs/rules.md#records-and-the-allocatedips-diff)', () => {
  const X = '10.6.168.101';
  const Y = '10.6.168.102';
  const Z = '10.6.168.103';

  it('removed = old keys absent from the new map', () => {
    const d = diffRecords(
      map({ [X]: rec('demo/web-0', A), [Y]: rec('demo/api', C) }),
      map({ [Y]: rec('demo/api', C) }),
    );
    expect(d.removed).toEqual([{ ip: X, old: rec('demo/web-0', A) }]);
    expect(d.added).toEqual([]);
    expect(d.rewritten).toEqual([]);
  });

  it('added = keys new in the new map', () => {
    const d = diffRecords(
      map({ [X]: rec('demo/web-0', A) }),
      map({ [X]: rec('demo/web-0', A), [Z]: rec('demo/api', C) }),
    );
    expect(d.added).toEqual([{ ip: Z, next: rec('demo/api', C) }]);
    expect(d.removed).toEqual([]);
    expect(d.rewritten).toEqual([]);
  });

  it('rewritten = same key and pod, another podUid', () => {
    const d = diffRecords(map({ [X]: rec('demo/web-0', A) }), map({ [X]: rec('demo/web-0', B) }));
    expect(d.rewritten).toEqual([{ ip: X, old: rec('demo/web-0', A), next: rec('demo/web-0', B) }]);
    expect(d.removed).toEqual([]);
    expect(d.added).toEqual([]);
  });

  it('a key whose pod changed counts as removed (old record) and added (new record)', () => {
    const d = diffRecords(map({ [X]: rec('demo/web-0', A) }), map({ [X]: rec('demo/api', C) }));
    expect(d.removed).toHaveLength(1);
    expect(d.removed[0]).toMatchObject({ ip: X, old: rec('demo/web-0', A) });
    expect(d.added).toHaveLength(1);
    expect(d.added[0]).toMatchObject({ ip: X, next: rec('demo/api', C) });
    expect(d.rewritten).toEqual([]);
  });

  it('a key whose pod changed but kept the same podUid is still removed + added', () => {
    const d = diffRecords(map({ [X]: rec('demo/web-0', A) }), map({ [X]: rec('demo/web-9', A) }));
    expect(d.removed.map((c) => c.ip)).toEqual([X]);
    expect(d.added.map((c) => c.ip)).toEqual([X]);
  });

  it('identical maps make an empty diff', () => {
    const m = { [X]: rec('demo/web-0', A), [Y]: rec('demo/web-1', B) };
    expect(diffRecords(map(m), map({ ...m }))).toEqual({ removed: [], added: [], rewritten: [] });
  });

  it('a mixed write reports every change', () => {
    const d = diffRecords(
      map({ [X]: rec('demo/web-0', A), [Y]: rec('demo/web-1', B) }),
      map({ [Y]: rec('demo/web-1', C), [Z]: rec('demo/api', C) }),
    );
    expect(d.removed.map((c) => c.ip)).toEqual([X]);
    expect(d.rewritten.map((c) => c.ip)).toEqual([Y]);
    expect(d.added.map((c) => c.ip)).toEqual([Z]);
  });
});
