/**
 * What the benchmark measures on the cluster: IP conflicts between alive pods (model definitions: observed IPs,
 * alive), Spiderpool's CheckIppoolSanity (its e2e suite's pool check), pods stuck without an IP, leftovers after deletion, and
 * the IP_CONFLICT findings of `check` (webhook/reconciler/findings.ts) over a live listing.
 */
import type * as k8s from '@kubernetes/client-node';
import { type Clients } from '../../testbed/clients';
import {
  getPool,
  parseRecords,
  type PoolRecord,
  type SpiderEndpoint,
  type SpiderIPPool,
} from '../../testbed/spiderpool/objects';
import { listClusterView } from '../../webhook/cluster/list-view';
import { isAlive } from '../../webhook/model/lifecycle';
import { podFacts, type KubeObject } from '../../webhook/model/object-facts';
import { DEFAULT_STATIC_IP_CONFIG } from '../../webhook/model/types';
import { findings } from '../../webhook/reconciler/findings';
import { NETWORK_STATUS } from '../../testbed/spiderpool/node-agent';
import { usableIps } from '../../testbed/spiderpool/pool-ips';
import { endpointIps, listEndpoints } from '../../testbed/spiderpool/spider-api';
import { Loop } from '../../testbed/spiderpool/util';

export interface Conflict {
  ip: string;
  /** namespace/name@uid of every alive pod observing it */
  pods: string[];
}

function facts(p: k8s.V1Pod) {
  return podFacts(p as unknown as KubeObject);
}

/** ValidatePodIPConflict, restricted to alive pods: IPs observed by two or more of them. */
export function conflictsAmong(pods: k8s.V1Pod[]): Conflict[] {
  const byIp = new Map<string, string[]>();
  for (const p of pods) {
    const f = facts(p);
    if (!isAlive(f)) continue;
    for (const ip of f.observedIPs) byIp.set(ip, [...(byIp.get(ip) ?? []), `${f.namespace}/${f.name}@${f.uid}`]);
  }
  return [...byIp].filter(([, list]) => list.length > 1).map(([ip, list]) => ({ ip, pods: list.sort() }));
}

/** Alive pods that have no IP (no podIPs): pods the IPAM could not serve. */
export function podsWithoutIp(pods: k8s.V1Pod[]): string[] {
  return pods
    .map(facts)
    .filter((f) => isAlive(f) && f.observedIPs.length === 0)
    .map((f) => `${f.namespace}/${f.name}`);
}

/**
 * Whether pods without an IP are bound to stay so: nothing terminates (no cmdDel to come), every usable IP of the
 * pool is recorded, and every record's incarnation is alive on that IP (nothing for a GC or reconciler to release). Only an
 * IP-freeing event could change that, and `quiet` (the caller's: no GC trace entry pending) rules out the last one
 * the simulator knows of. `keptAnyway`: a record nobody would release although its pod does not hold the IP (the
 * caller knows who could: v0.9.4's scanAll keeps a restarted static pod's old record, W3, when no guard runs).
 * Saves the checkpoint's ready timeout when a leaked IP leaves a pod without one for good.
 */
