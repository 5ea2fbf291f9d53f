// "Termination confirmed" (docs/rules.md, Terms): whether anything confirmed that a pod being deleted has stopped,
// so that its IPs may go to another pod. Spiderpool's GC releases a terminating pod's IP once its grace period has
// passed, whatever happened on the node; on a partitioned node, or with a kill that hangs, the old sandbox still
// answers on that IP. This is the one definition; UNCONFIRMED_TERMINATION_RELEASE, the findings, the reconciler's
// "never acted on" and the capacity's held_terminating all call it.
import { NodeFacts, PodFacts } from './types';
import type { ClusterView } from './view';

/** The taint of Kubernetes' non-graceful node shutdown: the operator says the node's workloads are gone. */
export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';

/** How termination was confirmed, one value per way. */
export type ConfirmedBy =
  /** phase Succeeded or Failed: the kubelet reported the pod finished */
  | 'terminal-phase'
  /** every entry of status.containerStatuses has state.terminated */
  | 'containers-terminated'
  /** no spec.nodeName: the pod never ran anywhere */
  | 'never-scheduled'
  /** no container statuses and no observed IPs: no sandbox ever reported an IP */
  | 'no-containers-no-ips'
  /** the pod's Node object does not exist */
  | 'node-gone'
  /** the pod's Node carries the node.kubernetes.io/out-of-service taint */
  | 'out-of-service'
  /** more than the configured hold max has passed since the deletionTimestamp */
  | 'hold-expired';

export type TerminationState =
  | { state: 'not-deleting' }
  | { state: 'confirmed'; by: ConfirmedBy; nodeName: string }
  | {
      state: 'unconfirmed';
      /** the node that has not confirmed (spec.nodeName) */
      nodeName: string;
      /** metadata.deletionTimestamp, epoch milliseconds (NaN when unreadable) */
      deletedAt: number;
      /** the Node's Ready condition status ('True', 'False', 'Unknown', '' when none); undefined when Nodes are not known */
      nodeReady: string | undefined;
      /** what is missing: container statuses still not terminated, or none reported while the pod observes IPs */
      waitingFor: 'containers' | 'container-statuses';
    };

/**
 * What is known of a pod's Node: its facts; null when it is known not to exist; undefined when Nodes are not known at
 * all (a snapshot without Nodes): then the node is assumed to exist, without taints.
 */
export type NodeEvidence = NodeFacts | null | undefined;

/** The Node of that name as evidence: facts, null (known absent) or undefined (the view does not know Nodes). */
export function nodeEvidence(view: ClusterView, nodeName: string): NodeEvidence {
  if (!view.tracksNodes()) return undefined;
  return view.node(nodeName) ?? null;
}

export function hasOutOfServiceTaint(node: NodeFacts): boolean {
  return node.taints.some((t) => t.key === OUT_OF_SERVICE_TAINT);
}

/**
 * The termination state of a pod given its Node, the time and the optional hold max (milliseconds; undefined = no
 * limit). Pure: every way of confirming is one branch, checked from the pod's own word to the operator's.
 */
export function terminationState(pod: PodFacts, node: NodeEvidence, now: number, holdMaxMs?: number): TerminationState {
  const t = pod.termination;
  if (!pod.deleting || !t) return { state: 'not-deleting' };
  const confirmed = (by: ConfirmedBy): TerminationState => ({ state: 'confirmed', by, nodeName: t.nodeName });
  if (pod.phase === 'Succeeded' || pod.phase === 'Failed') return confirmed('terminal-phase');
  if (t.nodeName === '') return confirmed('never-scheduled');
  if (t.containers === 'terminated') return confirmed('containers-terminated');
  if (t.containers === 'none' && pod.observedIPs.length === 0) return confirmed('no-containers-no-ips');
  if (node === null) return confirmed('node-gone');
  if (node && hasOutOfServiceTaint(node)) return confirmed('out-of-service');
  if (holdMaxMs !== undefined && now - t.deletedAt > holdMaxMs) return confirmed('hold-expired');
  return {
    state: 'unconfirmed',
    nodeName: t.nodeName,
    deletedAt: t.deletedAt,
    nodeReady: node ? node.ready : undefined,
    waitingFor: t.containers === 'none' ? 'container-statuses' : 'containers',
  };
}

/** terminationState with the pod's Node looked up in the view. Reads no Node for a pod that is not being deleted. */
export function podTerminationState(
  view: ClusterView,
  pod: PodFacts,
  now: number,
  holdMaxMs?: number,
): TerminationState {
  if (!pod.deleting || !pod.termination) return { state: 'not-deleting' };
  return terminationState(pod, nodeEvidence(view, pod.termination.nodeName), now, holdMaxMs);
}
