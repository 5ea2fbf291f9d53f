// Test fixtures: plain Kubernetes JSON objects shaped as the API server serves them (as Spiderpool writes them), and a ClusterView
// built from them through the same snapshot path the CLI uses. Shared by unit, reconciler, e2e tests and benchmarks,
// so it depends only on the snapshot loader and the AdmissionReview decoder, never on the rules.
import { createHash } from 'node:crypto';
import { decodeReview } from '../webhook/admission/envelope';
import { viewFromSnapshot } from '../webhook/cluster/snapshot';
import type { GuardRequest } from '../webhook/guard/request';
import type { IndexedView } from '../webhook/model/view';
import type { GuardSettings } from '../webhook/guard/evaluate';
import { DEFAULT_GUARDED_USERS, UserMatcher } from '../webhook/guard/users';
import { DEFAULT_STATIC_IP_CONFIG } from '../webhook/model/types';

export type Json = Record<string, unknown>;

export const NS = 'demo';
export const SYSTEM_NS = 'kube-system';
export const FINALIZER = 'spiderpool.spidernet.io';
export const CONTROLLER_USER = 'system:serviceaccount:kube-system:spiderpool-controller';
export const AGENT_USER = 'system:serviceaccount:kube-system:spiderpool-agent';
export const GC_USER = 'system:serviceaccount:kube-system:generic-garbage-collector';
export const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'];
export const NETWORK_STATUS = 'k8s.v1.cni.cncf.io/network-status';
export const NETWORKS_STATUS = 'k8s.v1.cni.cncf.io/networks-status';

const CREATED = '2026-11-20T10:00:00Z';
const DELETING = '2026-11-22T02:00:00Z';

/** A stable UUID-shaped uid derived from a label: uid('web-2#B') is always the same string. */
export function uid(label: string): string {
  const h = createHash('sha1').update(label).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

let rv = 1000;
function nextRv(): string {
  return String(++rv);
}

function clone<T>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

// ---------------------------------------------------------------------------------------------------- owners

export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  /** default true */
  controller?: boolean;
}

