// IP -> the records that name it, across all parseable pools: the index the conflict and zombie findings look up.
import { PoolFacts, PoolRecord, ClusterView } from '../model';

export interface IndexedRecord {
  pool: PoolFacts;
  record: PoolRecord;
}

// The last index built, with the pool objects it was built from. Pool facts are immutable (an update replaces the
// object), so the same objects give the same index: passes between pool writes reuse it instead of re-indexing
// 100,000 records.
let lastIndex: { pools: PoolFacts[]; byIp: Map<string, IndexedRecord[]> } | undefined;

/** IP → well-formed records of parseable pools (one IP is normally in one pool; the map tolerates overlaps). */
export function recordsByIp(view: ClusterView): Map<string, IndexedRecord[]> {
  const pools = [...view.allPools()];
  if (lastIndex && lastIndex.pools.length === pools.length && lastIndex.pools.every((p, i) => p === pools[i]))
    return lastIndex.byIp;
  const out = new Map<string, IndexedRecord[]>();
  lastIndex = { pools, byIp: out };
  for (const pool of pools) {
    if (pool.unparseable) continue;
    for (const [ip, record] of pool.records) {
      const list = out.get(ip);
      if (list) list.push({ pool, record });
      else out.set(ip, [{ pool, record }]);
    }
  }
  return out;
}
