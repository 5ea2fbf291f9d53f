/**
 * Spiderpool's scanAll decision for one pool record, as pure functions of the GC's cached view (docs/architecture.md#gc-races:
 * `fixed` = HEAD, `v0.9.4` = before the fix). The caller performs the writes: release first (UID-conditional,
 * errors only logged), then drop the endpoint by name, independently.
 */
import type * as k8s from '@kubernetes/client-node';
import type { SpiderEndpoint } from './objects';
import { endpointIps, isStaticEndpoint } from './spider-api';

export type GcVersion = 'v0.9.4' | 'fixed';

export interface ScanInput {
  ip: string;
  /** the record's podUid (R) */
  recordUid: string;
  /** pod of the record's name from the GC's pod cache */
  pod?: k8s.V1Pod;
  /** endpoint of the record's name from the GC's endpoint cache */
  endpoint?: SpiderEndpoint;
  /** IsValidStatefulSetPod for the record's name (live read by the caller) */
  validSts: boolean;
  now: number;
  additionalGraceMs?: number;
}

export interface ScanDecision {
  release: boolean;
  dropEndpoint: boolean;
  /** push a trace entry for the pod (leader) */
  trace: boolean;
  why: string;
}

const keep = (why: string, trace = false): ScanDecision => ({ release: false, dropEndpoint: false, trace, why });

export function isStaticPod(pod: k8s.V1Pod): boolean {
  return !!pod.metadata?.ownerReferences?.some(
    (r) => r.controller && r.apiVersion === 'apps/v1' && r.kind === 'StatefulSet',
  );
}

function hasPodIps(pod: k8s.V1Pod): boolean {
  return (pod.status?.podIPs ?? []).length > 0 || !!pod.status?.podIP;
}

/** deletionTimestamp + deletionGracePeriodSeconds (+ delay): ≈ delete request + 2 × grace. */
export function terminatingDeadline(pod: k8s.V1Pod, additionalGraceMs = 0): number {
  const ts = pod.metadata?.deletionTimestamp ? new Date(pod.metadata.deletionTimestamp).getTime() : Date.now();
  return ts + (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000 + additionalGraceMs;
}

function terminal(pod: k8s.V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Step 1 (pod missing), the same in both versions. */
function podMissing(i: ScanInput): ScanDecision {
  if (!i.endpoint) return { release: true, dropEndpoint: false, trace: false, why: 'pod and endpoint missing' };
  if (isStaticEndpoint(i.endpoint) && i.validSts) return keep('pod missing, valid static endpoint');
  return { release: true, dropEndpoint: true, trace: false, why: 'pod missing' };
}

export function scanV094(i: ScanInput): ScanDecision {
  const pod = i.pod;
  if (!pod) return podMissing(i);
  const isStatic = isStaticPod(pod);
  const deleting = !!pod.metadata?.deletionTimestamp;
  if ((deleting || terminal(pod)) && !(isStatic && i.validSts)) {
    const deadline = deleting ? terminatingDeadline(pod, i.additionalGraceMs) : i.now;
    if (i.now >= deadline)
      return { release: true, dropEndpoint: true, trace: false, why: 'terminating pod past its deadline' };
    return keep('terminating pod, traced', true);
  }
  if (pod.metadata?.uid !== i.recordUid) {
    if (isStatic) return keep('static pod restarted (uid mismatch kept, W3)');
    return {
      release: true,
      dropEndpoint: true,
      trace: false,
      why: 'stateless uid mismatch (endpoint dropped by name, W4)',
    };
  }
  const ep = i.endpoint;
  if (ep && ep.status.current.uid === pod.metadata?.uid && !endpointIps(ep).some((x) => x.ip === i.ip)) {
    return { release: true, dropEndpoint: false, trace: false, why: 'record not listed by the pod endpoint' };
  }
  return keep('in use');
}

/** Step 2: does the pod's status say "reclaim" (S), and should it be traced (T)? */
function statusSaysReclaim(i: ScanInput, pod: k8s.V1Pod, isStatic: boolean): { S: boolean; T: boolean } {
  const phase = pod.status?.phase ?? '';
  const deleting = !!pod.metadata?.deletionTimestamp;
  const deletionRule = (): { S: boolean; T: boolean } => {
    if (i.now >= terminatingDeadline(pod, i.additionalGraceMs)) return { S: !isStatic, T: false }; // node gate: static ⇒ false
    return hasPodIps(pod) ? { S: false, T: true } : { S: true, T: false };
  };
  if (phase === 'Succeeded' || phase === 'Failed') {
    if (isStatic) return i.validSts ? { S: false, T: true } : { S: true, T: false };
    return deleting ? deletionRule() : { S: false, T: false };
  }
  if (phase === 'Pending') return { S: false, T: false };
  if (deleting) return deletionRule();
  if (hasPodIps(pod)) return { S: false, T: false };
  if (isStatic) return { S: !i.validSts, T: false };
  return { S: phase === 'Unknown', T: false };
}

export function scanHead(i: ScanInput): ScanDecision {
  const pod = i.pod;
  if (!pod) return podMissing(i);
  const isStatic = isStaticPod(pod);
  const { S, T } = statusSaysReclaim(i, pod, isStatic);
  const podUid = pod.metadata?.uid ?? '';
  const ips = hasPodIps(pod);
  let release: boolean;
  let why: string;
  if (podUid !== i.recordUid) {
    if (isStatic) release = ips || !i.validSts;
    else release = true;
    why = 'record uid is not the pod uid';
  } else {
    release = S;
    why = S ? 'pod status says reclaim' : 'in use';
  }
  let dropEndpoint = false;
  const ep = i.endpoint;
  if (ep) {
    if (podUid !== ep.status.current.uid) {
      if (isStatic) dropEndpoint = ips || !i.validSts;
      else {
        dropEndpoint = true;
        release = true;
      }
      if (dropEndpoint) why += '; endpoint uid is not the pod uid';
    } else dropEndpoint = S;
  }
  return { release, dropEndpoint, trace: T, why };
}

export function scanDecision(version: GcVersion, i: ScanInput): ScanDecision {
  return version === 'v0.9.4' ? scanV094(i) : scanHead(i);
}