export const owner = {
  statefulSet: (name: string): OwnerRef => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', name }),
  replicaSet: (name: string): OwnerRef => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name }),
  job: (name: string): OwnerRef => ({ apiVersion: 'batch/v1', kind: 'Job', name }),
  vmi: (name: string): OwnerRef => ({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name }),
  vm: (name: string): OwnerRef => ({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name }),
  kruiseStatefulSet: (name: string): OwnerRef => ({ apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', name }),
};

function ownerReferences(refs: OwnerRef[]): Json[] {
  return refs.map((r) => ({
    apiVersion: r.apiVersion,
    kind: r.kind,
    name: r.name,
    uid: r.uid ?? uid(`${r.kind}/${r.name}`),
    controller: r.controller ?? true,
    blockOwnerDeletion: true,
  }));
}

// ---------------------------------------------------------------------------------------------------- pods

export interface MultusNetwork {
  name?: string;
  interface: string;
  ips: string[];
  default?: boolean;
}

export interface PodOptions {
  name: string;
  namespace?: string;
  uid?: string;
  /** status.podIPs (bare IPs) */
  ips?: string[];
  /** only status.podIP (older kubelets); podIPs left absent */
  podIP?: string;
  /** multus status annotation networks */
  multus?: MultusNetwork[];
  /** which multus status annotation key to write (default network-status) */
  multusKey?: typeof NETWORK_STATUS | typeof NETWORKS_STATUS;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  reason?: string;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  deleting?: boolean;
  hostNetwork?: boolean;
  owners?: OwnerRef[];
  nodeName?: string;
  /** other metadata.annotations (e.g. Spiderpool's ipam.spidernet.io/ippool) */
  annotations?: Record<string, string>;
  /** metadata.deletionTimestamp (RFC 3339) of a deleting pod (default 2026-11-22T02:00:00Z) */
  deletedAt?: string;
  /**
   * status.containerStatuses of the one container: running (default), terminated, or none (no entry);
   * 'two-one-running': two containers, one terminated and one still running
   */
  containers?: 'running' | 'terminated' | 'none' | 'two-one-running';
}

/** The default deletionTimestamp of a deleting pod(), in epoch ms: tests judge time relative to it. */
export const DELETED_AT_MS = Date.parse('2026-11-22T02:00:00Z');

const RUNNING_STATE = { running: { startedAt: '2026-11-20T10:00:05Z' } };
const TERMINATED_STATE = {
  terminated: {
    exitCode: 0,
    reason: 'Completed',
    startedAt: '2026-11-20T10:00:05Z',
    finishedAt: '2026-11-22T02:00:10Z',
  },
};

function containerStatuses(kind: PodOptions['containers']): Json[] {
  const status = (name: string, state: Json) => ({
    name,
    image: 'alpine:3.20',
    ready: !('terminated' in state),
    restartCount: 0,
    state,
  });
  switch (kind ?? 'running') {
    case 'none':
      return [];
    case 'terminated':
      return [status('main', TERMINATED_STATE)];
    case 'two-one-running':
      return [status('main', TERMINATED_STATE), status('sidecar', RUNNING_STATE)];
    default:
      return [status('main', RUNNING_STATE)];
  }
}

export function pod(o: PodOptions): Json {
  const namespace = o.namespace ?? NS;
  const annotations: Json = { ...o.annotations };
  if (o.multus) {
    annotations[o.multusKey ?? NETWORK_STATUS] = JSON.stringify(
      o.multus.map((n) => ({
        name: n.name ?? `${SYSTEM_NS}/macvlan-${n.interface}`,
        interface: n.interface,
        ips: n.ips,
        mac: 'aa:bb:cc:dd:ee:ff',
        default: n.default ?? n.interface === 'eth0',
        dns: {},
      })),
    );
  }
  const metadata: Json = {
    name: o.name,
    namespace,
    uid: o.uid ?? uid(`${namespace}/${o.name}`),
    resourceVersion: nextRv(),
    creationTimestamp: CREATED,
    labels: { app: o.name.replace(/-[^-]+$/, '') },
    annotations,
  };
  if (o.owners?.length) metadata.ownerReferences = ownerReferences(o.owners);
  if (o.deleting) {
    metadata.deletionTimestamp = o.deletedAt ?? DELETING;
    metadata.deletionGracePeriodSeconds = 30;
  }
  const phase = o.phase ?? 'Running';
  const status: Json = { phase, hostIP: '172.18.0.2', startTime: CREATED };
  const statuses = containerStatuses(o.containers);
  if (statuses.length > 0) status.containerStatuses = statuses;
  if (o.reason) status.reason = o.reason;
  if (o.podIP !== undefined) status.podIP = o.podIP;
  else if (o.ips?.length) {
    status.podIP = o.ips[0];
    status.podIPs = o.ips.map((ip) => ({ ip }));
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      nodeName: o.nodeName ?? 'worker-1',
      restartPolicy: o.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: 30,
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'main', image: 'alpine:3.20', command: ['sleep', 'infinity'] }],
    },
    status,
  };
}

/** A StatefulSet pod "set-ordinal" controlled by apps/v1 StatefulSet "set". */
export function stsPod(set: string, ordinal: number, o: Omit<PodOptions, 'name' | 'owners'> = {}): Json {
  return pod({ ...o, name: `${set}-${ordinal}`, owners: [owner.statefulSet(set)] });
}

/** A KubeVirt launcher pod "virt-launcher-<vmi>-<suffix>" controlled by the VMI. */
export function launcherPod(vmiName: string, o: Omit<PodOptions, 'name' | 'owners'> & { suffix?: string } = {}): Json {
  const { suffix, ...rest } = o;
  return pod({ ...rest, name: `virt-launcher-${vmiName}-${suffix ?? 'x7k2p'}`, owners: [owner.vmi(vmiName)] });
}

/** Spiderpool's single-NIC pool annotation: ipam.spidernet.io/ippool = {"ipv4":[...],"ipv6":[...]}. */
export function ippoolAnnotation(o: { ipv4?: string[]; ipv6?: string[] }): Record<string, string> {
  return { 'ipam.spidernet.io/ippool': JSON.stringify(o) };
}

/** Spiderpool's multi-NIC pool annotation: ipam.spidernet.io/ippools = [{"interface":..,"ipv4":[...],"ipv6":[...]}]. */
export function ippoolsAnnotation(
  nics: { interface?: string; ipv4?: string[]; ipv6?: string[] }[],
): Record<string, string> {
  return { 'ipam.spidernet.io/ippools': JSON.stringify(nics) };
}

// ---------------------------------------------------------------------------------------------------- workloads