export function boundToStayWithoutIp(
  pool: SpiderIPPool,
  pods: k8s.V1Pod[],
  keptAnyway: (ip: string, record: PoolRecord, pod: k8s.V1Pod | undefined) => boolean = () => false,
): boolean {
  if (pods.some((p) => p.metadata?.deletionTimestamp)) return false;
  const without = podsWithoutIp(pods);
  if (without.length === 0) return false;
  const records = parseRecords(pool);
  if (!usableIps(pool.spec).every((ip) => records[ip])) return false;
  const held = aliveIps(pods);
  const byName = new Map(pods.map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}`, p]));
  return Object.entries(records).every(
    ([ip, r]) => held.has(`${r.pod}@${r.podUid} ${ip}`) || keptAnyway(ip, r, byName.get(r.pod)),
  );
}

export function runningWithIp(pods: k8s.V1Pod[]): number {
  return pods.map(facts).filter((f) => isAlive(f) && f.observedIPs.length > 0 && f.phase === 'Running').length;
}

export interface Latent {
  /** namespace/name@uid */
  pod: string;
  ip: string;
  /** the record the pool has for the IP (namespace/name@uid), if any */
  recorded?: string;
}

export const latentKey = (l: Latent) => `${l.pod} ${l.ip}`;

/**
 * Latent conflicts: alive pods using an IP that their pool does not record for them (record missing, or under
 * another uid/pod). The next first-fit allocation hands such an IP out again (W1's damage before it shows).
 */
export function latentConflicts(pool: SpiderIPPool, pods: k8s.V1Pod[]): Latent[] {
  const records = parseRecords(pool);
  const poolIps = new Set(usableIps(pool.spec));
  const out: Latent[] = [];
  for (const p of pods) {
    const f = facts(p);
    if (!isAlive(f)) continue;
    for (const ip of f.observedIPs) {
      if (!poolIps.has(ip)) continue;
      const r = records[ip];
      if (!r || r.podUid !== f.uid)
        out.push({ pod: `${f.namespace}/${f.name}@${f.uid}`, ip, recorded: r ? `${r.pod}@${r.podUid}` : undefined });
    }
  }
  return out;
}

export function unrecordedIps(pool: SpiderIPPool, pods: k8s.V1Pod[]): string[] {
  return latentConflicts(pool, pods).map(
    (l) => `${l.pod} uses ${l.ip}, recorded ${l.recorded ? `for ${l.recorded}` : 'for nobody'}`,
  );
}

/** `namespace/name@uid ip` of every alive pod's observed IP */
export function aliveIps(pods: k8s.V1Pod[]): Set<string> {
  const out = new Set<string>();
  for (const p of pods) {
    const f = facts(p);
    if (isAlive(f)) for (const ip of f.observedIPs) out.add(`${f.namespace}/${f.name}@${f.uid} ${ip}`);
  }
  return out;
}

function networkStatusIps(p: k8s.V1Pod): string[] | undefined {
  const raw = p.metadata?.annotations?.[NETWORK_STATUS];
  if (raw === undefined) return undefined;
  try {
    return (JSON.parse(raw) as { ips?: string[] }[]).flatMap((n) => (n.ips ?? []).map((ip) => ip.split('/')[0]));
  } catch {
    return undefined;
  }
}

/** CheckIppoolSanity (Spiderpool's e2e pool check): one line per violated expectation. */
export function poolSanity(pool: SpiderIPPool, pods: k8s.V1Pod[], endpoints: SpiderEndpoint[]): string[] {
  const out: string[] = [];
  const poolName = pool.metadata.name ?? '';
  const records = parseRecords(pool);
  const podByKey = new Map(pods.map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}`, p]));
  const epByKey = new Map(endpoints.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  for (const [ip, rec] of Object.entries(records)) {
    const pod = podByKey.get(rec.pod);
    if (!pod) {
      out.push(`${ip}: recorded pod ${rec.pod} does not exist`);
      continue;
    }
    const nsIps = networkStatusIps(pod);
    if (!nsIps) out.push(`${ip}: pod ${rec.pod} has no network-status annotation`);
    else if (nsIps.filter((x) => x === ip).length !== 1)
      out.push(`${ip}: pod ${rec.pod} network-status lists it ${nsIps.filter((x) => x === ip).length} times`);
    if (pod.metadata?.uid !== rec.podUid)
      out.push(`${ip}: record uid ${rec.podUid} is not pod ${rec.pod} uid ${pod.metadata?.uid}`);
    const ep = epByKey.get(rec.pod);
    if (!ep) {
      out.push(`${ip}: endpoint ${rec.pod} missing`);
      continue;
    }
    for (const e of endpointIps(ep).filter((x) => x.pool === poolName)) {
      if (ep.status.current.uid !== rec.podUid || e.ip !== ip)
        out.push(`${ip}: endpoint ${rec.pod} lists ${e.ip} uid ${ep.status.current.uid}, record uid ${rec.podUid}`);
    }
  }
  const count = pool.status?.allocatedIPCount ?? 0;
  const total = pool.status?.totalIPCount;
  if (total !== undefined && count > total) out.push(`allocatedIPCount ${count} > totalIPCount ${total}`);
  if (count !== Object.keys(records).length)
    out.push(`allocatedIPCount ${count} != ${Object.keys(records).length} records`);
  return out;
}

/** IP_CONFLICT findings of `check` involving this pool or this namespace's pods. */
export async function checkConflictFindings(kc: k8s.KubeConfig, pool: string, namespace: string): Promise<number> {
  const view = await listClusterView(kc, { kubevirt: false });
  return findings(view, DEFAULT_STATIC_IP_CONFIG).filter(
    (f) =>
      f.finding === 'IP_CONFLICT' &&
      (f.pool === pool || (f.pods ?? []).some((p) => p.name.startsWith(`${namespace}/`))),
  ).length;
}

