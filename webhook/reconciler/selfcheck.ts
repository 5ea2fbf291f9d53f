// The reconciler never makes a write the guard would deny (docs/rules.md, Reconciler actions). Every planned write is turned into the
// GuardRequest the API server would send to the webhook, and guard.evaluate judges it, as a guarded writer whatever
// the configured guarded-user globs say (the release-side rules must apply to us too).
import { evaluate, GuardRequest, Violation, UserMatcher } from '../guard';
import {
  serializeAllocatedIPs,
  KubeObject,
  ENDPOINT_RESOURCE,
  POOL_RESOURCE,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  EndpointFacts,
  PoolFacts,
  PoolRecord,
  StaticIpConfig,
  ClusterView,
} from '../model';
import { ipFamily } from '../../lib/ip';

const RECONCILER_SERVICE_ACCOUNT = 'spiderpool-guard';

export function reconcilerUser(namespace: string): string {
  return `system:serviceaccount:${namespace}:${RECONCILER_SERVICE_ACCOUNT}`;
}

/** Every writer is guarded for the self-check. */
const EVERYONE = new UserMatcher(['*']);

let seq = 0;
function requestUid(): string {
  return `reconciler-self-check-${++seq}`;
}

/** Groups the API server gives a service account; the self-check judges as that identity would be judged. */
const SELF_GROUPS = ['system:serviceaccounts', 'system:authenticated'];

/** The request the API server would send for our write, judged with every writer guarded. */
function judge(
  write: Pick<GuardRequest, 'operation' | 'subResource' | 'name' | 'namespace' | 'object' | 'oldObject'> & {
    resource: string;
  },
  view: ClusterView,
  staticIp: StaticIpConfig,
  user: string,
): Violation[] {
  const req: GuardRequest = {
    ...write,
    uid: requestUid(),
    resource: { group: SPIDERPOOL_GROUP, version: SPIDERPOOL_VERSION, resource: write.resource },
    user,
    groups: SELF_GROUPS,
  };
  return evaluate(req, view, { staticIp, guardedUsers: EVERYONE }).violations;
}

function metaOf(o: KubeObject): { name?: string; namespace?: string } {
  const m = (o.metadata ?? {}) as Record<string, unknown>;
  return {
    name: typeof m.name === 'string' ? m.name : undefined,
    namespace: typeof m.namespace === 'string' ? m.namespace : undefined,
  };
}

/** Violations of a spiderippools/status UPDATE from oldObject to object. */
export function checkPoolStatusWrite(
  view: ClusterView,
  staticIp: StaticIpConfig,
  user: string,
  oldObject: KubeObject,
  object: KubeObject,
): Violation[] {
  const write = {
    operation: 'UPDATE' as const,
    resource: POOL_RESOURCE,
    subResource: 'status',
    name: metaOf(object).name,
    object,
    oldObject,
  };
  return judge(write, view, staticIp, user);
}

/** Violations of a write (DELETE, or UPDATE to `object`) of the SpiderEndpoint `oldObject`. */
function checkEndpointWrite(
  view: ClusterView,
  staticIp: StaticIpConfig,
  user: string,
  oldObject: KubeObject,
  object?: KubeObject,
): Violation[] {
  const { name, namespace } = metaOf(oldObject);
  const write = {
    operation: object ? ('UPDATE' as const) : ('DELETE' as const),
    resource: ENDPOINT_RESOURCE,
    name,
    namespace,
    object,
    oldObject,
  };
  return judge(write, view, staticIp, user);
}

/** Violations of a DELETE of the SpiderEndpoint `oldObject`. */
export function checkEndpointDelete(
  view: ClusterView,
  staticIp: StaticIpConfig,
  user: string,
  oldObject: KubeObject,
): Violation[] {
  return checkEndpointWrite(view, staticIp, user, oldObject);
}

/** Violations of an UPDATE of a SpiderEndpoint (finalizer removal) from oldObject to object. */
export function checkEndpointUpdate(
  view: ClusterView,
  staticIp: StaticIpConfig,
  user: string,
  oldObject: KubeObject,
  object: KubeObject,
): Violation[] {
  return checkEndpointWrite(view, staticIp, user, oldObject, object);
}

/** A SpiderIPPool object rebuilt from facts (planning from a cache or a snapshot, where no raw object is at hand). */
export function poolObjectFromFacts(pool: PoolFacts, records: Map<string, PoolRecord> = pool.records): KubeObject {
  const entries: Record<string, unknown> = {};
  for (const [ip, r] of records) entries[ip] = { pod: r.pod, podUid: r.podUid };
  const status: Record<string, unknown> = { allocatedIPCount: records.size };
  const text = serializeAllocatedIPs(entries);
  if (text !== undefined) status.allocatedIPs = text;
  return {
    apiVersion: `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`,
    kind: 'SpiderIPPool',
    metadata: { name: pool.name, uid: pool.uid, resourceVersion: pool.resourceVersion },
    spec: { subnet: pool.subnet, ...(pool.family ? { ipVersion: pool.family } : {}) },
    status,
  };
}

/** A SpiderEndpoint object rebuilt from facts. */
export function endpointObjectFromFacts(e: EndpointFacts): KubeObject {
  const ips = e.ips.map((i) => {
    const fam = ipFamily(i.ip) === 4 ? 'ipv4' : 'ipv6';
    return { interface: i.interface, [fam]: i.ip, [`${fam}Pool`]: i.pool };
  });
  return {
    apiVersion: `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`,
    kind: 'SpiderEndpoint',
    metadata: {
      name: e.name,
      namespace: e.namespace,
      uid: e.objectUid,
      resourceVersion: e.resourceVersion,
      finalizers: e.finalizers,
      ...(e.deleting ? { deletionTimestamp: '1970-01-01T00:00:00Z' } : {}),
    },
    status: {
      current: { uid: e.podUid, ips },
      ownerControllerType: e.ownerControllerType,
      ownerControllerName: e.ownerControllerName,
    },
  };
}