export function statefulSet(o: {
  name: string;
  namespace?: string;
  replicas?: number | null;
  ordinalsStart?: number;
  deleting?: boolean;
  /** spec.template.metadata.annotations (e.g. Spiderpool's ipam.spidernet.io/ippool) */
  templateAnnotations?: Record<string, string>;
}): Json {
  const namespace = o.namespace ?? NS;
  const templateMeta: Json = {
    labels: { app: o.name },
    ...(o.templateAnnotations ? { annotations: o.templateAnnotations } : {}),
  };
  const spec: Json = {
    serviceName: o.name,
    selector: { matchLabels: { app: o.name } },
    template: { metadata: templateMeta },
  };
  if (o.replicas !== null) spec.replicas = o.replicas ?? 1;
  if (o.ordinalsStart !== undefined) spec.ordinals = { start: o.ordinalsStart };
  const metadata: Json = {
    name: o.name,
    namespace,
    uid: uid(`StatefulSet/${o.name}`),
    resourceVersion: nextRv(),
    generation: 1,
  };
  if (o.deleting) metadata.deletionTimestamp = DELETING;
  return { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata, spec, status: { replicas: o.replicas ?? 1 } };
}

export function vmi(o: { name: string; namespace?: string; deleting?: boolean; controlledByVm?: boolean }): Json {
  const namespace = o.namespace ?? NS;
  const metadata: Json = {
    name: o.name,
    namespace,
    uid: uid(`VirtualMachineInstance/${o.name}`),
    resourceVersion: nextRv(),
  };
  if (o.controlledByVm ?? true) metadata.ownerReferences = ownerReferences([owner.vm(o.name)]);
  if (o.deleting) metadata.deletionTimestamp = DELETING;
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata,
    spec: { domain: { devices: {} } },
    status: { phase: 'Running' },
  };
}

export function vm(o: { name: string; namespace?: string; deleting?: boolean }): Json {
  const namespace = o.namespace ?? NS;
  const metadata: Json = { name: o.name, namespace, uid: uid(`VirtualMachine/${o.name}`), resourceVersion: nextRv() };
  if (o.deleting) metadata.deletionTimestamp = DELETING;
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata, spec: { runStrategy: 'Always' } };
}

// ---------------------------------------------------------------------------------------------------- nodes

/** A Node as the API server serves it: Ready condition status (default True) and taints (key=value:Effect specs). */
export function node(o: {
  name: string;
  ready?: 'True' | 'False' | 'Unknown';
  taints?: { key: string; value?: string; effect: string }[];
}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: o.name,
      uid: uid(`Node/${o.name}`),
      resourceVersion: nextRv(),
      labels: { 'kubernetes.io/hostname': o.name },
    },
    spec: o.taints?.length
      ? {
          taints: o.taints.map((t) => ({
            ...t,
            ...(t.effect === 'NoExecute' ? { timeAdded: '2026-11-22T02:01:00Z' } : {}),
          })),
        }
      : {},
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
        {
          type: 'Ready',
          status: o.ready ?? 'True',
          reason: o.ready === 'Unknown' ? 'NodeStatusUnknown' : 'KubeletReady',
        },
      ],
      addresses: [{ type: 'InternalIP', address: '172.18.0.2' }],
      nodeInfo: { kubeletVersion: 'v1.34.4', containerRuntimeVersion: 'containerd://2.1.4' },
    },
  };
}

