// Capacity of every pool (docs/operations.md, Capacity and leaks): its IPs, its records, what is still free, what the
// reconciler would give back now, and what is held for pods whose termination nobody confirmed. One pure function
// with two callers: `check --capacity` prints it, the reconcile loop exports it as spiderpool_guard_pool_ips.
import { ClusterView, IpRangeSet, PoolFacts, PoolRecord, reservedIpIndex } from '../model';
import { Action } from './actions';

export const CAPACITY_STATES = ['total', 'recorded', 'free', 'leftover', 'held_terminating'] as const;
export type CapacityState = (typeof CAPACITY_STATES)[number];

/** One pool's numbers, in the shape `check --capacity --output json` prints. */
export type PoolCapacity = { pool: string } & Record<CapacityState, number>;

export interface CapacityOptions {
  /**
   * Whether a record is held because its pod's termination is unconfirmed. Until that rule is known to the caller,
   * nothing is (the column stays, at 0).
   */
  heldTerminating?: (pool: PoolFacts, ip: string) => boolean;
}

/** A bigint count as a JSON/gauge number (an IPv6 pool can exceed 2^53 addresses: then it is approximate). */
function count(n: bigint): number {
  return Number(n);
}

/** Leftover records per pool: the distinct IPs of the plan's RELEASE_IP actions. */
function releasesByPool(planned: readonly Action[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const a of planned) {
    if (a.action !== 'RELEASE_IP' || !a.pool || !a.ip) continue;
    const ips = out.get(a.pool);
    if (ips) ips.add(a.ip);
    else out.set(a.pool, new Set([a.ip]));
  }
  return out;
}

/**
 * Free IPs of a pool: its IPs minus the reserved ones (as ranges: a pool may span millions of addresses), minus the
 * records among what is left (a record outside the pool IPs, e.g. of an excluded IP, takes nothing free). Counting
 * parses every record's IP, so the answer is kept per records map: a pool whose records, IPs and reserved IPs are
 * the last pass's (status writes replace the map; unchanged specs keep their sets) costs nothing the next time.
 */
const lastFree = new WeakMap<
  ReadonlyMap<string, PoolRecord>,
  { ips: IpRangeSet; reserved: IpRangeSet; free: bigint }
>();

function freeIPs(pool: PoolFacts, reserved: IpRangeSet): bigint {
  const last = lastFree.get(pool.records);
  if (last && last.ips === pool.ips && last.reserved === reserved) return last.free;
  const open = reserved.isEmpty ? pool.ips : pool.ips.subtract(reserved);
  let taken = 0n;
  for (const ip of pool.records.keys()) if (open.has(ip)) taken++;
  const free = open.size - taken;
  lastFree.set(pool.records, { ips: pool.ips, reserved, free });
  return free;
}

function poolCapacity(
  pool: PoolFacts,
  reserved: IpRangeSet,
  released: Set<string> | undefined,
  opts: CapacityOptions,
): PoolCapacity {
  let held = 0;
  if (opts.heldTerminating) for (const ip of pool.records.keys()) if (opts.heldTerminating(pool, ip)) held++;
  return {
    pool: pool.name,
    total: count(pool.ips.size),
    recorded: pool.records.size,
    free: count(freeIPs(pool, reserved)),
    leftover: released?.size ?? 0,
    held_terminating: held,
  };
}

/**
 * Capacity of every pool of the view, sorted by pool name. `planned` is the reconciler's plan for the same view
 * (plan().actions): a record is leftover when the plan releases it, so capacity never judges a record itself.
 */
export function capacity(view: ClusterView, planned: readonly Action[], opts: CapacityOptions = {}): PoolCapacity[] {
  const reserved = reservedIpIndex(view).all;
  const released = releasesByPool(planned);
  const pools = [...view.allPools()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return pools.map((p) => poolCapacity(p, reserved, released.get(p.name), opts));
}
