/**
 * SpiderIPPool / SpiderEndpoint helpers for e2e tests (shapes as the API server serves them).
 * Pools are cluster-scoped with a status subresource: status is written ONLY through writePoolStatus()
 * (PUT .../spiderippools/<name>/status). Endpoints are namespaced, status written through the main resource.
 */
import type * as k8s from '@kubernetes/client-node';
import { randomSuffix } from '../clients';

export const SPIDERPOOL_GROUP = 'spiderpool.spidernet.io';
export const SPIDERPOOL_VERSION = 'v2beta1';
export const POOLS = 'spiderippools';
export const ENDPOINTS = 'spiderendpoints';
export const SPIDER_FINALIZER = 'spiderpool.spidernet.io';

export interface PoolRecord {
  pod: string; // "<namespace>/<name>"
  podUid: string;
}

export interface SpiderIPPool {
  apiVersion: string;
  kind: 'SpiderIPPool';
  metadata: k8s.V1ObjectMeta;
  spec: {
    ipVersion?: 4 | 6;
    subnet: string;
    ips?: string[];
    excludeIPs?: string[];
    gateway?: string;
    default?: boolean;
    disable?: boolean;
    [key: string]: unknown;
  };
  status?: { allocatedIPs?: string; allocatedIPCount?: number; totalIPCount?: number };
}

export interface EndpointIP {
  interface: string;
  ipv4?: string;
  ipv6?: string;
  ipv4Pool?: string;
  ipv6Pool?: string;
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  cleanGateway?: boolean;
  vlan?: number;
  routes?: { dst: string; gw: string }[];
}

export interface SpiderEndpoint {
  apiVersion: string;
  kind: 'SpiderEndpoint';
  metadata: k8s.V1ObjectMeta;
  status: {
    current: { uid: string; node: string; ips: EndpointIP[] };
    ownerControllerType: string;
    ownerControllerName: string;
  };
}

/** Parses status.allocatedIPs (absent/null = no records). */
export function parseRecords(pool: SpiderIPPool): Record<string, PoolRecord> {
  const raw = pool.status?.allocatedIPs;
  return raw ? (JSON.parse(raw) as Record<string, PoolRecord>) : {};
}

/** Serialises records like Spiderpool (Go json.Marshal of a map: sorted keys, no spaces); empty map => undefined. */
export function formatRecords(records: Record<string, PoolRecord>): string | undefined {
  const keys = Object.keys(records).sort();
  if (keys.length === 0) return undefined;
  return (
    '{' +
    keys
      .map(
        (k) =>
          `${JSON.stringify(k)}:{"pod":${JSON.stringify(records[k].pod)},"podUid":${JSON.stringify(records[k].podUid)}}`,
      )
      .join(',') +
    '}'
  );
}

/** Creates a SpiderIPPool (v4 unless the subnet contains ':'), name defaults to `e2e-pool-<random>`. */
export async function createPool(
  custom: k8s.CustomObjectsApi,
  opts: {
    name?: string;
    subnet: string;
    ips?: string[];
    gateway?: string;
    labels?: Record<string, string>;
    finalizers?: string[];
  },
): Promise<SpiderIPPool> {
  const name = opts.name ?? `e2e-pool-${randomSuffix()}`;
  const body: SpiderIPPool = {
    apiVersion: `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`,
    kind: 'SpiderIPPool',
    metadata: { name, labels: opts.labels, finalizers: opts.finalizers },
    spec: {
      ipVersion: opts.subnet.includes(':') ? 6 : 4,
      subnet: opts.subnet,
      ips: opts.ips ?? [],
      ...(opts.gateway ? { gateway: opts.gateway } : {}),
    },
  };
  return (await custom.createClusterCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: POOLS,
    body,
  })) as SpiderIPPool;
}

export async function getPool(custom: k8s.CustomObjectsApi, name: string): Promise<SpiderIPPool> {
  return (await custom.getClusterCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: POOLS,
    name,
  })) as SpiderIPPool;
}

/**
 * PUT spiderippools/<name>/status: re-reads the pool (unless `base` is given), applies `records` (and
 * allocatedIPCount = number of records unless `count` is given), and writes it with the read resourceVersion —
 * the same read-modify-write Spiderpool's agent does. Returns the stored pool.
 */
export async function writePoolStatus(
  custom: k8s.CustomObjectsApi,
  name: string,
  records: Record<string, PoolRecord>,
  opts: { base?: SpiderIPPool; count?: number; totalIPCount?: number } = {},
): Promise<SpiderIPPool> {
  const pool = opts.base ?? (await getPool(custom, name));
  const allocatedIPs = formatRecords(records);
  const status: NonNullable<SpiderIPPool['status']> = {
    ...(pool.status ?? {}),
    allocatedIPCount: opts.count ?? Object.keys(records).length,
  };
  if (allocatedIPs === undefined) delete status.allocatedIPs;
  else status.allocatedIPs = allocatedIPs;
  if (opts.totalIPCount !== undefined) status.totalIPCount = opts.totalIPCount;
  const body = { ...pool, status };
  return (await custom.replaceClusterCustomObjectStatus({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: POOLS,
    name,
    body,
  })) as SpiderIPPool;
}

export async function deletePool(custom: k8s.CustomObjectsApi, name: string): Promise<void> {
  await custom.deleteClusterCustomObject({ group: SPIDERPOOL_GROUP, version: SPIDERPOOL_VERSION, plural: POOLS, name });
}

/** Creates a SpiderEndpoint (status in the main resource) named after its pod. */
export async function createEndpoint(
  custom: k8s.CustomObjectsApi,
  namespace: string,
  opts: {
    name: string;
    uid: string;
    node?: string;
    ips: EndpointIP[];
    ownerControllerType?: string;
    ownerControllerName?: string;
    ownerReferences?: k8s.V1OwnerReference[];
    finalizers?: string[];
  },
): Promise<SpiderEndpoint> {
  const body: SpiderEndpoint = {
    apiVersion: `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`,
    kind: 'SpiderEndpoint',
    metadata: {
      name: opts.name,
      namespace,
      finalizers: opts.finalizers ?? [SPIDER_FINALIZER],
      ownerReferences: opts.ownerReferences,
    },
    status: {
      current: { uid: opts.uid, node: opts.node ?? 'node-1', ips: opts.ips },
      ownerControllerType: opts.ownerControllerType ?? 'Pod',
      ownerControllerName: opts.ownerControllerName ?? opts.name,
    },
  };
  return (await custom.createNamespacedCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: ENDPOINTS,
    namespace,
    body,
  })) as SpiderEndpoint;
}

export async function getEndpoint(
  custom: k8s.CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<SpiderEndpoint> {
  return (await custom.getNamespacedCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: ENDPOINTS,
    namespace,
    name,
  })) as SpiderEndpoint;
}

export async function replaceEndpoint(custom: k8s.CustomObjectsApi, endpoint: SpiderEndpoint): Promise<SpiderEndpoint> {
  const { name, namespace } = endpoint.metadata;
  if (!name || !namespace) throw new Error('endpoint needs metadata.name and metadata.namespace');
  return (await custom.replaceNamespacedCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: ENDPOINTS,
    namespace,
    name,
    body: endpoint,
  })) as SpiderEndpoint;
}

export async function deleteEndpoint(custom: k8s.CustomObjectsApi, namespace: string, name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: ENDPOINTS,
    namespace,
    name,
  });
}
