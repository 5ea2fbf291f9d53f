// "Which sets hold this IP" as one lookup: the ranges of many named sets (pools, SpiderReservedIPs) cut into
// disjoint segments, each listing the owners that cover it, searched by binary search.
import { IPV4_BASE, ipToBigInt, ipv4ToNumber, isIpv4Value } from '../../lib/ip';
import { IpRangeSet, segmentAt } from './ip-ranges';

export class IpRangeIndex<T> {
  static empty<T>(): IpRangeIndex<T> {
    return new IpRangeIndex<T>([], [], []);
  }

  /**
   * The IPv4 segments again as plain numbers: most pod IPs are IPv4, and `check` looks up every observed IP that no
   * pool records (on a cluster where Spiderpool serves a secondary network that is most pod IPs), so an IPv4 lookup
   * needs no bigint.
   */
  private readonly v4Starts: Float64Array;
  private readonly v4Ends: Float64Array;
  private readonly v4Owners: (readonly T[])[];

  private constructor(
    private readonly starts: bigint[],
    private readonly ends: bigint[],
    private readonly owners: (readonly T[])[],
  ) {
    const at = starts.map((s, i) => i).filter((i) => isIpv4Value(starts[i]) && isIpv4Value(ends[i]));
    this.v4Starts = Float64Array.from(at.map((i) => Number(starts[i] - IPV4_BASE)));
    this.v4Ends = Float64Array.from(at.map((i) => Number(ends[i] - IPV4_BASE)));
    this.v4Owners = at.map((i) => owners[i]);
  }

  /** Segments from the owners' sets; an owner listed twice counts once per segment. */
  static build<T>(entries: Iterable<{ owner: T; set: IpRangeSet }>): IpRangeIndex<T> {
    // sweep over range boundaries: +owner at first, -owner after last
    const events: { at: bigint; owner: T; delta: 1 | -1 }[] = [];
    for (const { owner, set } of entries) {
      for (const [s, e] of set.pairs()) events.push({ at: s, owner, delta: 1 }, { at: e + 1n, owner, delta: -1 });
    }
    if (events.length === 0) return IpRangeIndex.empty<T>();
    events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    const owners: (readonly T[])[] = [];
    const active = new Map<T, number>();
    let i = 0;
    while (i < events.length) {
      const at = events[i].at;
      for (; i < events.length && events[i].at === at; i++) {
        const { owner, delta } = events[i];
        const n = (active.get(owner) ?? 0) + delta;
        if (n === 0) active.delete(owner);
        else active.set(owner, n);
      }
      if (active.size > 0 && i < events.length) {
        starts.push(at);
        ends.push(events[i].at - 1n);
        owners.push(Object.freeze([...active.keys()]));
      }
    }
    return new IpRangeIndex(starts, ends, owners);
  }

  /** The owners whose sets hold this address (any spelling; empty for a text that is no IP). */
  lookup(ip: string): readonly T[] {
    if (this.starts.length === 0) return [];
    if (!ip.includes(':')) {
      const n = ipv4ToNumber(ip);
      const i = n === undefined ? -1 : segmentAt(this.v4Starts, this.v4Ends, n);
      return i < 0 ? [] : this.v4Owners[i];
    }
    const v = ipToBigInt(ip);
    const i = v === undefined ? -1 : segmentAt(this.starts, this.ends, v);
    return i < 0 ? [] : this.owners[i];
  }
}
