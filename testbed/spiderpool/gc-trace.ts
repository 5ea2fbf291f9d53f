/**
 * The GC's trace database (docs/architecture.md#gc-races): entries keyed by namespace/name, built by the leader from pod events,
 * with a deadline; a newer event for the same name overwrites the entry. `v0.9.4` entries carry no uid (W1);
 * `fixed` entries carry the pod uid so the executor can skip an endpoint that now belongs to another incarnation.
 */
import type * as k8s from '@kubernetes/client-node';
import { isStaticPod, terminatingDeadline, type GcVersion } from './gc-scan';

export interface TraceEntry {
  namespace: string;
  name: string;
  uid?: string;
  deadline: number;
  reason: 'Terminating' | 'Deleted' | 'Terminal';
  requeues: number;
}

export type PodEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export class TraceDb {
  private readonly entries = new Map<string, TraceEntry>();

  upsert(e: TraceEntry): void {
    this.entries.set(`${e.namespace}/${e.name}`, e);
  }
  remove(e: TraceEntry): void {
    const k = `${e.namespace}/${e.name}`;
    if (this.entries.get(k) === e) this.entries.delete(k);
  }
  expired(now: number): TraceEntry[] {
    return [...this.entries.values()].filter((e) => e.deadline <= now);
  }
  has(namespace: string, name: string): boolean {
    return this.entries.has(`${namespace}/${name}`);
  }
  clear(): void {
    this.entries.clear();
  }
  get size(): number {
    return this.entries.size;
  }
}

/**
 * buildPodEntry: undefined when there is nothing to trace. `validSts` is the live IsValidStatefulSetPod answer
 * (valid StatefulSet pods are never traced). `old` is the previous cached version of the pod (MODIFIED).
 */
export function buildPodEntry(
  version: GcVersion,
  event: PodEvent,
  pod: k8s.V1Pod,
  old: k8s.V1Pod | undefined,
  validSts: boolean,
  now: number,
  additionalGraceMs = 0,
): TraceEntry | undefined {
  if (pod.spec?.hostNetwork) return undefined;
  if (isStaticPod(pod) && validSts) return undefined;
  const base = {
    namespace: pod.metadata!.namespace!,
    name: pod.metadata!.name!,
    ...(version === 'fixed' ? { uid: pod.metadata!.uid! } : {}),
    requeues: 0,
  };
  if (event === 'DELETED') return { ...base, deadline: now + additionalGraceMs, reason: 'Deleted' };
  const deleting = !!pod.metadata?.deletionTimestamp;
  const graceChanged = old?.metadata?.deletionGracePeriodSeconds !== pod.metadata?.deletionGracePeriodSeconds;
  if (deleting && (!old?.metadata?.deletionTimestamp || graceChanged)) {
    return { ...base, deadline: terminatingDeadline(pod, additionalGraceMs), reason: 'Terminating' };
  }
  const phase = pod.status?.phase;
  const wasTerminal = old?.status?.phase === 'Succeeded' || old?.status?.phase === 'Failed';
  if ((phase === 'Succeeded' || phase === 'Failed') && !wasTerminal) {
    const grace = (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    return { ...base, deadline: now + grace + additionalGraceMs, reason: 'Terminal' };
  }
  return undefined;
}
