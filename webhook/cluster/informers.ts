// The live ClusterView for `serve`: one Reflector per kind feeding a trimmed IndexedView.
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Gauge, Registry } from 'prom-client';
import { Logger } from '../log';
import {
  KubeObject,
  endpointFacts,
  nodeFacts,
  podFacts,
  poolFacts,
  reservedIpFacts,
  statefulSetFacts,
  vmFacts,
  vmiFacts,
  ENDPOINT_RESOURCE,
  KUBEVIRT_GROUP,
  KUBEVIRT_VERSION,
  POOL_RESOURCE,
  RESERVED_IP_RESOURCE,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  VMI_RESOURCE,
  VM_RESOURCE,
  apiPaths,
  IndexedView,
  PodTombstones,
} from '../model';
import { KubeHttpClient } from './kube-http';
import { ApiServerProbe } from './apiserver-probe';
import { ListCosts, emptyTiming } from './list-costs';
import { SyncMethod, isInitialEventsEnd } from './initial-events';
import { ChangeListener, Reflector, ReflectorSpec, ReflectorStatus } from './reflector';
import { OpenWatch, WatchHandlers, openWatch } from './watch-stream';

const PAGE = 500;

/** Keys of cluster-scoped objects, as the reflector reads them from LIST items (no namespace). */
function* clusterScoped(objects: Iterable<{ name: string }>): Iterable<{ namespace: string; name: string }> {
  for (const o of objects) yield { namespace: '', name: o.name };
}

