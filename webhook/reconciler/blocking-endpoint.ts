// BLOCKING_ENDPOINT (docs/rules.md, Findings): the SpiderEndpoint of an earlier pod that keeps the pod now carrying
// its name from getting an IP. Spiderpool's agent before v0.9.13 / v1.0.4 refuses a pod's CNI ADD while an endpoint
// of that name has another `current.uid` ("IP allocation ... is being recycled"), and its CNI DEL judges aliveness by
// name, so once the successor exists nothing removes the endpoint: the successor stays ContainerCreating. The
// reconciler removes it (DELETE_ENDPOINT UID_MISMATCH, after RELEASE_IP UID_MISMATCH of its records; plan.ts).
import { summarizePod } from '../guard';
import { isAlive, isStaticEndpointType, staticKindOf, EndpointFacts, PodFacts, StaticIpConfig, nsName } from '../model';
import { BlockingEndpointFinding, SEVERITY, summarizeEndpoint } from './finding-types';

/**
 * The pod an endpoint blocks, if any: the alive, non-static pod of the endpoint's name whose uid is not the
 * endpoint's `current.uid` and which observes none of its IPs. `pods` are the pods of the endpoint's name.
 * Static-typed endpoints (StatefulSet, VirtualMachineInstance) never block: Spiderpool keeps them across
 * incarnations on purpose (STATIC_LEFT_IPAM and INVALID_STATIC_MEMBER cover the ones left behind).
 */
export function blockedSuccessor(
  ep: EndpointFacts,
  pods: readonly PodFacts[],
  cfg: StaticIpConfig,
): PodFacts | undefined {
  if (isStaticEndpointType(ep.ownerControllerType) || pods.length !== 1) return undefined;
  const pod = pods[0];
  if (pod.uid === ep.podUid || !isAlive(pod) || staticKindOf(pod, cfg)) return undefined;
  if (ep.ips.some((i) => pod.observedIPs.includes(i.ip))) return undefined;
  return pod;
}

export function blockingEndpointFinding(ep: EndpointFacts, successor: PodFacts): BlockingEndpointFinding {
  return {
    finding: 'BLOCKING_ENDPOINT',
    severity: SEVERITY.BLOCKING_ENDPOINT,
    ip: ep.ips[0]?.ip,
    pool: ep.ips[0]?.pool,
    pods: [summarizePod(successor)],
    endpoint: summarizeEndpoint(ep),
    message: `SpiderEndpoint ${nsName(ep.namespace, ep.name)} (current.uid ${ep.podUid}, IPs [${ep.ips.map((i) => i.ip).join(',')}]) belongs to an earlier pod; pod ${nsName(
      successor.namespace,
      successor.name,
    )} uid ${successor.uid} (phase ${successor.phase || 'Unknown'}) observes none of its IPs, and Spiderpool before v0.9.13 / v1.0.4 refuses that pod's IP allocation ("being recycled") until the endpoint goes`,
  };
}
