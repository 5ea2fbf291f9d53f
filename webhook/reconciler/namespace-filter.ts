// The `--namespace` filter of check and reconcile: which findings and actions concern objects in some namespaces.
// Pools are cluster-scoped, so a finding or action is "in" a namespace through the namespaced objects it names:
// the pod of a pool record, the live pods of an IP, the SpiderEndpoint. Pool-level ones (COUNT_MISMATCH,
// MALFORMED_POOL, FIX_COUNT) name no namespaced object and are outside every namespace filter, as cluster-scoped
// objects are for `kubectl get -n`. The filter only narrows what is reported or acted on: decisions are made on
// the whole cluster's view (an IP in one namespace may conflict with a pod in another).
import { LivePodSummary } from '../guard';
import { PoolRecord, splitNsName } from '../model';

/** What findings and actions can name that lives in a namespace. */
interface Namespaced {
  record?: PoolRecord;
  pods?: LivePodSummary[];
  endpoint?: { name: string };
}

/** The namespaces of the objects an item names (empty for pool-level items). */
export function namespacesOf(item: Namespaced): string[] {
  const keys = [item.record?.pod, ...(item.pods ?? []).map((p) => p.name), item.endpoint?.name];
  const found = new Set<string>();
  for (const key of keys) {
    const ns = key === undefined ? undefined : splitNsName(key)?.namespace;
    if (ns) found.add(ns);
  }
  return [...found];
}

/** Keeps the items that name an object in one of `namespaces`; all items when `namespaces` is empty (no filter). */
export function inNamespaces<T extends Namespaced>(items: readonly T[], namespaces: readonly string[]): T[] {
  if (namespaces.length === 0) return [...items];
  const wanted = new Set(namespaces);
  return items.filter((item) => namespacesOf(item).some((ns) => wanted.has(ns)));
}
