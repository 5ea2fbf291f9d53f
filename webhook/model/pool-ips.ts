// Pool IPs (docs/rules.md, Terms): a pool's `spec.ips` minus its `spec.excludeIPs`, and the index that answers
// "which pools hold this IP" by lookup. SpiderReservedIPs (their `spec.ips`, same syntax) and the index over them.
import { IpRangeIndex } from './ip-range-index';
import { IpRangeSet } from './ip-ranges';
import { PoolFacts, ReservedIpFacts } from './types';
import { ClusterView } from './view';

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/*
 * The pool spec rarely changes while its status changes at every allocation, and each status write arrives as a new
 * pool object: the last parse per pool name is kept, so an unchanged spec returns the very same set (which also
 * lets the index below be reused). Bounded: a cluster has tens of pools, at most a few thousand.
 */
const lastParse = new Map<string, { ips: string[]; excludeIPs: string[]; set: IpRangeSet }>();
const LAST_PARSE_LIMIT = 10_000;

/** spec.ips minus spec.excludeIPs of the pool named `name` (entries that are not IPs or ranges are left out). */
export function poolIPsOf(name: string, ips: unknown, excludeIPs: unknown): IpRangeSet {
  const list = strings(ips);
  const excluded = strings(excludeIPs);
  const last = lastParse.get(name);
  if (last && sameList(last.ips, list) && sameList(last.excludeIPs, excluded)) return last.set;
  const set = IpRangeSet.parse(list).set.subtract(IpRangeSet.parse(excluded).set);
  if (lastParse.size >= LAST_PARSE_LIMIT) lastParse.clear();
  lastParse.set(name, { ips: list, excludeIPs: excluded, set });
  return set;
}

/** Which pools hold an IP, as one lookup. Built from the pools' IP sets; see poolIpIndex. */
export interface PoolIpIndex {
  /** names of the pools whose pool IPs contain the address (usually one; Spiderpool forbids overlaps) */
  poolsHolding(ip: string): readonly string[];
}

function sameSets(
  a: readonly { owner: string; set: IpRangeSet }[],
  b: readonly { owner: string; set: IpRangeSet }[],
): boolean {
  return a.length === b.length && a.every((x, i) => x.owner === b[i].owner && x.set === b[i].set);
}

// The last index built and the (name, set) pairs it was built from: pool writes replace the pool object but keep its
// set (poolIPsOf), so passes between spec changes reuse the index.
let lastPoolIndex: { from: { owner: string; set: IpRangeSet }[]; index: IpRangeIndex<string> } | undefined;

/** The index over the pools' IPs (rebuilt only when a pool's IPs, or the set of pools, changed). */
export function poolIpIndex(pools: Iterable<PoolFacts>): PoolIpIndex {
  const from = [...pools].map((p) => ({ owner: p.name, set: p.ips }));
  if (!lastPoolIndex || !sameSets(lastPoolIndex.from, from)) lastPoolIndex = { from, index: IpRangeIndex.build(from) };
  const index = lastPoolIndex.index;
  return { poolsHolding: (ip) => index.lookup(ip) };
}

/** The SpiderReservedIPs of a view: which list an IP, and every reserved IP as one set. */
export interface ReservedIpIndex {
  /** names of the SpiderReservedIPs listing the address */
  reservedBy(ip: string): readonly string[];
  /** every address some SpiderReservedIP lists */
  all: IpRangeSet;
}

let lastReservedIndex: { from: ReservedIpFacts[]; result: ReservedIpIndex } | undefined;

/** The index over the view's SpiderReservedIPs (rebuilt only when one of them changed). */
export function reservedIpIndex(view: ClusterView): ReservedIpIndex {
  const from = [...view.reservedIPs()];
  if (
    lastReservedIndex &&
    lastReservedIndex.from.length === from.length &&
    lastReservedIndex.from.every((r, i) => r === from[i])
  )
    return lastReservedIndex.result;
  const index = IpRangeIndex.build(from.map((r) => ({ owner: r.name, set: r.ips })));
  const all = from.reduce((acc, r) => acc.union(r.ips), IpRangeSet.EMPTY);
  const result: ReservedIpIndex = { reservedBy: (ip) => index.lookup(ip), all };
  lastReservedIndex = { from, result };
  return result;
}