export interface ClusterState {
  pods: k8s.V1Pod[];
  endpoints: SpiderEndpoint[];
  pool: SpiderIPPool;
}

export async function readState(admin: Clients, namespace: string, pool: string): Promise<ClusterState> {
  const [pods, endpoints, p] = await Promise.all([
    admin.core.listNamespacedPod({ namespace }).then((r) => r.items),
    listEndpoints(admin.custom, namespace),
    getPool(admin.custom, pool),
  ]);
  return { pods, endpoints, pool: p };
}

/**
 * Latent conflicts seen over a run, and which of them were healed: a latent conflict is confirmed when the same
 * incarnation is alive with the IP in the listings before and after the pool read that lacked its record, and
 * healed when a later pool read records the IP for that incarnation while it is still alive on it.
 *
 * `counted(windowMs)` leaves out only those healed within `windowMs` of being confirmed: the guard's reconciler
 * restores a missing record (MISSING_RECORD → RESTORE_RECORD) once the finding persists across its settle interval,
 * so with the guard a latent conflict lasts up to about interval + settle by design, and the guard denies any
 * allocation of that IP in the meantime (DOUBLE_ALLOCATION). One healed later, or never (the pod died first, or the
 * run ended), still counts: nothing real is hidden, and an unguarded run (no reconciler) heals nothing.
 */
export class LatentLog {
  readonly confirmed = new Map<string, Latent & { firstSeen: number; healedAt?: number }>();

  /** the previous pool read's candidates still alive on the same IP in this listing */
  confirm(candidates: Latent[], alive: Set<string>, now: number): void {
    for (const c of candidates) {
      const key = latentKey(c);
      if (alive.has(key) && !this.confirmed.has(key)) this.confirmed.set(key, { ...c, firstSeen: now });
    }
  }

  /** `candidates`: latent conflicts of a pool read against the listing `alive` made just before it */
  heal(candidates: Latent[], alive: Set<string>, now: number): void {
    const still = new Set(candidates.map(latentKey));
    for (const [key, l] of this.confirmed)
      if (l.healedAt === undefined && alive.has(key) && !still.has(key)) l.healedAt = now;
  }

  healedWithin(key: string, windowMs: number): boolean {
    const l = this.confirmed.get(key);
    return !!l && l.healedAt !== undefined && l.healedAt - l.firstSeen <= windowMs;
  }

  counted(windowMs: number): string[] {
    return [...this.confirmed.keys()].filter((k) => !this.healedWithin(k, windowMs));
  }
}

/**
 * Samples conflicts and latent conflicts (every 250 ms in a run) for the whole run, so that neither is missed
 * between two checkpoints (a later phase may delete the pod that ran on an unrecorded IP).
 *
 * A latent conflict is confirmed only when it cannot be a reading artefact: pods listed, then the pool read, then
 * pods listed again (the next sample); the same incarnation alive with the same IP in both listings was alive when
 * the pool, read in between, did not record that IP for it (LatentLog).
 */
export class ConflictSampler {
  readonly seen = new Map<string, Conflict & { firstSeen: number }>();
  readonly latent = new LatentLog();
  private candidates: Latent[] = [];
  private loop?: Loop;
  constructor(
    private readonly admin: Clients,
    private readonly namespace: string,
    private readonly pool: string,
    private readonly intervalMs = 1000,
  ) {}
  start(): this {
    this.loop = new Loop('sampler', this.intervalMs, async () => {
      const pods = (await this.admin.core.listNamespacedPod({ namespace: this.namespace })).items;
      this.sample(pods);
      const alive = aliveIps(pods);
      this.latent.confirm(this.candidates, alive, Date.now());
      this.candidates = latentConflicts(await getPool(this.admin.custom, this.pool), pods);
      this.latent.heal(this.candidates, alive, Date.now());
    }).start();
    return this;
  }
  sample(pods: k8s.V1Pod[]): Conflict[] {
    const now = conflictsAmong(pods);
    for (const c of now) {
      const key = `${c.ip}|${c.pods.join(',')}`;
      if (!this.seen.has(key)) this.seen.set(key, { ...c, firstSeen: Date.now() });
    }
    return now;
  }
  async stop(): Promise<void> {
    await this.loop?.stop();
  }
}
