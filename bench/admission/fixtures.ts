/**
 * Realistic admission traffic: pools of N records in Spiderpool's exact encoding, the pods and endpoints they
 * name, and the two AdmissionReviews a release and an allocation produce (old and new pool objects as etcd has them).
 */
import { serializeAllocatedIPs } from '../../webhook/model/allocations';

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

export function podRef(i: number): PodRef {
  return {
    namespace: `bench-${i % 20}`,
    name: `app-${i}`,
    uid: `5e1d3a70-0000-4000-8000-${String(i).padStart(12, '0')}`,
  };
}

/** The i-th IP of a pool: 10.<pool>.x.y, walking a /16 from .0.1 */
export function poolIp(poolIndex: number, i: number): string {
  const n = i + 1;
  return `10.${100 + poolIndex}.${(n >> 8) & 255}.${n & 255}`;
}

export interface PoolSpecFixture {
  name: string;
  index: number;
  records: number;
}

export function poolObject(
  p: PoolSpecFixture,
  records: Record<string, { pod: string; podUid: string }>,
  resourceVersion = '1000',
) {
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderIPPool',
    metadata: {
      name: p.name,
      uid: `pool-uid-${p.index}`,
      resourceVersion,
      finalizers: ['spiderpool.spidernet.io'],
      labels: { 'ipam.spidernet.io/ippool-cidr': `10-${100 + p.index}-0-0-16` },
    },
    spec: {
      ipVersion: 4,
      subnet: `10.${100 + p.index}.0.0/16`,
      ips: [`10.${100 + p.index}.0.1-10.${100 + p.index}.255.254`],
      default: false,
      disable: false,
    },
    status: {
      allocatedIPs: serializeAllocatedIPs(records),
      allocatedIPCount: Object.keys(records).length,
      totalIPCount: 65534,
    },
  };
}

export type UidOf = (podIndex: number) => string;

/** records[i] → pod (i mod pods), with that pod's uid (the API server's, once the pods exist) */
export function poolRecords(
  p: PoolSpecFixture,
  pods: number,
  uidOf: UidOf = (i) => podRef(i).uid,
): Record<string, { pod: string; podUid: string }> {
  const out: Record<string, { pod: string; podUid: string }> = {};
  for (let i = 0; i < p.records; i++) {
    const ref = podRef(i % pods);
    out[poolIp(p.index, i)] = { pod: `${ref.namespace}/${ref.name}`, podUid: uidOf(i % pods) };
  }
  return out;
}

function review(uid: string, user: string, object: unknown, oldObject: unknown) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'spiderpool.spidernet.io', version: 'v2beta1', kind: 'SpiderIPPool' },
      resource: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools' },
      subResource: 'status',
      requestKind: { group: 'spiderpool.spidernet.io', version: 'v2beta1', kind: 'SpiderIPPool' },
      requestResource: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools' },
      requestSubResource: 'status',
      name: (oldObject as { metadata: { name: string } }).metadata.name,
      operation: 'UPDATE',
      userInfo: {
        username: user,
        uid: 'sa-uid',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object,
      oldObject,
      dryRun: false,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

export const GC_USER = 'system:serviceaccount:kube-system:spiderpool-controller';
export const AGENT_USER = 'system:serviceaccount:kube-system:spiderpool-agent';

/** Review variants: consecutive writes differ (as consecutive writes do) while the old object stays the same. */
export const GHOSTS = 12;

export type ReviewKind = 'release' | 'releaseGone' | 'allocation';

/**
 * - release: the GC releases the record of a completed pod (pods 0..GHOSTS-1 are Succeeded in the test bed): the
 *   decision rests on the cache alone.
 * - releaseGone: the GC releases the record of a pod that does not exist. With `ghostUidOf` the records name pods
 *   the bench created and deleted while the guard watched (the GC's normal case after a scale-down: the guard's
 *   tombstone decides); without it they name uids that never existed, so the guard reads the pod live first.
 * - allocation: the agent adds a record for a live (pending) pod on a free IP.
 */
export const GHOST_NAMESPACE = 'bench-gone';
// a Deployment-like name: a name ending in -<digits> would look like a StatefulSet member and add a live read of
// that StatefulSet to every review (the StatefulSet check applies to any ordinal-looking name)
export const ghostName = (g: number) => `app-gone-${g}-x7k2p`;

export function reviewBodies(
  p: PoolSpecFixture,
  pods: number,
  uidOf: UidOf = (i) => podRef(i).uid,
  variant = 0,
  ghostUidOf: UidOf = (g) => `gone-uid-${g}`,
): Record<ReviewKind, string> {
  const records = poolRecords(p, pods, uidOf);
  const withGhosts = { ...records };
  for (let g = 0; g < GHOSTS; g++)
    withGhosts[poolIp(p.index, p.records + g)] = { pod: `${GHOST_NAMESPACE}/${ghostName(g)}`, podUid: ghostUidOf(g) };
  const old = poolObject(p, withGhosts);
  const without = (ip: string) => {
    const next = { ...withGhosts };
    delete next[ip];
    return poolObject(p, next, '1001');
  };
  const v = variant % GHOSTS;
  const ref = podRef(GHOSTS + v);
  const allocated = {
    ...withGhosts,
    [poolIp(p.index, p.records + GHOSTS + v)]: { pod: `${ref.namespace}/${ref.name}`, podUid: uidOf(GHOSTS + v) },
  };
  return {
    release: JSON.stringify(review(`bench-release-${variant}`, GC_USER, without(poolIp(p.index, v)), old)),
    releaseGone: JSON.stringify(
      review(`bench-release-gone-${variant}`, GC_USER, without(poolIp(p.index, p.records + v)), old),
    ),
    allocation: JSON.stringify(review(`bench-alloc-${variant}`, AGENT_USER, poolObject(p, allocated, '1001'), old)),
  };
}
