// A ClusterView from one-off LISTs against the API server (CLI `check`/`reconcile` against a live cluster).
// Objects go through the same addObject/trim path as a snapshot, so live and snapshot views are built alike.
// (By-name fresh reads are webhook/cluster/fresh.ts ApiFreshReader.)
import * as k8s from '@kubernetes/client-node';
import { describeApiError, isNotFound } from '../../lib/api-errors';
import {
  ENDPOINT_RESOURCE,
  KUBEVIRT_API_VERSION,
  KUBEVIRT_GROUP,
  KUBEVIRT_VERSION,
  POOL_RESOURCE,
  RESERVED_IP_RESOURCE,
  SPIDERPOOL_API_VERSION,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  VMI_RESOURCE,
  VM_RESOURCE,
  KubeObject,
  IndexedView,
} from '../model';
import { ClusterReadError } from './errors';
import { addObject } from './snapshot';

/** Typed client-node objects carry Date instances; the trim functions read the JSON the API server sent. */
function plain(o: unknown): KubeObject {
  return JSON.parse(JSON.stringify(o)) as KubeObject;
}

interface Page {
  items: unknown[];
  next?: string;
}

/** All pages of a list; `rawErrors` hands the API error to the caller instead of wrapping it. */
async function listPaged(
  what: string,
  fetchPage: (cont: string | undefined) => Promise<Page>,
  rawErrors = false,
): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  let cont: string | undefined;
  do {
    let page: Page;
    try {
      page = await fetchPage(cont);
    } catch (err) {
      if (rawErrors) throw err;
      throw new ClusterReadError(`cannot list ${what}: ${describeApiError(err)}`);
    }
    for (const item of page.items) out.push(plain(item));
    cont = page.next || undefined;
  } while (cont);
  return out;
}

export interface ListViewOptions {
  /** LIST page size (default 500) */
  pageSize?: number;
  /** list VMIs/VMs: 'auto' (default) lists them when the kubevirt.io API exists */
  kubevirt?: boolean | 'auto';
}

export interface ListedObjects {
  pods: KubeObject[];
  statefulSets: KubeObject[];
  pools: KubeObject[];
  endpoints: KubeObject[];
  vmis: KubeObject[];
  vms: KubeObject[];
  /** SpiderReservedIPs (empty when the CRD is not installed) */
  reservedIPs: KubeObject[];
  nodes: KubeObject[];
  kubevirt: boolean;
}

function withKind(items: KubeObject[], apiVersion: string, kind: string): KubeObject[] {
  for (const i of items) {
    i.apiVersion = apiVersion;
    i.kind = kind;
  }
  return items;
}

