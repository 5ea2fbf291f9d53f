// Sets of IP addresses as sorted, disjoint ranges: a pool's `spec.ips` minus `spec.excludeIPs`, a SpiderReservedIP's
// `spec.ips`. Never expanded into single addresses: an IPv6 pool may span 2^64 of them. Values live in one 128-bit
// space (IPv4 at ::ffff:a.b.c.d, as Go stores it), so a range never mixes families and every comparison is numeric.
import { IPV4_BASE, bigIntToIp, canonicalIp, ipToBigInt, ipv4ToNumber, isIpv4Value } from '../../lib/ip';

/** One range, both ends included, in canonical form. */
export interface IpRange {
  first: string;
  last: string;
}

/** The entries of a `spec.ips`-style list that are not a single IP or an `a-b` range of one family, first ≤ last. */
export interface IpListProblem {
  entry: string;
  reason: string;
}

/**
 * The index of the segment [starts[i], ends[i]] holding v, or -1 (sorted, disjoint segments; binary search). For the
 * IPv4 segments as plain numbers and every segment as bigints alike.
 */
export function segmentAt<T extends number | bigint>(starts: ArrayLike<T>, ends: ArrayLike<T>, v: T): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (v < starts[mid]) hi = mid - 1;
    else if (v > ends[mid]) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Sorts, merges overlapping and adjacent ranges of one family; the input pairs are [first, last]. */
function normalise(pairs: [bigint, bigint][]): bigint[] {
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: bigint[] = [];
  for (const [s, e] of pairs) {
    const n = out.length;
    // adjacent ranges merge only within one family: ::fffe:ffff:ffff and 0.0.0.0 are neighbours as numbers only
    if (n > 0 && s <= out[n - 1] + 1n && isIpv4Value(s) === isIpv4Value(out[n - 1])) {
      if (e > out[n - 1]) out[n - 1] = e;
    } else out.push(s, e);
  }
  return out;
}

/** A set of IP addresses held as ranges. Immutable. */
export class IpRangeSet {
  static readonly EMPTY = new IpRangeSet([]);

  /** [first0, last0, first1, last1, …]: sorted, disjoint, not adjacent within a family */
  private readonly bounds: readonly bigint[];
  private readonly starts: bigint[] = [];
  private readonly ends: bigint[] = [];
  /** the IPv4 ranges again as plain numbers (0 … 2^32-1): membership of an IPv4 address needs no bigint */
  private readonly v4Starts: Float64Array;
  private readonly v4Ends: Float64Array;
  private sizeCache: bigint | undefined;

