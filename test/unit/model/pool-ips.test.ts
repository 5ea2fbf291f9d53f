// Pool IPs (spec.ips minus excludeIPs), SpiderReservedIPs and the "which pools hold this IP" index
// (docs/rules.md, Terms: Pool IPs).
import { bigIntToIp, ipToBigInt } from '../../../lib/ip';
import { IpRangeIndex } from '../../../webhook/model/ip-range-index';
import { IpRangeSet } from '../../../webhook/model/ip-ranges';
import { poolIpIndex, poolIPsOf, reservedIpIndex } from '../../../webhook/model/pool-ips';
import { pool, reservedIP, viewOf } from '../../../testbed/fixtures';

const parse = (entries: unknown[]) => IpRangeSet.parse(entries);

describe('ipToBigInt / bigIntToIp', () => {
  test.each([
    '10.6.168.101',
    '0.0.0.0',
    '255.255.255.255',
    'fd00::a',
    '::',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    '2001:db8::1:0:0:1',
  ])('%s round-trips', (ip) => {
    expect(bigIntToIp(ipToBigInt(ip) as bigint)).toBe(ip);
  });
  test('an IPv4-mapped IPv6 spelling is the IPv4 address', () => {
    expect(ipToBigInt('::ffff:10.0.0.1')).toBe(ipToBigInt('10.0.0.1'));
  });
  test('no IP, no number', () => {
    expect(ipToBigInt('10.0.0.256')).toBeUndefined();
    expect(ipToBigInt('fd00::g')).toBeUndefined();
  });
});

describe('IpRangeSet.parse', () => {
  test('single IPs and ranges, any spelling, merged and counted', () => {
    const { set, problems } = parse([
      '10.6.168.101-10.6.168.105',
      '10.6.168.106',
      '10.6.168.110',
      'FD00::A-fd00:0:0:0:0:0:0:c',
    ]);
    expect(problems).toEqual([]);
    expect(set.toString()).toBe('10.6.168.101-10.6.168.106,10.6.168.110,fd00::a-fd00::c');
    expect(set.size).toBe(10n);
    expect(set.has('10.6.168.104')).toBe(true);
    expect(set.has('10.6.168.107')).toBe(false);
    expect(set.has('fd00::b')).toBe(true);
    expect(set.has('fd00:0::B')).toBe(true);
    expect(set.has('fd00::d')).toBe(false);
    expect(set.has('not-an-ip')).toBe(false);
  });

  test('entries that are no IP or range are named, the others still count', () => {
    const { set, problems } = parse(['10.0.0.5-10.0.0.1', '10.0.0.1-fd00::1', '10.0.0.0/24', 'x', 7, '10.0.0.9']);
    expect(problems.map((p) => p.entry)).toEqual(['10.0.0.5-10.0.0.1', '10.0.0.1-fd00::1', '10.0.0.0/24', 'x', '7']);
    expect(set.toString()).toBe('10.0.0.9');
  });

  test('an IPv6 /64 is two bigints, not 2^64 addresses', () => {
    const { set } = parse(['fd00:1::-fd00:1::ffff:ffff:ffff:ffff']);
    expect(set.size).toBe(2n ** 64n);
    expect(set.has('fd00:1::dead:beef')).toBe(true);
    expect(set.has('fd00:2::')).toBe(false);
    expect([...take(set.addresses(), 2)]).toEqual(['fd00:1::', 'fd00:1::1']);
  });

  test('IPv4 and IPv6 neighbours in number space stay apart', () => {
    // ::fffe:ffff:ffff is the number just below 0.0.0.0 (::ffff:0.0.0.0)
    const { set } = parse(['::fffe:ffff:ffff', '0.0.0.0']);
    expect(set.ranges()).toEqual([
      { first: '::fffe:ffff:ffff', last: '::fffe:ffff:ffff' },
      { first: '0.0.0.0', last: '0.0.0.0' },
    ]);
  });
});

function* take<T>(it: Iterable<T>, n: number): Iterable<T> {
  if (n <= 0) return;
  for (const x of it) {
    yield x;
    if (--n <= 0) return;
  }
}

describe('IpRangeSet operations', () => {
  const a = parse(['10.0.0.1-10.0.0.20']).set;
  test('subtract cuts holes and ends', () => {
    expect(a.subtract(parse(['10.0.0.1', '10.0.0.5-10.0.0.6', '10.0.0.20-10.0.0.30']).set).toString()).toBe(
      '10.0.0.2-10.0.0.4,10.0.0.7-10.0.0.19',
    );
    expect(a.subtract(parse(['10.0.0.0-10.0.1.0']).set).isEmpty).toBe(true);
    expect(a.subtract(IpRangeSet.EMPTY)).toBe(a);
  });
  test('intersect and its size', () => {
    const b = parse(['10.0.0.15-10.0.0.25', '10.0.0.3']).set;
    expect(a.intersect(b).toString()).toBe('10.0.0.3,10.0.0.15-10.0.0.20');
    expect(a.intersect(b).size).toBe(7n);
    expect(a.intersect(parse(['fd00::1']).set).isEmpty).toBe(true);
  });
  test('union merges adjacent ranges', () => {
    expect(a.union(parse(['10.0.0.21-10.0.0.22']).set).toString()).toBe('10.0.0.1-10.0.0.22');
  });
});

