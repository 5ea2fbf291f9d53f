/**
 * The GC's informer caches, emulated by independent polling loops (pods, endpoints, the pool), each refreshed on
 * its own period: like three informers, they can disagree for a moment (the stale-cache hazard of docs/architecture.md#gc-races).
 * Pod changes are turned into ADDED / MODIFIED / DELETED events for the trace builder; a name whose uid changed
 * between two listings gives DELETED (old) then ADDED (new).
 */
import type * as k8s from '@kubernetes/client-node';
import { type Clients } from '../clients';
import { getPool, type SpiderEndpoint, type SpiderIPPool } from './objects';
import { listEndpoints } from './spider-api';
import { Loop } from './util';
import type { PodEvent } from './gc-trace';

export interface CachePeriods {
  podsMs: number;
  endpointsMs: number;
  poolMs: number;
}

export const DEFAULT_CACHE_PERIODS: CachePeriods = { podsMs: 500, endpointsMs: 1000, poolMs: 1000 };

export class GcCache {
  pods = new Map<string, k8s.V1Pod>();
  endpoints = new Map<string, SpiderEndpoint>();
  pool?: SpiderIPPool;
  private loops: Loop[] = [];

  constructor(
    private readonly clients: Clients,
    private readonly namespace: string,
    private readonly poolName: string,
    private readonly periods: CachePeriods,
    private readonly onPodEvent: (type: PodEvent, pod: k8s.V1Pod, old?: k8s.V1Pod) => void,
  ) {}

  /** Lists everything once (cache sync), then keeps refreshing. */
  async start(): Promise<void> {
    await Promise.all([this.refreshPods(), this.refreshEndpoints(), this.refreshPool()]);
    this.loops = [
      new Loop('gc-cache', this.periods.podsMs, () => this.refreshPods()).start(),
      new Loop('gc-cache', this.periods.endpointsMs, () => this.refreshEndpoints()).start(),
      new Loop('gc-cache', this.periods.poolMs, () => this.refreshPool()).start(),
    ];
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.stop()));
    this.loops = [];
  }

  private async refreshPods(): Promise<void> {
    const items = (await this.clients.core.listNamespacedPod({ namespace: this.namespace })).items;
    const next = new Map(items.map((p) => [p.metadata!.name!, p]));
    for (const [name, old] of this.pods) {
      const cur = next.get(name);
      if (!cur || cur.metadata?.uid !== old.metadata?.uid) this.onPodEvent('DELETED', old);
    }
    for (const [name, cur] of next) {
      const old = this.pods.get(name);
      if (!old || old.metadata?.uid !== cur.metadata?.uid) this.onPodEvent('ADDED', cur);
      else if (old.metadata?.resourceVersion !== cur.metadata?.resourceVersion) this.onPodEvent('MODIFIED', cur, old);
    }
    this.pods = next;
  }

  private async refreshEndpoints(): Promise<void> {
    const items = await listEndpoints(this.clients.custom, this.namespace);
    this.endpoints = new Map(items.map((e) => [e.metadata.name!, e]));
  }

  private async refreshPool(): Promise<void> {
    this.pool = await getPool(this.clients.custom, this.poolName);
  }
}
