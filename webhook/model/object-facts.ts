// Turns Kubernetes objects (as JSON) into the trimmed facts the rules read. Tolerant: a missing field becomes an
// empty value, never an exception, because informers and snapshots hold whatever the API server has.
import { KUBEVIRT_API_PREFIX } from './api-names';
import { cachedScan, scanRecords } from './allocation-scan';
import { PoolAddressing, parseAllocatedIPs, poolFamily } from './allocations';
import { canonicalIpWithoutPrefix } from '../../lib/ip';
import { IpRangeSet } from './ip-ranges';
import { pickPoolAnnotations } from './pool-annotations';
import { poolIPsOf } from './pool-ips';
import { intern, internObject } from './intern';
import {
  ControllerRef,
  EndpointFacts,
  EndpointIP,
  NodeFacts,
  NodeTaint,
  PodFacts,
  PodTerminationFacts,
  PoolFacts,
  ReservedIpFacts,
  SPIDER_FINALIZER,
  StatefulSetFacts,
  VmFacts,
  VmiFacts,
} from './types';

/** A JSON object as the API server serves it; fields are read defensively. */
export type KubeObject = Record<string, unknown>;

const MULTUS_STATUS_ANNOTATIONS = ['k8s.v1.cni.cncf.io/network-status', 'k8s.v1.cni.cncf.io/networks-status'];

function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * A copy whose backing store holds exactly its elements: an array grown by push (or spread from a Set) keeps room for
 * 16 more, about 130 bytes per cached pod and endpoint, which hold one IP each.
 */