/** The taint Kubernetes' non-graceful node shutdown documents. */
export const OUT_OF_SERVICE = { key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' };

// ---------------------------------------------------------------------------------------------------- pools

export interface RecordSpec {
  /** "namespace/name" */
  pod: string;
  podUid: string;
}

export type Records = Record<string, RecordSpec>;

/** A record value: rec('demo/web-0', uid('web-0')). */
export function rec(podKey: string, podUid: string): RecordSpec {
  return { pod: podKey, podUid };
}

/** Go json.Marshal of map[string]PoolIPAllocation: keys in byte order, fields pod then podUid, no whitespace. */
export function goAllocatedIPs(records: Records): string | undefined {
  const keys = Object.keys(records).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return undefined;
  const value = (v: unknown): string => {
    const r = v as RecordSpec | null;
    // a well-formed record in Go's field order; anything else (tests of malformed input) as JSON.stringify writes it
    if (
      r &&
      typeof r === 'object' &&
      typeof r.pod === 'string' &&
      typeof r.podUid === 'string' &&
      Object.keys(r).length === 2
    ) {
      return `{"pod":${JSON.stringify(r.pod)},"podUid":${JSON.stringify(r.podUid)}}`;
    }
    return JSON.stringify(v) ?? 'null';
  };
  return '{' + keys.map((k) => `${JSON.stringify(k)}:${value(records[k])}`).join(',') + '}';
}

export interface PoolOptions {
  name: string;
  subnet: string;
  ipVersion?: 4 | 6;
  ips?: string[];
  excludeIPs?: string[];
  records?: Records;
  /** raw status.allocatedIPs, overriding `records` (null → JSON null; undefined with no records → field absent) */
  allocatedIPs?: unknown;
  /** default: number of records; null → field absent */
  allocatedIPCount?: number | null;
  totalIPCount?: number;
}

export function pool(o: PoolOptions): Json {
  const family = o.ipVersion ?? (o.subnet.includes(':') ? 6 : 4);
  const records = o.records ?? {};
  const status: Json = {};
  const raw = 'allocatedIPs' in o ? o.allocatedIPs : goAllocatedIPs(records);
  if (raw !== undefined) status.allocatedIPs = raw;
  if (o.allocatedIPCount !== null) status.allocatedIPCount = o.allocatedIPCount ?? Object.keys(records).length;
  if (o.totalIPCount !== undefined) status.totalIPCount = o.totalIPCount;
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderIPPool',
    metadata: {
      name: o.name,
      uid: uid(`SpiderIPPool/${o.name}`),
      resourceVersion: nextRv(),
      generation: 1,
      finalizers: [FINALIZER],
      labels: { 'ipam.spidernet.io/ippool-cidr': o.subnet.replace(/[.:/]/g, '-') },
    },
    spec: {
      ipVersion: family,
      subnet: o.subnet,
      ips: o.ips ?? [],
      ...(o.excludeIPs ? { excludeIPs: o.excludeIPs } : {}),
      default: false,
      disable: false,
    },
    status,
  };
}

/** A SpiderReservedIP (cluster-scoped) listing these IPs and ranges. */
export function reservedIP(o: { name: string; ips: string[]; ipVersion?: 4 | 6 }): Json {
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderReservedIP',
    metadata: { name: o.name, uid: uid(`SpiderReservedIP/${o.name}`), resourceVersion: nextRv(), generation: 1 },
    spec: { ipVersion: o.ipVersion ?? (o.ips[0]?.includes(':') ? 6 : 4), ips: o.ips },
  };
}

/** The pool most tests use: "v4-pool", 10.6.0.0/16, IPs .168.101-.110 (a realistic Spiderpool pool). */
export const V4_POOL = 'v4-pool';

export function v4Pool(records: Records, allocatedIPCount?: number | null): Json {
  return pool({
    name: V4_POOL,
    subnet: '10.6.0.0/16',
    ips: ['10.6.168.101-10.6.168.110'],
    records,
    allocatedIPCount,
    totalIPCount: 10,
  });
}

/** Spiderpool's defaults: both static-IP kinds on, the controller as the guarded writer. */
export const GUARD_SETTINGS: GuardSettings = {
  staticIp: DEFAULT_STATIC_IP_CONFIG,
  guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS),
};

/**
 * The same pool object with other records (a status write): a deep copy with allocatedIPs re-serialised, the count
 * set to the number of records unless given, and a new resourceVersion.
 */
export function withRecords(
  base: Json,
  records: Records,
  o: { allocatedIPCount?: number | null; allocatedIPs?: unknown } = {},
): Json {
  const next = clone(base);
  const status = ((next.status as Json | undefined) ?? {}) as Json;
  next.status = status;
  const raw = 'allocatedIPs' in o ? o.allocatedIPs : goAllocatedIPs(records);
  if (raw === undefined) delete status.allocatedIPs;
  else status.allocatedIPs = raw;
  if (o.allocatedIPCount === null) delete status.allocatedIPCount;
  else status.allocatedIPCount = o.allocatedIPCount ?? Object.keys(records).length;
  (next.metadata as Json).resourceVersion = nextRv();
  return next;
}

/** The records a pool object holds (parsed with JSON.parse, no validation). */
export function recordsOf(poolObject: Json): Records {
  const raw = (poolObject.status as Json | undefined)?.allocatedIPs;
  return typeof raw === 'string' ? (JSON.parse(raw) as Records) : {};
}

