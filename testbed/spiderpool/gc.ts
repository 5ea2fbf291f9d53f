/**
 * A Spiderpool GC (spiderpool-controller, one replica that is also the leader) acting through the API server as
 * system:serviceaccount:kube-system:spiderpool-controller: scanAll on a timer over its caches (gc-scan.ts) and
 * the trace worker (gc-trace.ts) whose executor releases the IPs an endpoint lists, with the endpoint's uid,
 * then deletes static endpoints by name and removes the finalizer (G1, G2, G4). `v0.9.4` is the pre-#3778
 * behaviour, `fixed` the post-#3778 (HEAD) one. Timings are shortened for the benchmark.
 */
import type * as k8s from '@kubernetes/client-node';
import { type Clients } from '../clients';
import { parseRecords, type SpiderEndpoint } from './objects';
import { GcCache, DEFAULT_CACHE_PERIODS, type CachePeriods } from './gc-cache';
import { scanDecision, type GcVersion } from './gc-scan';
import { buildPodEntry, TraceDb, type PodEvent, type TraceEntry } from './gc-trace';
import {
  asWriteError,
  deleteEndpointByName,
  endpointIps,
  isStaticEndpoint,
  isValidStsMemberLive,
  releaseIps,
  removeEndpointFinalizer,
} from './spider-api';
import { Loop, say } from './util';

export interface GcOptions {
  version: GcVersion;
  namespace: string;
  pool: string;
  /** acting as the spiderpool-controller service account */
  controller: Clients;
  scanIntervalMs?: number;
  traceGapMs?: number;
  maxRequeues?: number;
  additionalGraceMs?: number;
  cachePeriods?: CachePeriods;
}

export interface GcStats {
  scans: number;
  released: number;
  endpointsDropped: number;
  traced: number;
  executed: number;
  skippedUidMismatch: number;
  denied: number;
  failed: number;
  restarts: number;
}

export class SpiderpoolGc {
  readonly stats: GcStats = {
    scans: 0,
    released: 0,
    endpointsDropped: 0,
    traced: 0,
    executed: 0,
    skippedUidMismatch: 0,
    denied: 0,
    failed: 0,
    restarts: 0,
  };
  private readonly trace = new TraceDb();
  private cache?: GcCache;
  private loops: Loop[] = [];
  private pendingEvents: Promise<void>[] = [];

  constructor(private readonly o: GcOptions) {}

