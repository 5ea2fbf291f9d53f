// The live ClusterView for `serve`: one Reflector per kind feeding a trimmed IndexedView.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Logger } from '../audit/logger';
import { KubeObject, endpointFacts, podFacts, poolFacts, statefulSetFacts, vmFacts, vmiFacts } from '../model/trim';
import { SPIDERPOOL_GROUP, SPIDERPOOL_VERSION } from '../model/types';
import { IndexedView } from '../model/view';
import { ChangeListener, ListPage, Reflector, ReflectorSpec } from './reflector';

const PAGE = 500;

function page(list: { items?: unknown[]; metadata?: { resourceVersion?: string; _continue?: string; continue?: string } }): ListPage {
  return {
    items: (list.items ?? []) as KubeObject[],
    resourceVersion: list.metadata?.resourceVersion ?? '',
    continueToken: list.metadata?._continue ?? list.metadata?.continue,
  };
}

/** Whether the API server serves kubevirt.io/v1 (VMI/VM informers are started only then). */
export async function kubevirtServed(kc: KubeConfig): Promise<boolean> {
  try {
    const api = kc.makeApiClient(CustomObjectsApi);
    await api.listNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: 'default', plural: 'virtualmachineinstances', limit: 1 });
    return true;
  } catch {
    return false;
  }
}

export interface ClusterCache {
  view: IndexedView;
  synced(): boolean;
  status(): Record<string, { synced: boolean; lastError?: string }>;
  stop(): void;
}

export function startClusterCache(kc: KubeConfig, log: Logger, opts: { kubevirt: boolean; onChange?: ChangeListener }): ClusterCache {
  const view = new IndexedView();
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const clusterCustom = (group: string, version: string, plural: string) => (c?: string) =>
    custom.listClusterCustomObject({ group, version, plural, limit: PAGE, _continue: c }).then(page);
  const namespacedCustom = (group: string, version: string, plural: string) => (c?: string) =>
    custom.listCustomObjectForAllNamespaces({ group, version, plural, limit: PAGE, _continue: c }).then(page);
  const specs: ReflectorSpec[] = [
    {
      name: 'pods',
      path: '/api/v1/pods',
      list: (c) => core.listPodForAllNamespaces({ limit: PAGE, _continue: c }).then(page),
      upsert: (o) => view.upsertPod(podFacts(o)),
      remove: (ns, n) => view.removePod(ns, n),
    },
    {
      name: 'statefulsets',
      path: '/apis/apps/v1/statefulsets',
      list: (c) => apps.listStatefulSetForAllNamespaces({ limit: PAGE, _continue: c }).then(page),
      upsert: (o) => view.upsertStatefulSet(statefulSetFacts(o)),
      remove: (ns, n) => view.removeStatefulSet(ns, n),
    },
    {
      name: 'spiderippools',
      path: `/apis/${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}/spiderippools`,
      list: clusterCustom(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, 'spiderippools'),
      upsert: (o) => view.upsertPool(poolFacts(o)),
      remove: (_ns, n) => view.removePool(n),
    },
    {
      name: 'spiderendpoints',
      path: `/apis/${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}/spiderendpoints`,
      list: namespacedCustom(SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, 'spiderendpoints'),
      upsert: (o) => view.upsertEndpoint(endpointFacts(o)),
      remove: (ns, n) => view.removeEndpoint(ns, n),
    },
  ];
  if (opts.kubevirt) {
    specs.push(
      {
        name: 'virtualmachineinstances',
        path: '/apis/kubevirt.io/v1/virtualmachineinstances',
        list: namespacedCustom('kubevirt.io', 'v1', 'virtualmachineinstances'),
        upsert: (o) => view.upsertVmi(vmiFacts(o)),
        remove: (ns, n) => view.removeVmi(ns, n),
      },
      {
        name: 'virtualmachines',
        path: '/apis/kubevirt.io/v1/virtualmachines',
        list: namespacedCustom('kubevirt.io', 'v1', 'virtualmachines'),
        upsert: (o) => view.upsertVm(vmFacts(o)),
        remove: (ns, n) => view.removeVm(ns, n),
      },
    );
  }
  const reflectors = specs.map((s) => new Reflector(kc, s, log, opts.onChange));
  for (const r of reflectors) r.start();
  return {
    view,
    synced: () => reflectors.every((r) => r.synced),
    status: () => Object.fromEntries(reflectors.map((r, i) => [specs[i].name, { synced: r.synced, lastError: r.lastError }])),
    stop: () => reflectors.forEach((r) => r.stop()),
  };
}
