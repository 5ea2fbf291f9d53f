// Rules for SpiderEndpoint CREATE/UPDATE/DELETE (docs/rules.md, SpiderEndpoint rules).
import {
  isOnePod,
  isRestartingStaticMember,
  isStaticEndpointType,
  parseOrdinalName,
  endpointFacts,
  EndpointFacts,
  SPIDER_FINALIZER,
  StaticIpConfig,
  nsName,
  ClusterView,
  ObjectRef,
} from '../model';
import { aliveWithUid, nameRefs, podsOfRecordName, summarizePod } from './facts';
import { GuardRequest } from './request';
import { Violation } from './rule-names';

/** One violation per listed IP (or one without an IP when the endpoint lists none). */
function perIp(ep: EndpointFacts, make: (ip?: string, pool?: string) => Violation): Violation[] {
  return ep.ips.length ? ep.ips.map((i) => make(i.ip, i.pool)) : [make()];
}

/**
 * DELETE, or the UPDATE that removes Spiderpool's finalizer, whether or not the endpoint is being deleted: stripped
 * from an endpoint that is not, the finalizer no longer holds it when it is deleted later (Kubernetes' garbage
 * collector deletes it once its owner pod goes, a by-name delete hits it), so the strip forgets it all the same.
 */
export function isEndpointForget(req: GuardRequest): boolean {
  if (req.operation === 'DELETE') return true;
  if (req.operation !== 'UPDATE' || !req.oldObject || !req.object) return false;
  return (
    endpointFacts(req.oldObject).finalizers.includes(SPIDER_FINALIZER) &&
    !endpointFacts(req.object).finalizers.includes(SPIDER_FINALIZER)
  );
}

export function liveEndpointDeleteViolations(req: GuardRequest, view: ClusterView, cfg: StaticIpConfig): Violation[] {
  if (!isEndpointForget(req)) return [];
  // The API server sends oldObject with every DELETE; should it be missing, judge the endpoint the cache has.
  const ep = req.oldObject
    ? endpointFacts(req.oldObject)
    : req.namespace && req.name
      ? view.endpoint(req.namespace, req.name)
      : undefined;
  if (!ep) return [];
  const key = nsName(ep.namespace, ep.name);
  // Built when a violation cites it: the reconciler's self-check judges ~10,000 allowed deletes per pass.
  const evidence = (): ObjectRef[] => nameRefs(ep.namespace, ep.name, cfg);
  const holder = aliveWithUid(podsOfRecordName(view, key, cfg), ep.podUid);
  if (holder) {
    return perIp(ep, (ip, pool) => ({
      rule: 'LIVE_ENDPOINT_DELETE',
      ip,
      pool,
      endpoint: key,
      livePod: summarizePod(holder),
      detail: `removal of the endpoint of alive pod uid ${ep.podUid}`,
      evidence: evidence(),
    }));
  }
  if (!isStaticEndpointType(ep.ownerControllerType)) return [];
  // Only the IPs of pools the member is restarting for: pools its next incarnation no longer names are Spiderpool's
  // own to release (the agent deletes the old endpoint on the next ADD, releaseStsOutdatedIPIfNeed).
  const reused = ep.ips.filter((i) => isRestartingStaticMember(view, ep.namespace, ep.name, cfg, i.pool));
  const restarting = ep.ips.length > 0 ? reused.length > 0 : isRestartingStaticMember(view, ep.namespace, ep.name, cfg);
  if (!restarting) return [];
  const pods = podsOfRecordName(view, key, cfg);
  const parsed = parseOrdinalName(ep.name);
  const refs: ObjectRef[] = [...evidence(), { kind: 'vm', namespace: ep.namespace, name: ep.name }];
  if (parsed) refs.push({ kind: 'statefulSet', namespace: ep.namespace, name: parsed.set });
  return perIp({ ...ep, ips: reused }, (ip, pool) => ({
    rule: 'LIVE_ENDPOINT_DELETE',
    ip,
    pool,
    endpoint: key,
    livePod: pods[0] ? summarizePod(pods[0]) : undefined,
    detail: `removal of a ${ep.ownerControllerType} endpoint whose member is restarting (its next incarnation reuses these IPs)`,
    evidence: refs,
  }));
}

export function endpointUidRewriteViolations(req: GuardRequest, view: ClusterView, cfg: StaticIpConfig): Violation[] {
  if (req.operation !== 'UPDATE' || !req.object || !req.oldObject) return [];
  const next = endpointFacts(req.object);
  const old = endpointFacts(req.oldObject);
  if (next.podUid === old.podUid) return [];
  const key = nsName(next.namespace, next.name);
  const pods = podsOfRecordName(view, key, cfg);
  if (pods.some((p) => p.uid === next.podUid)) return [];
  return perIp(next, (ip, pool) => ({
    rule: 'ENDPOINT_UID_REWRITE',
    ip,
    pool,
    endpoint: key,
    livePod: pods[0] ? summarizePod(pods[0]) : undefined,
    detail: pods.length
      ? `current.uid set from ${old.podUid} to ${next.podUid}, which is not the uid of the live pod`
      : `current.uid set from ${old.podUid} to ${next.podUid} but no pod of that name exists`,
    evidence: nameRefs(next.namespace, next.name, cfg),
  }));
}

export function endpointIpConflictViolations(req: GuardRequest, view: ClusterView, cfg: StaticIpConfig): Violation[] {
  if ((req.operation !== 'CREATE' && req.operation !== 'UPDATE') || !req.object) return [];
  const ep = endpointFacts(req.object);
  const key = nsName(ep.namespace, ep.name);
  const before = new Set(
    req.operation === 'UPDATE' && req.oldObject ? endpointFacts(req.oldObject).ips.map((i) => `${i.pool}|${i.ip}`) : [],
  );
  const out: Violation[] = [];
  for (const { ip, pool } of ep.ips) {
    if (before.has(`${pool}|${ip}`)) continue;
    const rec = view.pool(pool)?.records.get(ip);
    if (!rec || rec.pod === key) continue;
    const holder = aliveWithUid(podsOfRecordName(view, rec.pod, cfg), rec.podUid);
    // a launcher pod of the same VMI as the endpoint's pod is not a different pod (a live migration)
    if (!holder || podsOfRecordName(view, key, cfg).some((p) => isOnePod(p, holder))) continue;
    out.push({
      rule: 'ENDPOINT_IP_CONFLICT',
      ip,
      pool,
      endpoint: key,
      record: rec,
      livePod: summarizePod(holder),
      detail: `endpoint lists an IP its pool records for alive pod ${rec.pod}`,
      evidence: [{ kind: 'pod', namespace: holder.namespace, name: holder.name }],
    });
  }
  return out;
}
