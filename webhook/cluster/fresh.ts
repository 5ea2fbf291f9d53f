// Fresh reads (contract §2 "fresh evidence"): before denying, the objects a denial rests on are read live.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { FreshReader } from '../admission/handler';
import { KubeObject, endpointFacts, podFacts, statefulSetFacts, vmFacts, vmiFacts } from '../model/trim';
import { SPIDERPOOL_GROUP, SPIDERPOOL_VERSION, nsName } from '../model/types';
import { FreshObjects, ObjectRef, emptyFresh } from '../model/view';

function notFound(err: unknown): boolean {
  return (err as { code?: number })?.code === 404;
}

export class ApiFreshReader implements FreshReader {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly kubevirt: boolean,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  private async get(ref: ObjectRef): Promise<KubeObject | null | 'skip'> {
    const { namespace, name } = ref;
    try {
      switch (ref.kind) {
        case 'pod':
          return (await this.core.readNamespacedPod({ namespace, name })) as unknown as KubeObject;
        case 'statefulSet':
          return (await this.apps.readNamespacedStatefulSet({ namespace, name })) as unknown as KubeObject;
        case 'endpoint':
          return (await this.custom.getNamespacedCustomObject({
            group: SPIDERPOOL_GROUP,
            version: SPIDERPOOL_VERSION,
            namespace,
            plural: 'spiderendpoints',
            name,
          })) as KubeObject;
        case 'vmi':
        case 'vm':
          if (!this.kubevirt) return 'skip';
          return (await this.custom.getNamespacedCustomObject({
            group: 'kubevirt.io',
            version: 'v1',
            namespace,
            plural: ref.kind === 'vmi' ? 'virtualmachineinstances' : 'virtualmachines',
            name,
          })) as KubeObject;
      }
    } catch (err) {
      if (notFound(err)) return null;
      throw new Error(`GET ${ref.kind} ${namespace}/${name}: ${(err as Error).message}`, { cause: err });
    }
  }

  async read(refs: ObjectRef[]): Promise<FreshObjects> {
    const out = emptyFresh();
    await Promise.all(
      refs.map(async (ref) => {
        const o = await this.get(ref);
        if (o === 'skip') return;
        const key = nsName(ref.namespace, ref.name);
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
}
