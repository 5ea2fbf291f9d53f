/**
 * The Spiderpool object operations the simulated agent and GC make, with Spiderpool's concurrency semantics
 * (docs/architecture.md#spiderpools-writers): pool status read-modify-write with a fresh GET and the read resourceVersion, retried on 409 only
 * (DefaultRetry: 5 steps, 10 ms × 1.5); endpoint delete by name without preconditions; finalizer removal as a
 * JSON merge patch without resourceVersion. Everything else (a webhook denial included) is returned to the caller.
 */
import * as k8s from '@kubernetes/client-node';
import { apiErrorCode, apiErrorMessage } from '../clients';
import {
  ENDPOINTS,
  formatRecords,
  getPool,
  parseRecords,
  POOLS,
  SPIDER_FINALIZER,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  type PoolRecord,
  type SpiderEndpoint,
  type SpiderIPPool,
} from './objects';
import { inOrdinalWindow, parseOrdinalName } from '../../webhook/model/lifecycle';
import { statefulSetFacts, type KubeObject } from '../../webhook/model/object-facts';
import { sleep } from './util';

export type Records = Record<string, PoolRecord>;

/** A failed write: HTTP code (403 = admission denial) and message. */
export class WriteError extends Error {
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
  get denied(): boolean {
    return this.code === 403 && /admission webhook/i.test(this.message);
  }
}

export function asWriteError(err: unknown): WriteError {
  return err instanceof WriteError ? err : new WriteError(apiErrorCode(err), apiErrorMessage(err));
}

const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export function bareIp(cidrOrIp: string): string {
  return cidrOrIp.split('/')[0];
}

/** Go's retry.DefaultRetry: 5 attempts, 10 ms growing ×1.5, only on 409 Conflict. */
async function retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
  let wait = 10;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = asWriteError(err);
      if (e.code !== 409 || attempt >= 5) throw e;
      await sleep(wait);
      wait *= 1.5;
    }
  }
}

/**
 * Read-modify-write of a pool's records (fresh GET, PUT .../status with its resourceVersion, retry on 409).
 * `mutate` returns the new records or undefined for "nothing to write". allocatedIPCount = number of records.
 */
export async function updatePoolRecords(
  custom: k8s.CustomObjectsApi,
  pool: string,
  mutate: (records: Records, pool: SpiderIPPool) => Records | undefined,
): Promise<boolean> {
  return retryOnConflict(async () => {
    const current = await getPool(custom, pool);
    const next = mutate(parseRecords(current), current);
    if (!next) return false;
    const allocatedIPs = formatRecords(next);
    const status: NonNullable<SpiderIPPool['status']> = {
      ...(current.status ?? {}),
      allocatedIPCount: Object.keys(next).length,
    };
    if (allocatedIPs === undefined) delete status.allocatedIPs;
    else status.allocatedIPs = allocatedIPs;
    await custom.replaceClusterCustomObjectStatus({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: POOLS,
      name: pool,
      body: { ...current, status },
    });
    return true;
  });
}

/** ReleaseIP(pool, [{ip, uid}]): removes each key only while its record's podUid is that uid; no write if none. */
export async function releaseIps(
  custom: k8s.CustomObjectsApi,
  pool: string,
  items: { ip: string; uid: string }[],
): Promise<string[]> {
  let released: string[] = [];
  await updatePoolRecords(custom, pool, (records) => {
    released = items.filter((i) => records[i.ip]?.podUid === i.uid).map((i) => i.ip);
    if (released.length === 0) return undefined;
    for (const ip of released) delete records[ip];
    return records;
  });
  return released;
}

export async function getEndpoint(
  custom: k8s.CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<SpiderEndpoint | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: ENDPOINTS,
      namespace,
      name,
    })) as SpiderEndpoint;
  } catch (err) {
    if (apiErrorCode(err) === 404) return undefined;
    throw asWriteError(err);
  }
}

