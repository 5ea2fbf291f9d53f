// Fresh reads (docs/architecture.md, Fresh evidence): before denying, and when the cache misses, the objects a decision
// rests on are read live from the API server.
import { KubeConfig } from '@kubernetes/client-node';
import { abortable } from '../../lib/abortable';
import {
  FreshReader,
  KubeObject,
  endpointFacts,
  nodeFacts,
  podFacts,
  statefulSetFacts,
  vmFacts,
  vmiFacts,
  VIRT_LAUNCHER_SELECTOR,
  apiPaths,
  PodFacts,
  nsName,
  FreshObjects,
  LookupKind,
  ObjectRef,
  emptyFresh,
} from '../model';
import { KubeHttpClient } from './kube-http';

const PATHS: Record<Exclude<LookupKind, 'vmiPods'>, (ns: string, name: string) => string> = {
  pod: (ns, n) => `${apiPaths.pods(ns)}/${n}`,
  statefulSet: (ns, n) => `${apiPaths.statefulSets(ns)}/${n}`,
  endpoint: (ns, n) => `${apiPaths.endpoints(ns)}/${n}`,
  vmi: (ns, n) => `${apiPaths.vmis(ns)}/${n}`,
  vm: (ns, n) => `${apiPaths.vms(ns)}/${n}`,
  node: (_ns, n) => `${apiPaths.nodes()}/${n}`,
};

/** One object read live; the shape depends on the kind (null: absent). */
type FreshValue = unknown;

/** The longest one read may take, whoever waits for it; each decision stops waiting at its own deadline. */
export const FRESH_READ_TIMEOUT_MS = 4000;

export class ApiFreshReader implements FreshReader {
  private readonly http: KubeHttpClient;
  /** single flight: concurrent decisions needing the same object share one read */
  private readonly inflight = new Map<string, Promise<FreshValue>>();

  constructor(
    kc: KubeConfig,
    private readonly kubevirt: boolean,
    private readonly readTimeoutMs = FRESH_READ_TIMEOUT_MS,
  ) {
    this.http = new KubeHttpClient(kc, readTimeoutMs);
  }

  /** All refs in parallel (the agent caps connections), each shared with concurrent decisions, each within its timeout. */
  async read(refs: ObjectRef[], signal?: AbortSignal): Promise<FreshObjects> {
    const out = emptyFresh();
    // where each kind's answer goes (the value's shape is the kind's: facts, null or launcher pods)
    const into: Record<LookupKind, Map<string, unknown>> = {
      pod: out.pods,
      statefulSet: out.statefulSets,
      endpoint: out.endpoints,
      vmi: out.vmis,
      vm: out.vms,
      vmiPods: out.vmiPods,
      node: out.nodes,
    };
    await Promise.all(
      refs.map(async (ref) => {
        // without KubeVirt served there is nothing to read: the cache's "absent" is the truth
        if ((ref.kind === 'vmi' || ref.kind === 'vm' || ref.kind === 'vmiPods') && !this.kubevirt) return;
        // Nodes are cluster-scoped: keyed by name alone, as the views look them up
        const key = ref.kind === 'node' ? ref.name : nsName(ref.namespace, ref.name);
        const value = await abortable(this.shared(ref), signal); /* the read goes on for whoever else shares it */
        into[ref.kind].set(key, value);
      }),
    );
    return out;
  }

  /** The read of one object: the one in flight, or a new one bounded by the read timeout. */
  private shared(ref: ObjectRef): Promise<FreshValue> {
    const key = `${ref.kind}:${ref.namespace}/${ref.name}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.readOne(ref, AbortSignal.timeout(this.readTimeoutMs)).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async readOne(ref: ObjectRef, signal: AbortSignal): Promise<FreshValue> {
    if (ref.kind === 'vmiPods') return this.launcherPods(ref.namespace, ref.name, signal);
    const path = PATHS[ref.kind](encodeURIComponent(ref.namespace), encodeURIComponent(ref.name));
    const o = (await this.http.getJson(path, signal)) as KubeObject | null;
    if (!o) return null;
    const facts = {
      pod: podFacts,
      statefulSet: statefulSetFacts,
      endpoint: endpointFacts,
      vmi: vmiFacts,
      vm: vmFacts,
      node: nodeFacts,
    } as const;
    return facts[ref.kind](o);
  }

  /** KubeVirt's launcher pods of a VMI: its virt-launcher pods whose controller is that VMI. */
  private async launcherPods(namespace: string, vmi: string, signal?: AbortSignal): Promise<PodFacts[]> {
    const selector = encodeURIComponent(VIRT_LAUNCHER_SELECTOR);
    const list = await this.http.getJson(
      `${apiPaths.pods(encodeURIComponent(namespace))}?labelSelector=${selector}`,
      signal,
    );
    const items = ((list?.items as KubeObject[] | undefined) ?? []).map(podFacts);
    return items.filter((p) => p.controller?.kind === 'VirtualMachineInstance' && p.controller.name === vmi);
  }

  close(): void {
    this.http.close();
  }
}