  async start(): Promise<void> {
    this.cache = new GcCache(
      this.o.controller,
      this.o.namespace,
      this.o.pool,
      this.o.cachePeriods ?? DEFAULT_CACHE_PERIODS,
      (t, p, old) => this.onPodEvent(t, p, old),
    );
    await this.cache.start();
    await this.scanAll(); // every replica scans at start-up
    this.loops = [
      new Loop('gc-scan', this.o.scanIntervalMs ?? 5000, () => this.scanAll()).start(),
      new Loop('gc-trace', this.o.traceGapMs ?? 1000, () => this.traceTick()).start(),
    ];
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.stop()));
    this.loops = [];
    await this.cache?.stop();
    await Promise.allSettled(this.pendingEvents);
  }

  /** The chaos step "delete a spiderpool-controller pod": in-memory trace DB lost, caches re-listed, scanAll. */
  async restart(): Promise<void> {
    say('gc', `controller restarted (trace DB with ${this.trace.size} entries lost)`);
    this.stats.restarts++;
    await this.stop();
    this.trace.clear();
    await this.start();
  }

  /** No trace entry pending or being retried: the trace worker will release nothing until a new pod event. */
  idle(): boolean {
    return this.trace.size === 0;
  }

  /** Whether the trace DB still holds an entry (pending or being retried) for one of these pod names. */
  tracing(namespace: string, names: Iterable<string>): boolean {
    for (const name of names) if (this.trace.has(namespace, name)) return true;
    return false;
  }

  private reportWrite(what: string, err: unknown): void {
    const e = asWriteError(err);
    if (e.denied) this.stats.denied++;
    else this.stats.failed++;
    say('gc', `${what}: ${e.denied ? 'DENIED' : 'failed'} ${e.code ?? ''} ${e.message.slice(0, 300)}`);
  }

  private validSts(namespace: string, name: string): Promise<boolean> {
    return isValidStsMemberLive(this.o.controller.apps, namespace, name);
  }

  // ---- trace: entries from pod events, executed when due ----------------------------------------------------------

  private onPodEvent(type: PodEvent, pod: k8s.V1Pod, old?: k8s.V1Pod): void {
    if (
      type === 'ADDED' &&
      !pod.metadata?.deletionTimestamp &&
      pod.status?.phase !== 'Succeeded' &&
      pod.status?.phase !== 'Failed'
    )
      return;
    const p = (async () => {
      const valid = await this.validSts(pod.metadata!.namespace!, pod.metadata!.name!);
      const entry = buildPodEntry(this.o.version, type, pod, old, valid, Date.now(), this.o.additionalGraceMs);
      if (entry) {
        this.trace.upsert(entry);
        this.stats.traced++;
      }
    })().catch((err: unknown) => say('gc', `trace ${pod.metadata?.name}: ${(err as Error).message}`));
    this.pendingEvents.push(p);
    if (this.pendingEvents.length > 200) this.pendingEvents = this.pendingEvents.slice(-100);
  }

  private async traceTick(): Promise<void> {
    for (const entry of this.trace.expired(Date.now())) {
      const ok = await this.execute(entry);
      if (ok || entry.requeues >= (this.o.maxRequeues ?? 5)) this.trace.remove(entry);
      else {
        entry.requeues++;
        entry.deadline = Date.now() + (this.o.traceGapMs ?? 1000);
      }
    }
  }

  /** releaseIPPoolIPExecutor: true when done (or nothing to do), false to requeue. */
  private async execute(entry: TraceEntry): Promise<boolean> {
    const ep = this.cache?.endpoints.get(entry.name);
    if (!ep) return true;
    if (entry.uid !== undefined && ep.status.current.uid !== entry.uid) {
      this.stats.skippedUidMismatch++;
      return true;
    }
    this.stats.executed++;
    const uid = ep.status.current.uid;
    const byPool = new Map<string, { ip: string; uid: string }[]>();
    for (const { ip, pool } of endpointIps(ep)) byPool.set(pool, [...(byPool.get(pool) ?? []), { ip, uid }]);
    for (const [pool, items] of byPool) {
      try {
        const released = await releaseIps(this.o.controller.custom, pool, items);
        this.stats.released += released.length;
        if (released.length)
          say(
            'gc',
            `trace ${entry.reason} ${entry.namespace}/${entry.name}: released ${released.join(',')} (uid ${uid})`,
          );
      } catch (err) {
        this.reportWrite(`trace release ${entry.namespace}/${entry.name}`, err);
        return false;
      }
    }
    try {
      if (isStaticEndpoint(ep) && !ep.metadata.deletionTimestamp) {
        await deleteEndpointByName(this.o.controller.custom, entry.namespace, entry.name);
        this.stats.endpointsDropped++;
      }
      await removeEndpointFinalizer(this.o.controller.custom, ep);
    } catch (err) {
      this.reportWrite(`trace endpoint ${entry.namespace}/${entry.name}`, err);
      return false;
    }
    return true;
  }

  // ---- scanAll ------------------------------------------------------------------------------------------------------

  private async scanAll(): Promise<void> {
    const cache = this.cache;
    if (!cache?.pool) return;
    this.stats.scans++;
    const records = parseRecords(cache.pool);
    for (const [ip, record] of Object.entries(records)) {
      const [namespace, name] = record.pod.split('/');
      if (namespace !== this.o.namespace) continue;
      const pod = cache.pods.get(name);
      const endpoint = cache.endpoints.get(name);
      const decision = scanDecision(this.o.version, {
        ip,
        recordUid: record.podUid,
        pod,
        endpoint,
        validSts: await this.validSts(namespace, name),
        now: Date.now(),
        additionalGraceMs: this.o.additionalGraceMs,
      });
      if (decision.trace && pod) {
        const entry = buildPodEntry(
          this.o.version,
          'MODIFIED',
          pod,
          undefined,
          await this.validSts(namespace, name),
          Date.now(),
          this.o.additionalGraceMs,
        );
        if (entry) this.trace.upsert(entry);
      }
      if (decision.release) {
        try {
          const released = await releaseIps(this.o.controller.custom, this.o.pool, [{ ip, uid: record.podUid }]);
          this.stats.released += released.length;
          if (released.length) say('gc', `scanAll released ${ip} of ${record.pod} (${decision.why})`);
        } catch (err) {
          this.reportWrite(`scanAll release ${ip} of ${record.pod}`, err);
        }
      }
      if (decision.dropEndpoint && endpoint) await this.dropEndpoint(endpoint, decision.why);
    }
  }

  /** ReleaseEndpointAndFinalizer: DELETE by name (unless already deleting), then the finalizer patch. */
  private async dropEndpoint(ep: SpiderEndpoint, why: string): Promise<void> {
    const ns = ep.metadata.namespace!;
    const name = ep.metadata.name!;
    try {
      if (!ep.metadata.deletionTimestamp) await deleteEndpointByName(this.o.controller.custom, ns, name);
      await removeEndpointFinalizer(this.o.controller.custom, ep);
      this.stats.endpointsDropped++;
      say('gc', `scanAll dropped endpoint ${ns}/${name} uid ${ep.status.current.uid} (${why})`);
    } catch (err) {
      this.reportWrite(`scanAll drop endpoint ${ns}/${name}`, err);
    }
  }
}