// ---------------------------------------------------------------------------------------------------- endpoints

export interface EndpointNic {
  interface?: string;
  ipv4?: string;
  ipv4Pool?: string;
  ipv6?: string;
  ipv6Pool?: string;
}

export interface EndpointOptions {
  name: string;
  namespace?: string;
  /** status.current.uid */
  podUid: string;
  nics: EndpointNic[];
  /** ownerControllerType (default Deployment when no sts, "Pod"-owned) */
  type?: string;
  ownerName?: string;
  deleting?: boolean;
  finalizers?: string[];
  /** ownerReference to the Pod (Spiderpool sets it for non-static endpoints); default: when type is not static */
  podOwner?: boolean;
  node?: string;
}

export function endpoint(o: EndpointOptions): Json {
  const namespace = o.namespace ?? NS;
  const type = o.type ?? 'Deployment';
  const isStatic = type === 'StatefulSet' || type === 'VirtualMachineInstance';
  const metadata: Json = {
    name: o.name,
    namespace,
    uid: uid(`SpiderEndpoint/${namespace}/${o.name}/${o.podUid}`),
    resourceVersion: nextRv(),
    generation: 1,
    finalizers: o.finalizers ?? [FINALIZER],
  };
  if (o.podOwner ?? !isStatic)
    metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: o.name, uid: o.podUid }];
  if (o.deleting) metadata.deletionTimestamp = DELETING;
  const ips = o.nics.map((n) => {
    const d: Json = { interface: n.interface ?? 'eth0' };
    if (n.ipv4) {
      d.ipv4 = n.ipv4;
      d.ipv4Pool = n.ipv4Pool;
      d.ipv4Gateway = '10.6.0.1';
    }
    if (n.ipv6) {
      d.ipv6 = n.ipv6;
      d.ipv6Pool = n.ipv6Pool;
      d.ipv6Gateway = 'fd00:10:6::1';
    }
    d.cleanGateway = false;
    d.vlan = 0;
    return d;
  });
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderEndpoint',
    metadata,
    status: {
      current: { uid: o.podUid, node: o.node ?? 'worker-1', ips },
      ownerControllerType: type,
      ownerControllerName:
        o.ownerName ?? (isStatic ? o.name.replace(/-[0-9]+$/, '') : o.name.replace(/-[^-]+-[^-]+$/, '')),
    },
  };
}

/** A deep copy of an object with edits applied (for UPDATE old/new pairs). */
export function edited(base: Json, edit: (o: Json) => void): Json {
  const next = clone(base);
  edit(next);
  const m = next.metadata as Json;
  m.resourceVersion = nextRv();
  return next;
}

/** An endpoint copy marked deleting (deletionTimestamp set, finalizer kept). */
export function markDeleting(o: Json): Json {
  return edited(o, (n) => {
    (n.metadata as Json).deletionTimestamp = DELETING;
  });
}

/** An endpoint copy with Spiderpool's finalizer removed. */
export function withoutFinalizer(o: Json): Json {
  return edited(o, (n) => {
    const m = n.metadata as Json;
    m.finalizers = ((m.finalizers as string[] | undefined) ?? []).filter((f) => f !== FINALIZER);
  });
}

// ---------------------------------------------------------------------------------------------------- reviews

export type ReviewTarget = 'poolStatus' | 'pool' | 'endpoint' | 'pod';

export interface ReviewOptions {
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  target: ReviewTarget;
  object?: Json | null;
  oldObject?: Json | null;
  user?: string;
  groups?: string[];
  uid?: string;
  dryRun?: boolean;
}

let reviewCounter = 0;