function exactSize<T>(a: T[]): T[] {
  return a.slice();
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function meta(o: KubeObject) {
  const m = obj(o.metadata);
  return {
    name: str(m.name),
    namespace: str(m.namespace),
    uid: str(m.uid),
    resourceVersion: str(m.resourceVersion),
    // a string in raw JSON, a Date in client-node's typed objects
    deleting: m.deletionTimestamp !== undefined && m.deletionTimestamp !== null && m.deletionTimestamp !== '',
    deletionTimestamp: m.deletionTimestamp,
    annotations: obj(m.annotations),
    ownerReferences: arr(m.ownerReferences).map(obj),
    finalizers: arr(m.finalizers).filter((f): f is string => typeof f === 'string'),
  };
}

const sameRef = (a: ControllerRef, b: ControllerRef) =>
  a.apiVersion === b.apiVersion && a.kind === b.kind && a.name === b.name && a.uid === b.uid;

function controllerOf(o: KubeObject): ControllerRef | undefined {
  const ref = meta(o).ownerReferences.find((r) => r.controller === true);
  if (!ref) return undefined;
  const c = {
    apiVersion: intern(str(ref.apiVersion)),
    kind: intern(str(ref.kind)),
    name: str(ref.name),
    uid: str(ref.uid),
  };
  // the pods of one controller share one reference object
  return internObject(`${c.uid}/${c.kind}/${c.name}`, c, sameRef);
}

/** An IP a multus network-status entry lists, and the interface it lists it on. */
interface InterfaceIP {
  iface: string;
  ip: string;
}

/**
 * IPs listed in a multus network-status annotation value (a JSON list of {interface, ips, ...}), with their
 * interface (older multus writes no `interface`: the entry's network `name` stands for it, then its position).
 */
function multusIPs(value: unknown): InterfaceIP[] {
  if (typeof value !== 'string' || value === '') return [];
  let decoded: unknown;
  try {
    decoded = JSON.parse(value);
  } catch {
    return []; // a broken annotation proves nothing; status.podIPs still counts
  }
  const out: InterfaceIP[] = [];
  arr(decoded).forEach((raw, i) => {
    const net = obj(raw);
    const iface = str(net.interface) || str(net.name) || `#${i}`;
    for (const ip of arr(net.ips)) {
      const c = typeof ip === 'string' ? canonicalIpWithoutPrefix(ip) : undefined;
      if (c) out.push({ iface, ip: c });
    }
  });
  return out;
}

/**
 * IPs the multus annotations list on two or more interfaces (DUPLICATE_INTERFACE_IP). Both annotations usually carry
 * the same list; an IP on one interface in both is listed once.
 */
function duplicateInterfaceIPs(listed: InterfaceIP[]): { ip: string; interfaces: string[] }[] | undefined {
  if (listed.length < 2) return undefined;
  const byIp = new Map<string, Set<string>>();
  for (const { iface, ip } of listed) {
    const set = byIp.get(ip);
    if (set) set.add(iface);
    else byIp.set(ip, new Set([iface]));
  }
  const out = [...byIp]
    .filter(([, ifaces]) => ifaces.size > 1)
    .map(([ip, ifaces]) => ({ ip, interfaces: [...ifaces].sort() }));
  return out.length > 0 ? out : undefined;
}

/** "Observed IPs" (docs/rules.md, Terms): status.podIPs (podIP when absent) plus multus status annotations, canonical. */
export function observedIPsOf(pod: KubeObject): string[] {
  return podIPsOf(pod).observed;
}

/** Observed IPs, and the IPs multus lists on two interfaces of the pod. */
function podIPsOf(pod: KubeObject): { observed: string[]; duplicates?: { ip: string; interfaces: string[] }[] } {
  const spec = obj(pod.spec);
  if (spec.hostNetwork === true) return { observed: [] }; // a hostNetwork pod's IPs are the node's
  const status = obj(pod.status);
  const found = new Set<string>();
  const podIPs = arr(status.podIPs);
  if (podIPs.length > 0) {
    for (const entry of podIPs) {
      const c = canonicalIpWithoutPrefix(str(obj(entry).ip));
      if (c) found.add(c);
    }
  } else if (typeof status.podIP === 'string') {
    const c = canonicalIpWithoutPrefix(status.podIP);
    if (c) found.add(c);
  }
  const annotations = meta(pod).annotations;
  const listed = MULTUS_STATUS_ANNOTATIONS.flatMap((key) => multusIPs(annotations[key]));
  for (const { ip } of listed) found.add(ip);
  const duplicates = duplicateInterfaceIPs(listed);
  return duplicates ? { observed: exactSize([...found]), duplicates } : { observed: exactSize([...found]) };
}

/** A timestamp as JSON carries it (RFC 3339 string) or client-node's typed objects do (Date), in epoch ms; NaN when neither. */
function epochMs(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  return typeof value === 'string' ? Date.parse(value) : NaN;
}

/** 'terminated' only when there are container statuses and every one has state.terminated. */
function containersState(statuses: unknown[]): PodTerminationFacts['containers'] {
  if (statuses.length === 0) return 'none';
  return statuses.every((c) => obj(obj(c).state).terminated !== undefined) ? 'terminated' : 'running';
}

const sameTermination = (a: PodTerminationFacts, b: PodTerminationFacts) =>
  Object.is(a.deletedAt, b.deletedAt) && a.nodeName === b.nodeName && a.containers === b.containers;

/**
 * Kept only for a pod being deleted (model/termination.ts): nothing for the others. Shared (read-only) between the
 * pods deleted in the same second on the same node in the same container state: a mass deletion (a drain, a
 * namespace, a controller) repeats the same facts thousands of times (64 bytes each, with the boxed timestamp).
 */
function terminationFacts(
  deletionTimestamp: unknown,
  spec: Record<string, unknown>,
  status: Record<string, unknown>,
): PodTerminationFacts {
  const t: PodTerminationFacts = {
    deletedAt: epochMs(deletionTimestamp),
    nodeName: intern(str(spec.nodeName)),
    containers: containersState(arr(status.containerStatuses)),
  };
  return internObject(`termination\u0000${t.deletedAt}\u0000${t.nodeName}\u0000${t.containers}`, t, sameTermination);
}

export function podFacts(pod: KubeObject): PodFacts {
  const m = meta(pod);
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  const poolAnnotations = pickPoolAnnotations(m.annotations);
  const ips = podIPsOf(pod);
  const facts: PodFacts = {
    namespace: intern(m.namespace),
    name: m.name,
    uid: m.uid,
    phase: intern(str(status.phase)),
    reason: intern(str(status.reason)),
    restartPolicy: intern(str(spec.restartPolicy) || 'Always'),
    deleting: m.deleting,
    hostNetwork: spec.hostNetwork === true,
    observedIPs: ips.observed,
    controller: controllerOf(pod),
    // In the literal (undefined unless deleting): added later, it would cost a deleting pod an out-of-object
    // property store (40 bytes); a slot costs every other pod 8 bytes.
    termination: m.deleting ? terminationFacts(m.deletionTimestamp, spec, status) : undefined,
  };
  // The rare optional facts are added to the few pods that have them: a literal with conditional spreads reserves
  // in-object room for all of them in every pod (24 bytes per pod at 100,000 pods, measured in a heap snapshot).
  if (poolAnnotations) facts.poolAnnotations = poolAnnotations;
  if (ips.duplicates) facts.interfaceDuplicates = ips.duplicates;
  return facts;
}

const NO_TAINTS: readonly NodeTaint[] = Object.freeze([]);
const sameTaint = (a: NodeTaint, b: NodeTaint) => a.key === b.key && a.effect === b.effect;

/** Nodes: name, taints (key and effect, shared objects) and the Ready condition's status; nothing else is kept. */
export function nodeFacts(node: KubeObject): NodeFacts {
  const m = meta(node);
  const taints = arr(obj(node.spec).taints).map((raw) => {
    const t = obj(raw);
    const taint = { key: intern(str(t.key)), effect: intern(str(t.effect)) };
    return internObject(`taint\u0000${taint.key}\u0000${taint.effect}`, taint, sameTaint);
  });
  const ready = arr(obj(node.status).conditions)
    .map(obj)
    .find((c) => c.type === 'Ready');
  return {
    name: m.name,
    ready: intern(str(ready?.status)),
    taints: taints.length === 0 ? NO_TAINTS : Object.freeze(taints),
  };
}

export function statefulSetFacts(sts: KubeObject): StatefulSetFacts {
  const m = meta(sts);
  const spec = obj(sts.spec);
  // spec.replicas defaults to 1 when unset, as the API server's defaulting does.
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const start = obj(spec.ordinals).start;
  // The next incarnation's pools, when no pod of a member's name exists (only these keys are kept).
  const templatePoolAnnotations = pickPoolAnnotations(obj(obj(obj(spec.template).metadata).annotations));
  return {
    namespace: m.namespace,
    name: m.name,
    uid: m.uid,
    replicas,
    ordinalsStart: typeof start === 'number' ? start : 0,
    deleting: m.deleting,
    ...(templatePoolAnnotations ? { templatePoolAnnotations } : {}),
  };
}

function endpointIPsOf(endpoint: KubeObject): EndpointIP[] {
  const current = obj(obj(endpoint.status).current);
  const out: EndpointIP[] = [];
  for (const raw of arr(current.ips)) {
    const d = obj(raw);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const text = str(d[fam]);
      if (!text) continue;
      const ip = canonicalIpWithoutPrefix(text);
      if (ip) out.push({ pool: intern(str(d[`${fam}Pool`])), ip, interface: intern(str(d.interface)) });
    }
  }
  return exactSize(out);
}

