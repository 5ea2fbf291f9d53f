/**
 * Ground truth the simulator knows and the API server does not: which pod incarnation physically held which IP
 * when (from the simulated CNI's point of view), when each incarnation lived, and what each StatefulSet's replica
 * count was. Denials are replayed against it afterwards (denials.ts).
 */
import type * as k8s from '@kubernetes/client-node';
import { parseOrdinalName } from '../../webhook/model/lifecycle';

export interface Hold {
  ip: string;
  /** namespace/name */
  pod: string;
  uid: string;
  from: number;
  to?: number;
}

export interface Incarnation {
  pod: string;
  uid: string;
  createdAt: number;
  /** first time the pod was seen with a deletionTimestamp */
  deletingAt?: number;
  /** first time the pod object was seen gone */
  goneAt?: number;
}

export class GroundTruth {
  readonly holds: Hold[] = [];
  readonly incarnations = new Map<string, Incarnation>();
  /** namespace/sts → [(time, replicas)], replicas -1 = deleted */
  private readonly replicas = new Map<string, { t: number; replicas: number }[]>();

  /** The simulated CNI hands `ip` to the incarnation (recorded before the write that makes it so). */
  hold(ip: string, pod: string, uid: string, t = Date.now()): Hold {
    const existing = this.holds.find((h) => h.ip === ip && h.uid === uid && h.to === undefined);
    if (existing) return existing;
    const h: Hold = { ip, pod, uid, from: t };
    this.holds.push(h);
    return h;
  }

  /** The allocation write failed: the incarnation never held it. */
  dropHold(h: Hold): void {
    const i = this.holds.indexOf(h);
    if (i >= 0 && h.to === undefined) this.holds.splice(i, 1);
  }

  /** The incarnation's network namespace is torn down (cmdDel): it holds nothing any more. */
  endHolds(uid: string, t = Date.now()): void {
    for (const h of this.holds) if (h.uid === uid && h.to === undefined) h.to = t;
  }

  /** Incarnations physically holding `ip` at time t. */
  heldAt(ip: string, t: number): Hold[] {
    return this.holds.filter((h) => h.ip === ip && h.from <= t && (h.to === undefined || t < h.to));
  }

  /** Called with every pod listing: records lifetimes; `seen` = uids in the listing. */
  observePods(pods: k8s.V1Pod[], t = Date.now()): void {
    const seen = new Set<string>();
    for (const p of pods) {
      const uid = p.metadata?.uid ?? '';
      seen.add(uid);
      let inc = this.incarnations.get(uid);
      if (!inc) {
        const created = p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : t;
        inc = { pod: `${p.metadata?.namespace}/${p.metadata?.name}`, uid, createdAt: Math.min(created, t) };
        this.incarnations.set(uid, inc);
      }
      if (p.metadata?.deletionTimestamp && inc.deletingAt === undefined) inc.deletingAt = t;
    }
    for (const inc of this.incarnations.values()) {
      if (inc.goneAt === undefined && !seen.has(inc.uid)) {
        inc.goneAt = t;
        inc.deletingAt ??= t;
      }
    }
  }

  /** The incarnation existed and was not being deleted at time t. */
  aliveAt(uid: string, t: number): boolean {
    const inc = this.incarnations.get(uid);
    return !!inc && inc.createdAt <= t && (inc.deletingAt === undefined || t < inc.deletingAt);
  }

  /** The incarnation's pod object existed at time t (any phase, deleting included). */
  existsAt(uid: string, t: number): boolean {
    const inc = this.incarnations.get(uid);
    return !!inc && inc.createdAt <= t && (inc.goneAt === undefined || t < inc.goneAt);
  }

  setReplicas(namespace: string, sts: string, replicas: number, t = Date.now()): void {
    const key = `${namespace}/${sts}`;
    const list = this.replicas.get(key) ?? [];
    list.push({ t, replicas });
    this.replicas.set(key, list);
  }

  /** Spiderpool's IsValidStatefulSetPod for `namespace/name` at time t, from the replica history. */
  validStsMemberAt(pod: string, t: number): boolean {
    const [namespace, name] = pod.split('/');
    const parsed = parseOrdinalName(name ?? '');
    if (!parsed) return false;
    const list = this.replicas.get(`${namespace}/${parsed.set}`);
    if (!list) return false;
    let replicas = -1;
    for (const e of list) if (e.t <= t) replicas = e.replicas;
    return parsed.ordinal < replicas;
  }
}
