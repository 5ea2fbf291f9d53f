// docs/rules.md#observed-ips: IPs are compared only in canonical form, the form Go's net.IP.String() prints.
import { canonicalIp, canonicalIpWithoutPrefix, cidrContains, ipFamily, parseCidr } from '../../../lib/ip';

describe('canonicalIp: IPv4', () => {
  it.each([
    ['10.6.168.101', '10.6.168.101'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['192.168.0.1', '192.168.0.1'],
  ])('%s → %s', (input, want) => {
    expect(canonicalIp(input)).toBe(want);
  });

  it.each([
    ['leading zero in an octet', '10.06.168.101'],
    ['leading zero (octal look-alike)', '010.6.168.101'],
    ['double zero', '10.6.168.00'],
    ['octet > 255', '10.6.168.256'],
    ['three octets', '10.6.168'],
    ['five octets', '10.6.168.1.2'],
    ['empty octet', '10..168.1'],
    ['trailing dot', '10.6.168.1.'],
    ['sign', '10.6.168.+1'],
    ['whitespace', ' 10.6.168.1'],
    ['with a prefix', '10.6.168.1/16'],
    ['hex octet', '0x0a.6.168.1'],
    ['empty string', ''],
    ['a name', 'localhost'],
  ])('rejects %s (%s)', (_what, input) => {
    expect(canonicalIp(input)).toBeUndefined();
  });

  it('answers the same after caching (a rejected text stays rejected, an accepted one stays accepted)', () => {
    expect(canonicalIp('10.06.0.1')).toBeUndefined();
    expect(canonicalIp('10.06.0.1')).toBeUndefined();
    expect(canonicalIp('FD00::A')).toBe('fd00::a');
    expect(canonicalIp('FD00::A')).toBe('fd00::a');
  });
});

describe('canonicalIp: IPv6', () => {
  it.each([
    // compressed, expanded, upper-case spellings of one address
    ['fd00::a', 'fd00::a'],
    ['fd00:0:0:0:0:0:0:a', 'fd00::a'],
    ['fd00:0000:0000:0000:0000:0000:0000:000a', 'fd00::a'],
    ['FD00::A', 'fd00::a'],
    ['Fd00:0:0::A', 'fd00::a'],
    ['fd00:10:6::a8:65', 'fd00:10:6::a8:65'],
    ['fd00:0010:0006:0000:0000:0000:00a8:0065', 'fd00:10:6::a8:65'],
    ['::', '::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1::', '1::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    // Go/RFC 5952: the longest run of zero groups is compressed, the first one on a tie
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:0:0:0:1:0:0:1', '1::1:0:0:1'],
    ['1:0:0:1:1:0:0:1', '1::1:1:0:0:1'],
    ['0:0:1:0:0:1:0:0', '::1:0:0:1:0:0'],
    // a single zero group is never compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['fd00:192:abcd::13', 'fd00:192:abcd::13'],
  ])('%s → %s', (input, want) => {
    expect(canonicalIp(input)).toBe(want);
  });

  it.each([
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:10.6.168.101', '10.6.168.101'],
    ['0:0:0:0:0:ffff:10.6.168.101', '10.6.168.101'],
    ['::ffff:a06:a865', '10.6.168.101'],
    ['0000:0000:0000:0000:0000:ffff:255.255.255.255', '255.255.255.255'],
  ])('IPv4-mapped %s prints as IPv4 %s', (input, want) => {
    expect(canonicalIp(input)).toBe(want);
  });

  it('an IPv4-compatible (not mapped) address stays IPv6, as Go prints it', () => {
    expect(canonicalIp('::1.2.3.4')).toBe('::102:304');
    expect(canonicalIp('64:ff9b::10.6.168.101')).toBe('64:ff9b::a06:a865');
  });

  it.each([
    ['two ellipses', '1::2::3'],
    ['nine groups', '1:2:3:4:5:6:7:8:9'],
    ['seven groups without ellipsis', '1:2:3:4:5:6:7'],
    ['ellipsis with eight groups', '1:2:3:4::5:6:7:8'],
    ['group of five digits', 'fd000::1'],
    ['non-hex', 'fd00::g'],
    ['zone', 'fe80::1%eth0'],
    ['leading single colon', ':1:2:3:4:5:6:7'],
    ['trailing single colon', '1:2:3:4:5:6:7:'],
    ['triple colon', ':::'],
    ['brackets', '[fd00::a]'],
    ['prefix', 'fd00::a/64'],
    ['bad IPv4 tail', '::ffff:1.2.3'],
    ['IPv4 tail with leading zero', '::ffff:1.02.3.4'],
    ['IPv4 tail not last', '1.2.3.4::'],
    ['too many groups before an IPv4 tail', '1:2:3:4:5:6:7:1.2.3.4'],
  ])('rejects %s (%s)', (_what, input) => {
    expect(canonicalIp(input)).toBeUndefined();
  });
});

describe('canonicalIpWithoutPrefix', () => {
  it('drops the pool prefix length of endpoint and multus IPs, then canonicalises', () => {
    expect(canonicalIpWithoutPrefix('10.6.168.102/16')).toBe('10.6.168.102');
    expect(canonicalIpWithoutPrefix('fd00:10:6:0:0:0:a8:66/64')).toBe('fd00:10:6::a8:66');
    expect(canonicalIpWithoutPrefix('FD00::A')).toBe('fd00::a');
    expect(canonicalIpWithoutPrefix('10.6.168.1002/16')).toBeUndefined();
  });
});

describe('ipFamily, parseCidr, cidrContains', () => {
  it('families', () => {
    expect(ipFamily('10.6.168.101')).toBe(4);
    expect(ipFamily('fd00::a')).toBe(6);
  });

  it('IPv4 subnets', () => {
    const c = parseCidr('10.6.0.0/16')!;
    expect(c.family).toBe(4);
    expect(cidrContains(c, '10.6.0.0')).toBe(true);
    expect(cidrContains(c, '10.6.255.255')).toBe(true);
    expect(cidrContains(c, '10.7.0.1')).toBe(false);
    expect(cidrContains(c, '10.5.255.255')).toBe(false);
    expect(cidrContains(c, 'fd00::a')).toBe(false);
    const odd = parseCidr('192.168.10.0/23')!;
    expect(cidrContains(odd, '192.168.11.200')).toBe(true);
    expect(cidrContains(odd, '192.168.12.1')).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0')!, '1.2.3.4')).toBe(true);
    expect(cidrContains(parseCidr('0.0.0.0/0')!, 'fd00::1')).toBe(false);
    // the edges of the mask: a host route, a /1 split in the middle of the space, the top address
    expect(cidrContains(parseCidr('10.6.0.9/32')!, '10.6.0.9')).toBe(true);
    expect(cidrContains(parseCidr('10.6.0.9/32')!, '10.6.0.8')).toBe(false);
    expect(cidrContains(parseCidr('128.0.0.0/1')!, '255.255.255.255')).toBe(true);
    expect(cidrContains(parseCidr('128.0.0.0/1')!, '127.255.255.255')).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/1')!, '127.255.255.255')).toBe(true);
    // a non-canonical spelling is read as before (the fast path takes canonical text only)
    expect(cidrContains(c, '010.6.0.1')).toBe(false);
    expect(cidrContains(parseCidr('fd00::/8')!, '10.6.0.1')).toBe(false);
  });

  it('IPv6 subnets', () => {
    const c = parseCidr('fd00:192:abcd::/120')!;
    expect(c.family).toBe(6);
    expect(cidrContains(c, 'fd00:192:abcd::13')).toBe(true);
    expect(cidrContains(c, 'fd00:192:abcd::ff')).toBe(true);
    expect(cidrContains(c, 'fd00:192:abcd::100')).toBe(false);
    expect(cidrContains(c, '10.6.0.1')).toBe(false);
    expect(cidrContains(parseCidr('fd00:10:6::/64')!, 'fd00:10:6::a8:66')).toBe(true);
    expect(cidrContains(parseCidr('fd00:10:6::/64')!, 'fd00:10:7::a8:66')).toBe(false);
  });

  it('rejects malformed CIDRs', () => {
    for (const bad of [
      '10.6.0.0',
      '10.6.0.0/33',
      'fd00::/129',
      '10.6.0.0/',
      '10.6.0.0/x',
      'nonsense/8',
      '10.06.0.0/16',
    ]) {
      expect(parseCidr(bad)).toBeUndefined();
    }
  });
});