export async function listEndpoints(custom: k8s.CustomObjectsApi, namespace: string): Promise<SpiderEndpoint[]> {
  const res = (await custom.listNamespacedCustomObject({
    group: SPIDERPOOL_GROUP,
    version: SPIDERPOOL_VERSION,
    plural: ENDPOINTS,
    namespace,
  })) as { items: SpiderEndpoint[] };
  return res.items;
}

export async function createEndpoint(custom: k8s.CustomObjectsApi, body: SpiderEndpoint): Promise<void> {
  try {
    await custom.createNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: ENDPOINTS,
      namespace: body.metadata.namespace!,
      body,
    });
  } catch (err) {
    throw asWriteError(err);
  }
}

/** PUT of the endpoint in hand (its resourceVersion: 409 when stale). */
export async function replaceEndpoint(custom: k8s.CustomObjectsApi, ep: SpiderEndpoint): Promise<void> {
  try {
    await custom.replaceNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: ENDPOINTS,
      namespace: ep.metadata.namespace!,
      name: ep.metadata.name!,
      body: ep,
    });
  } catch (err) {
    throw asWriteError(err);
  }
}

/** client.Delete(obj): by namespace/name, no preconditions; NotFound ignored. */
export async function deleteEndpointByName(
  custom: k8s.CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<void> {
  try {
    await custom.deleteNamespacedCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: ENDPOINTS,
      namespace,
      name,
    });
  } catch (err) {
    if (apiErrorCode(err) !== 404) throw asWriteError(err);
  }
}

/** client.Patch(MergeFrom(old)) dropping the spiderpool finalizer: no resourceVersion; NotFound ignored. */
export async function removeEndpointFinalizer(custom: k8s.CustomObjectsApi, ep: SpiderEndpoint): Promise<void> {
  const finalizers = (ep.metadata.finalizers ?? []).filter((f) => f !== SPIDER_FINALIZER);
  if (finalizers.length === (ep.metadata.finalizers ?? []).length) return;
  try {
    await custom.patchNamespacedCustomObject(
      {
        group: SPIDERPOOL_GROUP,
        version: SPIDERPOOL_VERSION,
        plural: ENDPOINTS,
        namespace: ep.metadata.namespace!,
        name: ep.metadata.name!,
        body: { metadata: { finalizers: finalizers.length ? finalizers : null } },
      },
      MERGE_PATCH,
    );
  } catch (err) {
    if (apiErrorCode(err) !== 404) throw asWriteError(err);
  }
}

/** IPs an endpoint lists, per pool (bare IPs). */
export function endpointIps(ep: SpiderEndpoint): { ip: string; pool: string }[] {
  const out: { ip: string; pool: string }[] = [];
  for (const d of ep.status?.current?.ips ?? []) {
    if (d.ipv4) out.push({ ip: bareIp(d.ipv4), pool: d.ipv4Pool ?? '' });
    if (d.ipv6) out.push({ ip: bareIp(d.ipv6), pool: d.ipv6Pool ?? '' });
  }
  return out;
}

export function isStaticEndpoint(ep: SpiderEndpoint): boolean {
  return (
    ep.status?.ownerControllerType === 'StatefulSet' || ep.status?.ownerControllerType === 'VirtualMachineInstance'
  );
}

/** Spiderpool's IsValidStatefulSetPod, as the agent and the GC do it: an uncached GET of the set named by the prefix. */
export async function isValidStsMemberLive(apps: k8s.AppsV1Api, namespace: string, name: string): Promise<boolean> {
  const parsed = parseOrdinalName(name);
  if (!parsed) return false;
  try {
    const sts = await apps.readNamespacedStatefulSet({ namespace, name: parsed.set });
    return inOrdinalWindow(parsed.ordinal, statefulSetFacts(sts as unknown as KubeObject));
  } catch (err) {
    if (apiErrorCode(err) === 404) return false;
    throw err;
  }
}
