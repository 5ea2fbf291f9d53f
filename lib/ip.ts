// Shared by the model (pool keys, endpoint IPs) and certs/ (certificate SANs): it knows addresses, not clusters,
// so it sits outside webhook/ and certs/ and neither imports the other's internals.
// IP addresses in the one form Spiderpool writes them: Go's net.IP.String().
// Pool keys, endpoint IPs, pod IPs and multus IPs are compared only after canonicalIp(), never as raw strings,
// because the same address has many spellings (fd00::a, fd00:0:0:0:0:0:0:a, FD00::A, ::ffff:10.0.0.1).

export type IpFamily = 4 | 6;

/** 16 bytes, IPv4 stored IPv4-mapped (::ffff:a.b.c.d) as Go does. */
type IpBytes = Uint8Array;

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    // Go (since 1.17) rejects leading zeros: they were read as octal by some parsers.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/**
 * The address as a number when `text` is an IPv4 address already in canonical form (four decimal parts without
 * leading zeros, each at most 255), else undefined. Read by character codes, allocating nothing: nearly every pod IP,
 * endpoint IP and pool key is one, and remembering each in a cache cost about 40 bytes per address at 100,000 pods.
 */
function canonicalIPv4Number(text: string): number | undefined {
  const len = text.length;
  if (len < 7 || len > 15) return undefined;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else return undefined;
  }
  return dots === 3 && digits > 0 ? value * 256 + part : undefined;
}

/** Whether `text` is an IPv4 address in canonical form (canonicalIp(text) === text, decided without the cache). */
export function isCanonicalIPv4(text: string): boolean {
  return canonicalIPv4Number(text) !== undefined;
}

function parseIPv6(text: string): IpBytes | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let head = text;
  let v4Tail: number[] | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    v4Tail = parseIPv4(text.slice(lastColon + 1));
    if (!v4Tail) return undefined;
    head = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::" and "1::1.2.3.4" leaves "1::"; a lone trailing ':' must be part of '::'.
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = v4Tail ? 6 : 8;
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]);
  const right = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = groupsWanted - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    if (left.length !== groupsWanted) return undefined;
    groups = left;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (v4Tail) bytes.set(v4Tail, 12);
  return bytes;
}

function parseIpBytes(text: string): IpBytes | undefined {
  if (text.includes(':')) return parseIPv6(text);
  const v4 = parseIPv4(text);
  if (!v4) return undefined;
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(v4, 12);
  return bytes;
}

function isV4Mapped(b: IpBytes): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatIpBytes(b: IpBytes): string {
  if (isV4Mapped(b)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  // RFC 5952 as Go applies it: compress the longest run (>= 2 groups) of zeros, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

// Canonicalisation sits on the hot path (every pod IP, every record key), so remember recent answers; a canonical
// IPv4 address is recognised faster than looked up and is not remembered.
const canonicalCache = new Map<string, string | null>();
const CANONICAL_CACHE_LIMIT = 200_000;

/** The canonical form of an IP (a "/prefix" suffix is not accepted here), or undefined when it is no IP. */
export function canonicalIp(text: string): string | undefined {
  if (canonicalIPv4Number(text) !== undefined) return text; // the usual case, not worth a cache entry
  const hit = canonicalCache.get(text);
  if (hit !== undefined) return hit ?? undefined;
  const bytes = parseIpBytes(text);
  const formatted = bytes ? formatIpBytes(bytes) : null;
  // already canonical (the usual case): keep one string as both key and answer, not two equal copies
  const result = formatted === text ? text : formatted;
  if (canonicalCache.size >= CANONICAL_CACHE_LIMIT) canonicalCache.clear();
  canonicalCache.set(text, result);
  return result ?? undefined;
}

/** Endpoint and multus IPs carry the pool's prefix length ("10.6.168.102/16"): drop it, then canonicalise. */
export function canonicalIpWithoutPrefix(text: string): string | undefined {
  const slash = text.indexOf('/');
  return canonicalIp(slash >= 0 ? text.slice(0, slash) : text);
}

/** Family of a canonical IP (IPv4 canonical forms never contain ':'). */
export function ipFamily(canonical: string): IpFamily {
  return canonical.includes(':') ? 6 : 4;
}

/** Where IPv4 lives in the 128-bit space (::ffff:0.0.0.0, as Go stores an IPv4 address). */
export const IPV4_BASE = 0xffff_0000_0000n;
const IPV4_END = IPV4_BASE + 0xffff_ffffn;

/** An IPv4 address in dotted form (canonical or not) as a number 0 … 2^32-1, or undefined. */
export function ipv4ToNumber(text: string): number | undefined {
  const parts = parseIPv4(text);
  return parts ? ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3] : undefined;
}

/** The address as a number in the 128-bit space (IPv4 at IPV4_BASE + n), or undefined when it is no IP. */
export function ipToBigInt(text: string): bigint | undefined {
  if (!text.includes(':')) {
    const n = ipv4ToNumber(text);
    return n === undefined ? undefined : IPV4_BASE + BigInt(n);
  }
  const bytes = parseIPv6(text);
  if (!bytes) return undefined;
  let v = 0n;
  for (let i = 0; i < 16; i += 4)
    v = (v << 32n) + BigInt(((bytes[i] << 24) >>> 0) + (bytes[i + 1] << 16) + (bytes[i + 2] << 8) + bytes[i + 3]);
  return v;
}

/** Whether a 128-bit value is an IPv4 address (IPv4-mapped). */
export function isIpv4Value(v: bigint): boolean {
  return v >= IPV4_BASE && v <= IPV4_END;
}

/** The canonical form of a 128-bit value. */
export function bigIntToIp(v: bigint): string {
  const bytes = new Uint8Array(16);
  let rest = v;
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return formatIpBytes(bytes);
}

export interface Cidr {
  family: IpFamily;
  /** network bytes (16, IPv4 mapped) */
  network: IpBytes;
  /** prefix length counted in the 128-bit space */
  bits: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const bytes = parseIpBytes(addr);
  if (!bytes) return undefined;
  const family: IpFamily = addr.includes(':') && !isV4Mapped(bytes) ? 6 : 4;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { family, network: bytes, bits: family === 4 ? prefix + 96 : prefix };
}

export function cidrContains(cidr: Cidr, canonical: string): boolean {
  const v4 = canonicalIPv4Number(canonical);
  if (v4 !== undefined) {
    if (cidr.family !== 4) return false;
    const n = cidr.network;
    const network = ((n[12] << 24) >>> 0) + (n[13] << 16) + (n[14] << 8) + n[15];
    const prefix = cidr.bits - 96;
    const mask = prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
    return (v4 & mask) >>> 0 === (network & mask) >>> 0;
  }
  const bytes = parseIpBytes(canonical);
  if (!bytes) return false;
  if ((ipFamily(canonical) === 4) !== (cidr.family === 4)) return false;
  let bits = cidr.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (cidr.network[i] & mask)) return false;
  }
  return true;
}
