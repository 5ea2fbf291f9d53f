// RESTORE_RECORD reason UNRECORDED_LIVE_IP (docs/rules.md, Reconciler actions): the record of an IP an alive pod
// uses that no pool records, written without an endpoint (the endpoint is what a wrongful release or an
// outdated-endpoint cleanup deletes). Planned by a pass, by a heal after a denial, and re-planned by the executor on
// fresh state, always through this one function.
import { summarizePod } from '../guard';
import { isAlive, poolIpIndex, recordNameOf, ClusterView, PoolFacts, StaticIpConfig } from '../model';
import { RestoreRecordAction } from './actions';
import { isMalformedPool } from './findings';
import { recordUnknown } from './pool-ip-findings';

/**
 * The restore of `ip` into `pool`, when the IP belongs to exactly that pool, no pool records it, and exactly one alive
 * pod observes it (two launcher pods of one VMI mid-migration are two observers: restored after the migration).
 * The record names the pod as Spiderpool would (`ns/name`, `ns/<VMI name>` for a launcher pod) with its uid.
 * Never for a Pending pod (its allocation is under way), a hostNetwork pod, or a pool that cannot be rewritten.
 */
export function unrecordedRestoreAction(
  view: ClusterView,
  cfg: StaticIpConfig,
  pool: PoolFacts,
  ip: string,
): RestoreRecordAction | undefined {
  if (isMalformedPool(pool) || pool.records.has(ip) || !pool.ips.has(ip)) return undefined;
  const holding = poolIpIndex(view.allPools()).poolsHolding(ip);
  if (holding.length !== 1 || holding[0] !== pool.name) return undefined;
  // "no pool records it", each pool as this view has it (a heal's view carries the pool read live)
  for (const p of view.allPools()) {
    const cur = p.name === pool.name ? pool : view.pool(p.name);
    if (cur && (cur.records.has(ip) || recordUnknown(cur, ip))) return undefined;
  }
  const observers = view.podsObserving(ip).filter(isAlive);
  if (observers.length !== 1) return undefined;
  const pod = observers[0];
  if (pod.hostNetwork || pod.phase === 'Pending') return undefined;
  const record = { pod: recordNameOf(pod, cfg), podUid: pod.uid };
  return {
    action: 'RESTORE_RECORD',
    reason: 'UNRECORDED_LIVE_IP',
    pool: pool.name,
    ip,
    record,
    pods: [summarizePod(pod)],
    message: `restore record ${ip} → ${record.pod} uid ${record.podUid} in pool ${pool.name}: alive pod ${pod.namespace}/${pod.name} observes it, it belongs to this pool only, and no pool records it`,
  };
}