// nearly every endpoint has exactly Spiderpool's finalizer: one shared (frozen) list
const ONLY_SPIDER_FINALIZER: string[] = Object.freeze([SPIDER_FINALIZER]) as string[];

export function endpointFacts(endpoint: KubeObject): EndpointFacts {
  const m = meta(endpoint);
  const status = obj(endpoint.status);
  return {
    namespace: intern(m.namespace),
    name: m.name,
    objectUid: m.uid,
    resourceVersion: m.resourceVersion,
    podUid: str(obj(status.current).uid),
    ips: endpointIPsOf(endpoint),
    ownerControllerType: intern(str(status.ownerControllerType)),
    ownerControllerName: intern(str(status.ownerControllerName)),
    deleting: m.deleting,
    finalizers:
      m.finalizers.length === 1 && m.finalizers[0] === SPIDER_FINALIZER ? ONLY_SPIDER_FINALIZER : m.finalizers,
  };
}

/**
 * Records of a pool object. The admission path has usually scanned this exact string moments before the watch
 * event arrives, so the shared scan cache saves the informer a full JSON parse of a large pool on every write.
 */
function parseAllocations(value: unknown, addressing: PoolAddressing) {
  const scan = typeof value === 'string' ? cachedScan(value, addressing) : undefined;
  if (!scan) return parseAllocatedIPs(value, addressing);
  const records = scanRecords(scan);
  return { records, malformed: scan.malformed, unparseable: false, keyCount: scan.keys.length };
}

export function poolFacts(pool: KubeObject): PoolFacts {
  const m = meta(pool);
  const spec = obj(pool.spec);
  const status = obj(pool.status);
  const subnet = str(spec.subnet);
  const family = poolFamily(spec.ipVersion, subnet);
  const parsed = parseAllocations(status.allocatedIPs, { subnet, family });
  const count = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return {
    name: m.name,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    subnet,
    family,
    records: parsed.records,
    malformed: parsed.malformed,
    unparseable: parsed.unparseable,
    keyCount: parsed.keyCount,
    allocatedIPCount: count(status.allocatedIPCount),
    totalIPCount: count(status.totalIPCount),
    ips: poolIPsOf(m.name, spec.ips, spec.excludeIPs),
  };
}

/** A SpiderReservedIP (spec.ips: single IPs and ranges; entries that are neither are left out). */
export function reservedIpFacts(reserved: KubeObject): ReservedIpFacts {
  const m = meta(reserved);
  const ips = arr(obj(reserved.spec).ips);
  return { name: m.name, uid: m.uid, ips: IpRangeSet.parse(ips).set };
}

export function vmiFacts(vmi: KubeObject): VmiFacts {
  const m = meta(vmi);
  const ctl = controllerOf(vmi);
  return {
    namespace: m.namespace,
    name: m.name,
    deleting: m.deleting,
    controlledByVm: !!ctl && ctl.kind === 'VirtualMachine' && ctl.apiVersion.startsWith(KUBEVIRT_API_PREFIX),
  };
}

export function vmFacts(vm: KubeObject): VmFacts {
  const m = meta(vm);
  return { namespace: m.namespace, name: m.name, deleting: m.deleting };
}
