// A ClusterView from one-off LISTs against the API server (CLI `check`/`reconcile` against a live cluster).
// Objects go through the same addObject/trim path as a snapshot, so live and snapshot views are built alike.
// (By-name fresh reads are webhook/cluster/fresh.ts ApiFreshReader.)
import * as k8s from '@kubernetes/client-node';
import { KubeObject } from '../model/trim';
import { SPIDERPOOL_GROUP, SPIDERPOOL_VERSION } from '../model/types';
import { IndexedView } from '../model/view';
import { SnapshotError, addObject } from './snapshot';
import { kubeconfigFiles, loadKubeConfigList } from './kubeconfig-list';

/** The cluster could not be read (CLI exit 2, one line). */
export class ClusterReadError extends SnapshotError {}

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';

/** HTTP status of a client-node error (ApiException.code), undefined for transport errors. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** One line naming the cause: HTTP status and the API server's message, or the transport error. */
export function describeApiError(err: unknown): string {
  const status = apiStatus(err);
  if (status !== undefined) {
    let message = '';
    const body = (err as { body?: unknown }).body;
    try {
      const parsed = typeof body === 'string' ? JSON.parse(body) : body;
      if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
        message = (parsed as { message: string }).message;
      }
    } catch {
      message = typeof body === 'string' ? body.slice(0, 200) : '';
    }
    return `HTTP ${status}${message ? `: ${message}` : ''}`;
  }
  const e = err as { code?: unknown; message?: unknown };
  return `${typeof e?.code === 'string' ? `${e.code}: ` : ''}${String(e?.message ?? err)}`.replace(/\s*\n\s*/g, ' ');
}

/** Typed client-node objects carry Date instances; the trim functions read the JSON the API server sent. */
function plain(o: unknown): KubeObject {
  return JSON.parse(JSON.stringify(o)) as KubeObject;
}

interface Page {
  items: unknown[];
  next?: string;
}

async function listPaged(what: string, fetchPage: (cont: string | undefined) => Promise<Page>): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  let cont: string | undefined;
  do {
    let page: Page;
    try {
      page = await fetchPage(cont);
    } catch (err) {
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
  kubevirt: boolean;
}

function withKind(items: KubeObject[], apiVersion: string, kind: string): KubeObject[] {
  for (const i of items) {
    i.apiVersion = apiVersion;
    i.kind = kind;
  }
  return items;
}

/** Lists every kind the guard reads (pods, StatefulSets, pools, endpoints; VMIs/VMs when KubeVirt is installed). */
export async function listObjects(kc: k8s.KubeConfig, opts: ListViewOptions = {}): Promise<ListedObjects> {
  const limit = opts.pageSize ?? 500;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const customPage = async (group: string, version: string, plural: string, cont: string | undefined, clusterScoped: boolean): Promise<Page> => {
    const params = { group, version, plural, limit, _continue: cont };
    const res = (clusterScoped ? await custom.listClusterCustomObject(params) : await custom.listCustomObjectForAllNamespaces(params)) as {
      items?: unknown[];
      metadata?: { continue?: string };
    };
    return { items: res.items ?? [], next: res.metadata?.continue };
  };
  const [pods, statefulSets, pools, endpoints] = await Promise.all([
    listPaged('pods', async (cont) => {
      const res = await core.listPodForAllNamespaces({ limit, _continue: cont });
      return { items: res.items, next: res.metadata?._continue };
    }),
    listPaged('statefulsets.apps', async (cont) => {
      const res = await apps.listStatefulSetForAllNamespaces({ limit, _continue: cont });
      return { items: res.items, next: res.metadata?._continue };
    }),
    listPaged('spiderippools', (cont) => customPage(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, 'spiderippools', cont, true)),
    listPaged('spiderendpoints', (cont) => customPage(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, 'spiderendpoints', cont, false)),
  ]);
  let vmis: KubeObject[] = [];
  let vms: KubeObject[] = [];
  let kubevirt = false;
  if (opts.kubevirt !== false) {
    try {
      const first = await customPage(KUBEVIRT_GROUP, KUBEVIRT_VERSION, 'virtualmachineinstances', undefined, false);
      kubevirt = true;
      vmis = first.items.map(plain);
      if (first.next) {
        vmis.push(...(await listPaged('virtualmachineinstances', (cont) => customPage(KUBEVIRT_GROUP, KUBEVIRT_VERSION, 'virtualmachineinstances', cont ?? first.next, false))));
      }
      vms = await listPaged('virtualmachines', (cont) => customPage(KUBEVIRT_GROUP, KUBEVIRT_VERSION, 'virtualmachines', cont, false));
    } catch (err) {
      // 404: the kubevirt.io API is not served (KubeVirt not installed); anything else is a real failure.
      if (err instanceof ClusterReadError) throw err;
      if (apiStatus(err) !== 404 || opts.kubevirt === true) {
        throw new ClusterReadError(`cannot list virtualmachineinstances.kubevirt.io: ${describeApiError(err)}`);
      }
    }
  }
  return {
    pods: withKind(pods, 'v1', 'Pod'),
    statefulSets: withKind(statefulSets, 'apps/v1', 'StatefulSet'),
    pools: withKind(pools, `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`, 'SpiderIPPool'),
    endpoints: withKind(endpoints, `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`, 'SpiderEndpoint'),
    vmis: withKind(vmis, `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`, 'VirtualMachineInstance'),
    vms: withKind(vms, `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`, 'VirtualMachine'),
    kubevirt,
  };
}

/** Fills an IndexedView (a new one unless given) with listed objects. */
export function viewFromListed(listed: ListedObjects, view = new IndexedView()): IndexedView {
  for (const list of [listed.pods, listed.statefulSets, listed.pools, listed.endpoints, listed.vmis, listed.vms]) {
    for (const o of list) addObject(view, o);
  }
  return view;
}

/** A ClusterView from one round of LISTs. */
export async function listClusterView(kc: k8s.KubeConfig, opts: ListViewOptions = {}): Promise<IndexedView> {
  return viewFromListed(await listObjects(kc, opts));
}

/**
 * Loads a kubeconfig file (CLI --kubeconfig), or a KUBECONFIG-style list of files merged as kubectl merges them;
 * an unusable file is exit 2 with one line.
 */
export function loadKubeConfigFile(path: string): k8s.KubeConfig {
  let kc = new k8s.KubeConfig();
  try {
    const files = kubeconfigFiles(path);
    if (files.length > 1) kc = loadKubeConfigList(files);
    else kc.loadFromFile(path);
  } catch (err) {
    throw new ClusterReadError(`cannot load kubeconfig ${path}: ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new ClusterReadError(`kubeconfig ${path} has no current cluster`);
  return kc;
}