/** Whether the API server serves kubevirt.io/v1 (VMI/VM informers are started only then). */
export async function kubevirtServed(kc: KubeConfig): Promise<boolean> {
  try {
    const api = kc.makeApiClient(CustomObjectsApi);
    await api.listNamespacedCustomObject({
      group: KUBEVIRT_GROUP,
      version: KUBEVIRT_VERSION,
      namespace: 'default',
      plural: VMI_RESOURCE,
      limit: 1,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * How the pod reflector keeps the tombstones (model/tombstones.ts): a watched DELETED leaves one for its incarnation
 * (then the caller's listener runs), and every gap in following the server drops them all.
 */
export function podTombstoneHooks(
  tombstones: PodTombstones,
  next?: ChangeListener,
): { onChange: ChangeListener; onGap: () => void } {
  return {
    onChange: (kind, type, o) => {
      if (type === 'DELETED') {
        const m = (o.metadata ?? {}) as { namespace?: string; name?: string; uid?: string };
        tombstones.record(m.namespace ?? '', m.name ?? '', m.uid ?? '');
      }
      next?.(kind, type, o);
    },
    onGap: () => tombstones.clear(),
  };
}

/**
 * Whether the API server serves SpiderReservedIPs. Spiderpool installs the CRD with the others, but the guard must
 * not wait forever for a cache of an optional input: without it, RESERVED_IP_IN_USE is not judged and capacity
 * counts no reserved IPs (logged at start).
 */
export async function reservedIPsServed(kc: KubeConfig): Promise<boolean> {
  try {
    const api = kc.makeApiClient(CustomObjectsApi);
    await api.listClusterCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: RESERVED_IP_RESOURCE,
      limit: 1,
    });
    return true;
  } catch {
    return false;
  }
}

export interface ClusterCache {
  view: IndexedView;
  /** every reflector listed at least once and none stale */
  synced(): boolean;
  /** names of the reflectors that listed once but whose watch has been down longer than the staleness limit */
  stale(): string[];
  status(): Record<string, ReflectorStatus>;
  stop(): void;
}

export interface ClusterCacheOptions {
  kubevirt: boolean;
  /** watch SpiderReservedIPs (reservedIPsServed) */
  reservedIPs?: boolean;
  onChange?: ChangeListener;
  /** a cache whose watch has not been known healthy for longer than this counts as unsynced (stale-cache) */
  staleAfterMs?: number;
  /** registers spiderpool_guard_cache_synced and spiderpool_guard_cache_staleness_seconds when given */
  registry?: Registry;
  /**
   * How the caches fill: 'watch-list' (default) streams the list from the API server's watch cache and falls back
   * to LIST pages, per resource, when the API server refuses it; 'list' always lists pages.
   */
  sync?: SyncMethod;
  /** LIST page size (default 500): LIST pages only (sync 'list', or the fallback) */
  pageSize?: number;
  /**
   * The resourceVersion of a LIST's first page: '' (default) is a consistent read, '0' accepts any version the
   * API server's watch cache holds. Later pages follow the continue token either way. LIST pages only.
   */
  listResourceVersion?: '' | '0';
  /** collects where the LISTs spend their time, per resource (bench scale) */
  listCosts?: ListCosts;
}

const SYNC_METHODS: SyncMethod[] = ['watch-list', 'list'];

function registerCacheGauges(registry: Registry, status: () => Record<string, ReflectorStatus>): void {
  new Gauge({
    name: 'spiderpool_guard_cache_sync_method',
    help: 'How the cache of a resource fills (1 for the method in use): a streaming list (watch-list) or LIST pages (list, also when the API server refused streaming)',
    labelNames: ['resource', 'method'],
    registers: [registry],
    collect() {
      for (const [resource, s] of Object.entries(status()))
        for (const method of SYNC_METHODS) this.set({ resource, method }, s.syncMethod === method ? 1 : 0);
    },
  });
  new Gauge({
    name: 'spiderpool_guard_cache_synced',
    help: 'Whether the cache of a resource is synced and its watch healthy (1), or not yet listed or stale (0)',
    labelNames: ['resource'],
    registers: [registry],
    collect() {
      for (const [resource, s] of Object.entries(status())) this.set({ resource }, s.state === 'synced' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'spiderpool_guard_cache_staleness_seconds',
    help: "Seconds since the resource's watch was last known healthy (0 while it is)",
    labelNames: ['resource'],
    registers: [registry],
    collect() {
      for (const [resource, s] of Object.entries(status())) this.set({ resource }, s.stalenessSeconds);
    },
  });
}

export function startClusterCache(kc: KubeConfig, log: Logger, opts: ClusterCacheOptions): ClusterCache {
  const tombstones = new PodTombstones();
  const view = new IndexedView(tombstones);
  const podHooks = podTombstoneHooks(tombstones, opts.onChange);
  // Lists go through the keep-alive client as raw JSON: client-node's typed lists cost a TLS handshake per page
  // and a second, deserialised copy of every object, which is most of the start-up memory peak.
  const http = new KubeHttpClient(kc, 60_000);
  const costs = opts.listCosts;
  const firstPage: Record<string, string> = opts.listResourceVersion
    ? { resourceVersion: opts.listResourceVersion }
    : {};
  const lister = (name: string, path: string) => async (c?: string) => {
    const query = new URLSearchParams({ limit: String(opts.pageSize ?? PAGE), ...(c ? { continue: c } : firstPage) });
    const timing = costs && emptyTiming();
    costs?.requesting(name);
    const list = await http.getList(`${path}?${query}`, timing);
    if (!list) throw new Error(`GET ${path}: not found (is the CRD installed?)`);
    const metadata = (list.head.metadata ?? {}) as { resourceVersion?: string; continue?: string };
    if (timing) costs.page(name, timing, list.count);
    return {
      items: list.items(costs && ((ms) => costs.parsed(name, ms))) as Iterable<KubeObject>,
      resourceVersion: metadata.resourceVersion ?? '',
      continueToken: metadata.continue,
    };
  };
  // Watches have their own keep-alive client: they hold their connections for minutes, LIST pages must not wait.
  const watchHttp = new KubeHttpClient(kc, 30_000);
  const watcher =
    (name: string, path: string) =>
    (query: Record<string, string>, handlers: WatchHandlers): Promise<OpenWatch> => {
      const url = `${path}?${new URLSearchParams(query)}`;
      if (!costs || query.sendInitialEvents !== 'true') return openWatch(watchHttp, url, handlers);
      // a streaming list's costs, as one page: time to its first event, its bytes and parse up to the end bookmark
      costs.requesting(name);
      const timing = emptyTiming();
      let firstByteAt = 0;
      let items = 0;
      let initial = true;
      const meter = {
        firstByte: (ms: number) => {
          timing.ttfbMs = ms;
          firstByteAt = performance.now();
        },
        line: (bytes: number, parseMs: number) => {
          if (!initial) return;
          timing.bytes += bytes;
          timing.parseMs += parseMs;
        },
      };
      const event = (type: string, o: KubeObject) => {
        if (initial && isInitialEventsEnd(type, o)) {
          initial = false;
          timing.bodyMs = performance.now() - firstByteAt;
          costs.page(name, timing, items, 'watch-list');
        } else if (initial) items++;
        handlers.event(type, o);
      };
      return openWatch(watchHttp, url, { event, done: handlers.done }, meter);
    };
  const timed = (name: string, upsert: (o: KubeObject) => void) =>
    !costs
      ? upsert
      : (o: KubeObject) => {
          const t0 = performance.now();
          upsert(o);
          costs.trimmed(name, performance.now() - t0);
        };
  const spec = (
    name: string,
    path: string,
    upsert: (o: KubeObject) => void,
    remove: (ns: string, n: string) => void,
    cached: () => Iterable<{ namespace: string; name: string }>,
  ): ReflectorSpec => ({
    name,
    path,
    list: lister(name, path),
    watch: watcher(name, path),
    upsert: timed(name, upsert),
    remove,
    cached,
  });
  // Nodes: name, taints and Ready only (model/trim.ts nodeFacts), read when a terminating pod's record is released.
  view.trackNodes();
  const specs: ReflectorSpec[] = [
    {
      ...spec(
        'pods',
        apiPaths.pods(),
        (o) => view.upsertPod(podFacts(o)),
        (ns, n) => view.removePod(ns, n),
        () => view.allPods(),
      ),
      onGap: podHooks.onGap,
    },
    spec(
      'statefulsets',
      apiPaths.statefulSets(),
      (o) => view.upsertStatefulSet(statefulSetFacts(o)),
      (ns, n) => view.removeStatefulSet(ns, n),
      () => view.allStatefulSets(),
    ),
    spec(
      POOL_RESOURCE,
      apiPaths.pools(),
      (o) => view.upsertPool(poolFacts(o)),
      (_ns, n) => view.removePool(n),
      () => clusterScoped(view.allPools()),
    ),
    spec(
      ENDPOINT_RESOURCE,
      apiPaths.endpoints(),
      (o) => view.upsertEndpoint(endpointFacts(o)),
      (ns, n) => view.removeEndpoint(ns, n),
      () => view.allEndpoints(),
    ),
    spec(
      'nodes',
      apiPaths.nodes(),
      (o) => view.upsertNode(nodeFacts(o)),
      (_ns, n) => view.removeNode(n),
      () => clusterScoped(view.allNodes()),
    ),
  ];
  if (opts.reservedIPs) {
    specs.push(
      spec(
        RESERVED_IP_RESOURCE,
        apiPaths.reservedIPs(),
        (o) => view.upsertReservedIP(reservedIpFacts(o)),
        (_ns, n) => view.removeReservedIP(n),
        () => clusterScoped(view.reservedIPs()),
      ),
    );
  }
  if (opts.kubevirt) {
    specs.push(
      spec(
        VMI_RESOURCE,
        apiPaths.vmis(),
        (o) => view.upsertVmi(vmiFacts(o)),
        (ns, n) => view.removeVmi(ns, n),
        () => view.allVmis(),
      ),
      spec(
        VM_RESOURCE,
        apiPaths.vms(),
        (o) => view.upsertVm(vmFacts(o)),
        (ns, n) => view.removeVm(ns, n),
        () => view.allVms(),
      ),
    );
  }
  const reflectors = specs.map(
    (s) =>
      new Reflector(kc, s, log, s.name === 'pods' ? podHooks.onChange : opts.onChange, {
        sync: opts.sync ?? 'watch-list',
        staleAfterMs: opts.staleAfterMs,
      }),
  );
  // Its own connection: a probe must not queue behind LIST pages on the shared keep-alive sockets.
  const probeHttp = new KubeHttpClient(kc, 2000);
  const probe = new ApiServerProbe(probeHttp, (state) => reflectors.forEach((r) => r.apiServer(state)), log);
  for (const r of reflectors) r.start();
  probe.start();
  const status = () => Object.fromEntries(reflectors.map((r, i) => [specs[i].name, r.status()]));
  if (opts.registry) registerCacheGauges(opts.registry, status);
  return {
    view,
    synced: () => reflectors.every((r) => r.synced),
    stale: () => reflectors.flatMap((r, i) => (r.state() === 'stale' ? [specs[i].name] : [])),
    status,
    stop: () => {
      probe.stop();
      reflectors.forEach((r) => r.stop());
      http.close();
      watchHttp.close();
      probeHttp.close();
    },
  };
}