  private constructor(bounds: bigint[]) {
    this.bounds = Object.freeze(bounds);
    const starts: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < bounds.length; i += 2) {
      this.starts.push(bounds[i]);
      this.ends.push(bounds[i + 1]);
      if (!isIpv4Value(bounds[i])) continue;
      starts.push(Number(bounds[i] - IPV4_BASE));
      ends.push(Number(bounds[i + 1] - IPV4_BASE));
    }
    this.v4Starts = Float64Array.from(starts);
    this.v4Ends = Float64Array.from(ends);
  }

  /** From [first, last] pairs of 128-bit values (any order, may overlap). */
  static fromPairs(pairs: [bigint, bigint][]): IpRangeSet {
    return pairs.length === 0 ? IpRangeSet.EMPTY : new IpRangeSet(normalise(pairs.map(([s, e]) => [s, e])));
  }

  /**
   * Parses a `spec.ips`-style list: single IPs and `first-last` ranges (IPv4 or IPv6, any spelling). Entries that are
   * neither are left out and named in `problems` (Spiderpool's own webhook rejects them, so they are rare).
   */
  static parse(entries: readonly unknown[]): { set: IpRangeSet; problems: IpListProblem[] } {
    const pairs: [bigint, bigint][] = [];
    const problems: IpListProblem[] = [];
    for (const raw of entries) {
      const entry = typeof raw === 'string' ? raw.trim() : '';
      if (entry === '') {
        problems.push({ entry: String(raw), reason: 'not an IP or a range' });
        continue;
      }
      const dash = entry.indexOf('-');
      const firstText = dash < 0 ? entry : entry.slice(0, dash).trim();
      const lastText = dash < 0 ? entry : entry.slice(dash + 1).trim();
      const first = canonicalIp(firstText);
      const last = canonicalIp(lastText);
      if (first === undefined || last === undefined) {
        problems.push({ entry, reason: dash < 0 ? 'not an IP' : 'a range end is not an IP' });
        continue;
      }
      const s = ipToBigInt(first) as bigint;
      const e = ipToBigInt(last) as bigint;
      if (isIpv4Value(s) !== isIpv4Value(e)) problems.push({ entry, reason: 'the range mixes IPv4 and IPv6' });
      else if (s > e) problems.push({ entry, reason: 'the range ends before it starts' });
      else pairs.push([s, e]);
    }
    return { set: IpRangeSet.fromPairs(pairs), problems };
  }

  get isEmpty(): boolean {
    return this.bounds.length === 0;
  }

  /** Number of addresses (a bigint: an IPv6 range can hold 2^64 and more). */
  get size(): bigint {
    if (this.sizeCache === undefined) {
      let n = 0n;
      for (let i = 0; i < this.bounds.length; i += 2) n += this.bounds[i + 1] - this.bounds[i] + 1n;
      this.sizeCache = n;
    }
    return this.sizeCache;
  }

  /** Whether the set holds this address (any spelling; a text that is no IP is never held). */
  has(ip: string): boolean {
    if (this.bounds.length === 0) return false;
    if (!ip.includes(':')) {
      const n = ipv4ToNumber(ip);
      if (n === undefined) return false;
      return segmentAt(this.v4Starts, this.v4Ends, n) >= 0;
    }
    const v = ipToBigInt(ip);
    return v !== undefined && segmentAt(this.starts, this.ends, v) >= 0;
  }

  /** The ranges, in order, canonical. */
  ranges(): IpRange[] {
    const out: IpRange[] = [];
    for (let i = 0; i < this.bounds.length; i += 2)
      out.push({ first: bigIntToIp(this.bounds[i]), last: bigIntToIp(this.bounds[i + 1]) });
    return out;
  }

  /** [first, last] pairs as 128-bit values, in order. */
  pairs(): [bigint, bigint][] {
    const out: [bigint, bigint][] = [];
    for (let i = 0; i < this.bounds.length; i += 2) out.push([this.bounds[i], this.bounds[i + 1]]);
    return out;
  }

  /** The addresses in order, canonical, lazily: callers bound how many they take (see `size`). */
  *addresses(): IterableIterator<string> {
    for (let i = 0; i < this.bounds.length; i += 2) {
      for (let v = this.bounds[i]; v <= this.bounds[i + 1]; v++) yield bigIntToIp(v);
    }
  }

  union(other: IpRangeSet): IpRangeSet {
    if (other.isEmpty) return this;
    if (this.isEmpty) return other;
    return IpRangeSet.fromPairs([...this.pairs(), ...other.pairs()]);
  }

  /** The addresses of this set that `other` does not hold. */
  subtract(other: IpRangeSet): IpRangeSet {
    if (this.isEmpty || other.isEmpty) return this;
    const out: [bigint, bigint][] = [];
    const cut = other.bounds;
    let j = 0;
    for (let i = 0; i < this.bounds.length; i += 2) {
      let s = this.bounds[i];
      const e = this.bounds[i + 1];
      while (j < cut.length && cut[j + 1] < s) j += 2;
      let k = j;
      while (k < cut.length && cut[k] <= e && s <= e) {
        if (cut[k] > s) out.push([s, cut[k] - 1n]);
        s = cut[k + 1] + 1n;
        k += 2;
      }
      if (s <= e) out.push([s, e]);
    }
    return out.length === 0 ? IpRangeSet.EMPTY : new IpRangeSet(normalise(out));
  }

  /** The addresses both sets hold. */
  intersect(other: IpRangeSet): IpRangeSet {
    if (this.isEmpty || other.isEmpty) return IpRangeSet.EMPTY;
    const out: [bigint, bigint][] = [];
    const a = this.bounds;
    const b = other.bounds;
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const s = a[i] > b[j] ? a[i] : b[j];
      const e = a[i + 1] < b[j + 1] ? a[i + 1] : b[j + 1];
      if (s <= e) out.push([s, e]);
      if (a[i + 1] < b[j + 1]) i += 2;
      else j += 2;
    }
    return out.length === 0 ? IpRangeSet.EMPTY : new IpRangeSet(normalise(out));
  }

  /** Same addresses. */
  equals(other: IpRangeSet): boolean {
    return this.bounds.length === other.bounds.length && this.bounds.every((v, i) => v === other.bounds[i]);
  }

  /** The ranges as Spiderpool writes them: "first-last" or a single IP, comma-separated. */
  toString(): string {
    return this.ranges()
      .map((r) => (r.first === r.last ? r.first : `${r.first}-${r.last}`))
      .join(',');
  }
}