/** An AdmissionReview v1 request as the kube-apiserver posts it. */
export function review(o: ReviewOptions): Json {
  const obj = o.object ?? o.oldObject ?? undefined;
  const meta = (obj?.metadata ?? {}) as Json;
  const targets: Record<
    ReviewTarget,
    { group: string; version: string; resource: string; kind: string; subResource?: string }
  > = {
    poolStatus: {
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      resource: 'spiderippools',
      kind: 'SpiderIPPool',
      subResource: 'status',
    },
    pool: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools', kind: 'SpiderIPPool' },
    endpoint: {
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      resource: 'spiderendpoints',
      kind: 'SpiderEndpoint',
    },
    pod: { group: '', version: 'v1', resource: 'pods', kind: 'Pod' },
  };
  const t = targets[o.target];
  const request: Json = {
    uid: o.uid ?? `0b1f${String(++reviewCounter).padStart(4, '0')}-7c1d-4b5e-9a3f-1e2d3c4b5a69`,
    kind: { group: t.group, version: t.version, kind: t.kind },
    resource: { group: t.group, version: t.version, resource: t.resource },
    requestKind: { group: t.group, version: t.version, kind: t.kind },
    requestResource: { group: t.group, version: t.version, resource: t.resource },
    name: meta.name,
    operation: o.operation,
    userInfo: {
      username: o.user ?? CONTROLLER_USER,
      uid: uid(o.user ?? CONTROLLER_USER),
      groups: o.groups ?? SA_GROUPS,
    },
    object: o.object ?? null,
    oldObject: o.oldObject ?? null,
    dryRun: o.dryRun ?? false,
    options:
      o.operation === 'DELETE'
        ? { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' }
        : { kind: `${o.operation === 'CREATE' ? 'Create' : 'Update'}Options`, apiVersion: 'meta.k8s.io/v1' },
  };
  if (t.subResource) {
    request.subResource = t.subResource;
    request.requestSubResource = t.subResource;
  }
  if (typeof meta.namespace === 'string') request.namespace = meta.namespace;
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

/** A status UPDATE of a pool from `oldObject` to `object`. */
export function poolStatusReview(oldObject: Json, object: Json, user = CONTROLLER_USER): Json {
  return review({ operation: 'UPDATE', target: 'poolStatus', oldObject, object, user });
}

export function endpointReview(
  operation: 'CREATE' | 'UPDATE' | 'DELETE',
  o: { object?: Json; oldObject?: Json; user?: string },
): Json {
  return review({
    operation,
    target: 'endpoint',
    object: o.object,
    oldObject: o.oldObject,
    user: o.user ?? CONTROLLER_USER,
  });
}

/** The guard's view of a review (through the real decoder). */
export function requestOf(reviewDoc: Json): GuardRequest {
  return decodeReview(reviewDoc);
}

// ---------------------------------------------------------------------------------------------------- views

/** `kubectl get ... -A -o json` output for these objects. */
export function list(...objects: Json[]): Json {
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: objects.map(clone) };
}

/** A ClusterView built from objects through the snapshot loader (the CLI's path). */
export function viewOf(...objects: Json[]): IndexedView {
  return viewFromSnapshot(list(...objects));
}

// ---------------------------------------------------------------------------------------------------- bulk

/** n consecutive IPv4 addresses starting at a.b.c.d (carrying into higher octets). */
export function ipv4Range(start: string, n: number): string[] {
  const [a, b, c, d] = start.split('.').map(Number);
  let x = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const out: string[] = [];
  for (let i = 0; i < n; i++, x++) out.push(`${(x >>> 24) & 255}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`);
  return out;
}

export interface BigCluster {
  pool: Json;
  pods: Json[];
  endpoints: Json[];
  /** IP i belongs to pods[i] */
  ips: string[];
  objects: Json[];
}

/** A /16 pool with n records, each for a running Deployment pod observing its IP, with its endpoint. */
export function bigCluster(n: number, poolName = 'big-v4', subnet = '10.6.0.0/16', startIp = '10.6.1.1'): BigCluster {
  const ips = ipv4Range(startIp, n);
  const records: Records = {};
  const pods: Json[] = [];
  const endpoints: Json[] = [];
  ips.forEach((ip, i) => {
    const name = `app-${Math.floor(i / 100)}-7d9f8c6b5-p${String(i).padStart(5, '0')}`;
    const podUid = uid(`big/${name}`);
    records[ip] = rec(`${NS}/${name}`, podUid);
    pods.push(
      pod({ name, uid: podUid, ips: [ip], owners: [owner.replicaSet(`app-${Math.floor(i / 100)}-7d9f8c6b5`)] }),
    );
    endpoints.push(
      endpoint({
        name,
        podUid,
        nics: [{ ipv4: `${ip}/16`, ipv4Pool: poolName }],
        ownerName: `app-${Math.floor(i / 100)}`,
      }),
    );
  });
  const p = pool({ name: poolName, subnet, ips: [`${ips[0]}-${ips[ips.length - 1]}`], records, totalIPCount: n + 10 });
  return { pool: p, pods, endpoints, ips, objects: [p, ...pods, ...endpoints] };
}