describe('pool IPs of a pool object', () => {
  test('spec.ips minus spec.excludeIPs', () => {
    const view = viewOf(
      pool({
        name: 'p',
        subnet: '10.6.0.0/16',
        ips: ['10.6.168.101-10.6.168.110'],
        excludeIPs: ['10.6.168.105', '10.6.168.109-10.6.168.120'],
      }),
    );
    const ips = view.pool('p')?.ips;
    expect(ips?.toString()).toBe('10.6.168.101-10.6.168.104,10.6.168.106-10.6.168.108');
    expect(ips?.size).toBe(7n);
    expect(ips?.has('10.6.168.105')).toBe(false);
  });
  test('a pool without spec.ips holds nothing', () => {
    expect(viewOf(pool({ name: 'p', subnet: '10.6.0.0/16' })).pool('p')?.ips.isEmpty).toBe(true);
  });
  test('an unchanged spec gives the very same set (status writes do not rebuild it)', () => {
    expect(poolIPsOf('same', ['10.0.0.1-10.0.0.9'], [])).toBe(poolIPsOf('same', ['10.0.0.1-10.0.0.9'], []));
    expect(poolIPsOf('same', ['10.0.0.1-10.0.0.8'], []).size).toBe(8n);
  });
});

describe('which pools hold an IP', () => {
  test('a lookup over 20 pools of 5,000 IPs and an IPv6 /64, not a scan', () => {
    const pools = [];
    for (let p = 0; p < 20; p++)
      pools.push(pool({ name: `v4-${p}`, subnet: `10.${p}.0.0/16`, ips: [`10.${p}.0.1-10.${p}.19.136`] }));
    pools.push(
      pool({
        name: 'v6',
        subnet: 'fd00:1::/64',
        ips: ['fd00:1::1-fd00:1::ffff:ffff:ffff:ffff'],
        excludeIPs: ['fd00:1::5'],
      }),
    );
    const view = viewOf(...pools);
    expect(view.pool('v4-3')?.ips.size).toBe(5000n);
    const index = poolIpIndex(view.allPools());
    expect(index.poolsHolding('10.3.7.7')).toEqual(['v4-3']);
    expect(index.poolsHolding('10.3.19.137')).toEqual([]);
    expect(index.poolsHolding('fd00:1::abcd:1')).toEqual(['v6']);
    expect(index.poolsHolding('fd00:1::5')).toEqual([]);
    expect(index.poolsHolding('192.168.0.1')).toEqual([]);
    // the same pools give the same index
    expect(poolIpIndex(view.allPools()).poolsHolding).toBeDefined();
  });
  test('overlapping pools are all named', () => {
    const index = IpRangeIndex.build([
      { owner: 'a', set: parse(['10.0.0.1-10.0.0.10']).set },
      { owner: 'b', set: parse(['10.0.0.5-10.0.0.20']).set },
    ]);
    expect(index.lookup('10.0.0.3')).toEqual(['a']);
    expect([...index.lookup('10.0.0.7')].sort()).toEqual(['a', 'b']);
    expect(index.lookup('10.0.0.15')).toEqual(['b']);
    expect(index.lookup('10.0.0.21')).toEqual([]);
  });
});

describe('SpiderReservedIPs', () => {
  test('loaded from a snapshot, exposed by the view, indexed', () => {
    const view = viewOf(
      reservedIP({ name: 'keep', ips: ['10.6.168.105', '10.6.168.108-10.6.168.109'] }),
      reservedIP({ name: 'v6', ips: ['fd00::1-fd00::3'] }),
    );
    expect([...view.reservedIPs()].map((r) => [r.name, r.ips.toString()])).toEqual([
      ['keep', '10.6.168.105,10.6.168.108-10.6.168.109'],
      ['v6', 'fd00::1-fd00::3'],
    ]);
    const index = reservedIpIndex(view);
    expect(index.reservedBy('10.6.168.109')).toEqual(['keep']);
    expect(index.reservedBy('10.6.168.106')).toEqual([]);
    expect(index.all.size).toBe(6n);
  });
  test('a view without SpiderReservedIPs reserves nothing', () => {
    expect(reservedIpIndex(viewOf()).all.isEmpty).toBe(true);
  });
});
