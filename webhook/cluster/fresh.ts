// Fresh reads (docs/architecture.md, Fresh evidence): before denying, and when the cache misses, the objects a decision
// rests on are read live from the API server.
import { KubeConfig } from '@kubernetes/client-node';
import { FreshReader, KubeObject, endpointFacts, podFacts, statefulSetFacts, vmFacts, vmiFacts, VIRT_LAUNCHER_SELECTOR, apiPaths, PodFacts, nsName, FreshObjects, LookupKind, ObjectRef, emptyFresh } from '../model';
import { KubeHttpClient } from './kube-http';

const PATHS: Record<Exclude<LookupKind, 'vmiPods'>, (ns: string, name: string) => string> = {
  pod: (ns, n) => `${apiPaths.pods(ns)}/${n}`,
  statefulSet: (ns, n) => `${apiPaths.statefulSets(ns)}/${n}`,
  endpoint: (ns, n) => `${apiPaths.endpoints(ns)}/${n}`,
  vmi: (ns, n) => `${apiPaths.vmis(ns)}/${n}`,
  vm: (ns, n) => `${apiPaths.vms(ns)}/${n}`,
};

export class ApiFreshReader implements FreshReader {
  private readonly http: KubeHttpClient;

  constructor(
    kc: KubeConfig,
    private readonly kubevirt: boolean,
  ) {
    this.http = new KubeHttpClient(kc);
  }

  async read(refs: ObjectRef[]): Promise<FreshObjects> {
    const out = emptyFresh();
    await Promise.all(
      refs.map(async (ref) => {
        // without KubeVirt served there is nothing to read: the cache's "absent" is the truth
        if ((ref.kind === 'vmi' || ref.kind === 'vm' || ref.kind === 'vmiPods') && !this.kubevirt) return;
        const key = nsName(ref.namespace, ref.name);
        if (ref.kind === 'vmiPods') {
          out.vmiPods.set(key, await this.launcherPods(ref.namespace, ref.name));
          return;
        }
        const path = PATHS[ref.kind](encodeURIComponent(ref.namespace), encodeURIComponent(ref.name));
        const o = (await this.http.getJson(path)) as KubeObject | null;
        switch (ref.kind) {
          case 'pod':
            out.pods.set(key, o && podFacts(o));
            break;
          case 'statefulSet':
            out.statefulSets.set(key, o && statefulSetFacts(o));
            break;
          case 'endpoint':
            out.endpoints.set(key, o && endpointFacts(o));
            break;
          case 'vmi':
            out.vmis.set(key, o && vmiFacts(o));
            break;
          case 'vm':
            out.vms.set(key, o && vmFacts(o));
            break;
        }
      }),
    );
    return out;
  }

  /** KubeVirt's launcher pods of a VMI: its virt-launcher pods whose controller is that VMI. */
  private async launcherPods(namespace: string, vmi: string): Promise<PodFacts[]> {
    const selector = encodeURIComponent(VIRT_LAUNCHER_SELECTOR);
    const list = await this.http.getJson(`${apiPaths.pods(encodeURIComponent(namespace))}?labelSelector=${selector}`);
    const items = ((list?.items as KubeObject[] | undefined) ?? []).map(podFacts);
    return items.filter((p) => p.controller?.kind === 'VirtualMachineInstance' && p.controller.name === vmi);
  }

  close(): void {
    this.http.close();
  }
}
