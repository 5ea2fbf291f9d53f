// Pod lifecycle as Spiderpool judges it: alive, static, valid static member (docs/architecture.md, Spiderpool's
// definitions).
// These are the only definitions; the admission rules, `check` and the reconciler all call them.
import { KUBEVIRT_API_PREFIX, KUBEVIRT_API_VERSION } from './api-names';
import { namedPools } from './pool-annotations';
import { EndpointFacts, PodFacts, StatefulSetFacts, StaticIpConfig } from './types';
import type { ClusterView } from './cluster-view';

export type StaticKind = 'StatefulSet' | 'VirtualMachineInstance';

/** "Alive" (docs/rules.md, Terms): exists, not being deleted, and not terminal for good. */
export function isAlive(pod: PodFacts | undefined): boolean {
  if (!pod || pod.deleting) return false;
  if (pod.phase === 'Succeeded' && pod.restartPolicy !== 'Always') return false;
  if (pod.phase === 'Failed' && (pod.restartPolicy === 'Never' || pod.reason === 'Evicted')) return false;
  return true;
}

/** Phase Succeeded or Failed (whether or not kubelet would restart it). */
export function isTerminalPhase(pod: PodFacts): boolean {
  return pod.phase === 'Succeeded' || pod.phase === 'Failed';
}

/** Completed (docs/rules.md, Terms): phase Succeeded or Failed and not alive; it will not run again under this uid. */
export function isCompletedPod(pod: PodFacts): boolean {
  return isTerminalPhase(pod) && !isAlive(pod);
}

/** Which static-IP controller owns the pod, when that kind of static IP is enabled (IsStaticIPPod). */
export function staticKindOf(pod: PodFacts, cfg: StaticIpConfig): StaticKind | undefined {
  const c = pod.controller;
  if (!c) return undefined;
  if (cfg.statefulSet && c.apiVersion === 'apps/v1' && c.kind === 'StatefulSet') return 'StatefulSet';
  if (cfg.kubevirt && c.apiVersion === KUBEVIRT_API_VERSION && c.kind === 'VirtualMachineInstance')
    return 'VirtualMachineInstance';
  return undefined;
}

/**
 * The KubeVirt VMI controlling the pod (a launcher pod), by name; undefined for any other pod. Whatever the static-IP
 * switch says: during a live migration two launcher pods of one VMI share its IPs by design (docs/rules.md, Terms).
 */
export function vmiOf(pod: PodFacts): string | undefined {
  const c = pod.controller;
  return c && c.kind === 'VirtualMachineInstance' && c.apiVersion.startsWith(KUBEVIRT_API_PREFIX) ? c.name : undefined;
}

/** Two pods count as one: the same pod (namespace/name), or launcher pods of one VMI (a live migration). */
export function isOnePod(a: PodFacts, b: PodFacts): boolean {
  if (a.namespace !== b.namespace) return false;
  if (a.name === b.name) return true;
  const vmi = vmiOf(a);
  return vmi !== undefined && vmi === vmiOf(b);
}

/** The name Spiderpool records for the pod (`ns/name`; `ns/<VMI name>` for a KubeVirt launcher pod with static IPs on). */
export function recordNameOf(pod: PodFacts, cfg: StaticIpConfig): string {
  const vmi = staticKindOf(pod, cfg) === 'VirtualMachineInstance' ? pod.controller?.name : undefined;
  return `${pod.namespace}/${vmi ?? pod.name}`;
}

/** "web-2" → {set: "web", ordinal: 2}; Spiderpool's regex is (.*)-([0-9]+)$. */
export function parseOrdinalName(name: string): { set: string; ordinal: number } | undefined {
  const m = /^(.*)-([0-9]+)$/.exec(name);
  if (!m) return undefined;
  return { set: m[1], ordinal: Number(m[2]) };
}

/** The StatefulSet named by the pod name's prefix, when it exists. */
export function statefulSetOfName(view: ClusterView, namespace: string, name: string) {
  const parsed = parseOrdinalName(name);
  return parsed ? view.statefulSet(namespace, parsed.set) : undefined;
}

/** Whether an ordinal is inside a StatefulSet's window: [ordinals.start, ordinals.start + replicas - 1]. */
export function inOrdinalWindow(ordinal: number, sts: Pick<StatefulSetFacts, 'replicas' | 'ordinalsStart'>): boolean {
  return ordinal >= sts.ordinalsStart && ordinal <= sts.ordinalsStart + sts.replicas - 1;
}

/** IsValidStatefulSetPod: the set named by the prefix exists and the ordinal is inside its window. */
export function isValidStatefulSetMember(view: ClusterView, namespace: string, name: string): boolean {
  const parsed = parseOrdinalName(name);
  if (!parsed) return false;
  const sts = view.statefulSet(namespace, parsed.set);
  return !!sts && inOrdinalWindow(parsed.ordinal, sts);
}