/** Lists every kind the guard reads (pods, StatefulSets, pools, endpoints, Nodes, SpiderReservedIPs; VMIs/VMs when KubeVirt is installed). */
async function listObjects(kc: k8s.KubeConfig, opts: ListViewOptions = {}): Promise<ListedObjects> {
  const limit = opts.pageSize ?? 500;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const customPage = async (
    group: string,
    version: string,
    plural: string,
    cont: string | undefined,
    clusterScoped: boolean,
  ): Promise<Page> => {
    const params = { group, version, plural, limit, _continue: cont };
    const res = (
      clusterScoped
        ? await custom.listClusterCustomObject(params)
        : await custom.listCustomObjectForAllNamespaces(params)
    ) as {
      items?: unknown[];
      metadata?: { continue?: string };
    };
    return { items: res.items ?? [], next: res.metadata?.continue };
  };
  const [pods, statefulSets, pools, endpoints, nodes] = await Promise.all([
    listPaged('pods', async (cont) => {
      const res = await core.listPodForAllNamespaces({ limit, _continue: cont });
      return { items: res.items, next: res.metadata?._continue };
    }),
    listPaged('statefulsets.apps', async (cont) => {
      const res = await apps.listStatefulSetForAllNamespaces({ limit, _continue: cont });
      return { items: res.items, next: res.metadata?._continue };
    }),
    listPaged(POOL_RESOURCE, (cont) => customPage(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, POOL_RESOURCE, cont, true)),
    listPaged(ENDPOINT_RESOURCE, (cont) =>
      customPage(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, ENDPOINT_RESOURCE, cont, false),
    ),
    // whether a terminating pod's node still exists or is tainted out-of-service (docs/rules.md, Terms)
    listPaged('nodes', async (cont) => {
      const res = await core.listNode({ limit, _continue: cont });
      return { items: res.items, next: res.metadata?._continue };
    }),
  ]);
  let reservedIPs: KubeObject[] = [];
  try {
    reservedIPs = await listPaged(
      RESERVED_IP_RESOURCE,
      (cont) => customPage(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, RESERVED_IP_RESOURCE, cont, true),
      true,
    );
  } catch (err) {
    // 404: the CRD is not installed; nothing is reserved then. Anything else is a real failure.
    if (!isNotFound(err))
      throw new ClusterReadError(`cannot list ${RESERVED_IP_RESOURCE}.${SPIDERPOOL_GROUP}: ${describeApiError(err)}`);
  }
  let vmis: KubeObject[] = [];
  let vms: KubeObject[] = [];
  let kubevirt = false;
  if (opts.kubevirt !== false) {
    try {
      const first = await customPage(KUBEVIRT_GROUP, KUBEVIRT_VERSION, VMI_RESOURCE, undefined, false);
      kubevirt = true;
      vmis = first.items.map(plain);
      if (first.next) {
        vmis.push(
          ...(await listPaged(VMI_RESOURCE, (cont) =>
            customPage(KUBEVIRT_GROUP, KUBEVIRT_VERSION, VMI_RESOURCE, cont ?? first.next, false),
          )),
        );
      }
      vms = await listPaged(VM_RESOURCE, (cont) =>
        customPage(KUBEVIRT_GROUP, KUBEVIRT_VERSION, VM_RESOURCE, cont, false),
      );
    } catch (err) {
      // 404: the kubevirt.io API is not served (KubeVirt not installed); anything else is a real failure.
      if (err instanceof ClusterReadError) throw err;
      if (!isNotFound(err) || opts.kubevirt === true) {
        throw new ClusterReadError(`cannot list ${VMI_RESOURCE}.${KUBEVIRT_GROUP}: ${describeApiError(err)}`);
      }
    }
  }
  return {
    pods: withKind(pods, 'v1', 'Pod'),
    statefulSets: withKind(statefulSets, 'apps/v1', 'StatefulSet'),
    pools: withKind(pools, SPIDERPOOL_API_VERSION, 'SpiderIPPool'),
    endpoints: withKind(endpoints, SPIDERPOOL_API_VERSION, 'SpiderEndpoint'),
    vmis: withKind(vmis, KUBEVIRT_API_VERSION, 'VirtualMachineInstance'),
    vms: withKind(vms, KUBEVIRT_API_VERSION, 'VirtualMachine'),
    reservedIPs: withKind(reservedIPs, SPIDERPOOL_API_VERSION, 'SpiderReservedIP'),
    nodes: withKind(nodes, 'v1', 'Node'),
    kubevirt,
  };
}

/** Fills an IndexedView (a new one unless given) with listed objects. */
function viewFromListed(listed: ListedObjects, view = new IndexedView()): IndexedView {
  view.trackNodes(); // the Nodes were listed: one that is not among them does not exist
  for (const list of [
    listed.pods,
    listed.statefulSets,
    listed.pools,
    listed.endpoints,
    listed.vmis,
    listed.vms,
    listed.reservedIPs,
    listed.nodes,
  ]) {
    for (const o of list) addObject(view, o);
  }
  return view;
}

/** A ClusterView from one round of LISTs. */
export async function listClusterView(kc: k8s.KubeConfig, opts: ListViewOptions = {}): Promise<IndexedView> {
  return viewFromListed(await listObjects(kc, opts));
}