/** IsValidVMPod, by VMI name: the VMI lives, or its VirtualMachine does. */
export function isValidKubevirtMember(view: ClusterView, namespace: string, name: string): boolean {
  const vmi = view.vmi(namespace, name);
  if (vmi && !vmi.deleting) return true;
  if (vmi && vmi.deleting && !vmi.controlledByVm) return false;
  const vm = view.vm(namespace, name);
  return !!vm && !vm.deleting;
}

/**
 * The pods "of that name" (docs/rules.md, Terms): the pod with that namespace/name; for a KubeVirt record or endpoint
 * (named after the VMI) the launcher pods controlled by that VMI.
 */
export function podsOfName(view: ClusterView, namespace: string, name: string, cfg: StaticIpConfig): PodFacts[] {
  const pod = view.pod(namespace, name);
  if (pod) return [pod];
  if (!cfg.kubevirt) return [];
  return view
    .podsControlledBy(namespace, 'VirtualMachineInstance', name)
    .filter((p) => staticKindOf(p, cfg) === 'VirtualMachineInstance');
}

/**
 * "Valid static member" (docs/rules.md, Terms), judged by name: the pod may be absent between two incarnations.
 * An existing pod that is not static is never a member.
 */
export function isValidStaticMember(view: ClusterView, namespace: string, name: string, cfg: StaticIpConfig): boolean {
  const pod = view.pod(namespace, name);
  if (pod) {
    const kind = staticKindOf(pod, cfg);
    if (kind === 'StatefulSet') return isValidStatefulSetMember(view, namespace, name);
    // staticKindOf read the kind off pod.controller, so it is set here; the VMI is the controller, named as itself.
    if (kind === 'VirtualMachineInstance')
      return !!pod.controller && isValidKubevirtMember(view, namespace, pod.controller.name);
    return false;
  }
  if (cfg.statefulSet && isValidStatefulSetMember(view, namespace, name)) return true;
  if (cfg.kubevirt && isValidKubevirtMember(view, namespace, name)) return true;
  return false;
}

/**
 * The pools a StatefulSet member's next incarnation will use, when annotations name them: read on the current pod of
 * that name, or on the StatefulSet's pod template when no such pod exists. Undefined when not named.
 * StatefulSets only: Spiderpool releases the IPs of pools the next incarnation no longer names for apps/v1
 * StatefulSet pods alone; a KubeVirt VMI's next launcher pod reuses its endpoint's IPs whatever its annotations.
 */
export function nextIncarnationPools(
  view: ClusterView,
  namespace: string,
  name: string,
  cfg: StaticIpConfig,
): ReadonlySet<string> | undefined {
  if (!cfg.statefulSet) return undefined;
  const pod = view.pod(namespace, name);
  if (pod) return staticKindOf(pod, cfg) === 'StatefulSet' ? namedPools(pod.poolAnnotations) : undefined;
  if (!isValidStatefulSetMember(view, namespace, name)) return undefined;
  return namedPools(statefulSetOfName(view, namespace, name)?.templatePoolAnnotations);
}

/**
 * "Restarting" (docs/rules.md, Terms): a valid static member with no running incarnation holding IPs, for the pool whose IPs are
 * in question. When annotations name the pools its next incarnation will use and `pool` is not among them, it is not
 * restarting for that pool's IPs (Spiderpool itself releases them on the next ADD). Omit `pool` only where no pool is
 * involved (an endpoint listing no IP); an unknown pool ('') cannot be ruled out either.
 */
export function isRestartingStaticMember(
  view: ClusterView,
  namespace: string,
  name: string,
  cfg: StaticIpConfig,
  pool?: string,
): boolean {
  if (!isValidStaticMember(view, namespace, name, cfg)) return false;
  const pods = podsOfName(view, namespace, name, cfg);
  if (pods.some((p) => !p.deleting && p.observedIPs.length > 0)) return false;
  if (pool === undefined || pool === '') return true;
  const pools = nextIncarnationPools(view, namespace, name, cfg);
  return !pools || pools.has(pool);
}

/** The endpoint's member is restarting for at least one pool the endpoint lists IPs in (for any pool when it lists none). */
export function isRestartingForEndpoint(view: ClusterView, ep: EndpointFacts, cfg: StaticIpConfig): boolean {
  const pools = new Set(ep.ips.map((i) => i.pool));
  if (pools.size === 0) return isRestartingStaticMember(view, ep.namespace, ep.name, cfg);
  return [...pools].some((pool) => isRestartingStaticMember(view, ep.namespace, ep.name, cfg, pool));
}

/** Endpoint types Spiderpool treats as static (it keeps them across pod incarnations). */
export function isStaticEndpointType(ownerControllerType: string): boolean {
  return ownerControllerType === 'StatefulSet' || ownerControllerType === 'VirtualMachineInstance';
}
