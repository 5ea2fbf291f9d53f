// Short-hand builders for the reconciler tests, thin adapters over the shared fixtures (testbed/fixtures.ts):
// the object shapes come from one place; these only keep the reconciler tests' scenarios compact.
import * as fx from '../../../testbed/fixtures';
import { IndexedView } from '../../../webhook/model/view';

type Obj = Record<string, unknown>;

export interface PodSpec {
  ns?: string;
  name: string;
  uid: string;
  phase?: fx.PodOptions['phase'];
  ips?: string[];
  /** controller: "sts:web", "vmi:vm1", "rs:api-123", "job:j", "kruise:web" */
  owner?: string;
  deleting?: boolean;
  restartPolicy?: fx.PodOptions['restartPolicy'];
  reason?: string;
  hostNetwork?: boolean;
  /** IPs of a secondary NIC, listed only in the multus network-status annotation */
  multus?: string[];
  annotations?: Record<string, string>;
}

const OWNERS: Record<string, (name: string) => fx.OwnerRef> = {
  sts: fx.owner.statefulSet,
  vmi: fx.owner.vmi,
  rs: fx.owner.replicaSet,
  job: fx.owner.job,
  kruise: fx.owner.kruiseStatefulSet,
};

export function pod(s: PodSpec): Obj {
  const owners = s.owner ? [OWNERS[s.owner.split(':')[0]](s.owner.split(':')[1])] : undefined;
  return fx.pod({
    name: s.name,
    namespace: s.ns,
    uid: s.uid,
    ips: s.ips,
    phase: s.phase,
    reason: s.reason,
    restartPolicy: s.restartPolicy,
    deleting: s.deleting,
    hostNetwork: s.hostNetwork,
    owners,
    multus: s.multus ? [{ interface: 'net1', ips: s.multus }] : undefined,
    annotations: s.annotations,
  });
}

export function statefulSet(s: {
  ns?: string;
  name: string;
  replicas: number;
  start?: number;
  templateAnnotations?: Record<string, string>;
}): Obj {
  return fx.statefulSet({
    name: s.name,
    namespace: s.ns,
    replicas: s.replicas,
    ordinalsStart: s.start,
    templateAnnotations: s.templateAnnotations,
  });
}

/** records: ip → [ "ns/name", podUid ]; count null = allocatedIPCount absent; raw = status.allocatedIPs as is */
export function pool(s: {
  name: string;
  subnet?: string;
  records?: Record<string, [string, string]>;
  count?: number | null;
  raw?: string;
}): Obj {
  const records: fx.Records = {};
  for (const [ip, [p, uid]] of Object.entries(s.records ?? {})) records[ip] = fx.rec(p, uid);
  return fx.pool({
    name: s.name,
    subnet: s.subnet ?? '10.6.0.0/16',
    ips: ['10.6.0.1-10.6.0.250'],
    records,
    allocatedIPCount: s.count,
    ...(s.raw !== undefined ? { allocatedIPs: s.raw } : {}),
  });
}

/** ips: [ip, pool][] (prefix added as Spiderpool writes it); objectUid overrides metadata.uid */
export function endpoint(s: {
  ns?: string;
  name: string;
  uid: string;
  ips?: [string, string][];
  type?: string;
  objectUid?: string;
  deleting?: boolean;
  finalizers?: string[];
}): Obj {
  const o = fx.endpoint({
    name: s.name,
    namespace: s.ns,
    podUid: s.uid,
    type: s.type,
    deleting: s.deleting,
    finalizers: s.finalizers,
    nics: (s.ips ?? []).map(([ip, p]) =>
      ip.includes(':') ? { ipv6: `${ip}/64`, ipv6Pool: p } : { ipv4: `${ip}/16`, ipv4Pool: p },
    ),
  });
  if (s.objectUid) (o.metadata as Obj).uid = s.objectUid;
  return o;
}

export function vmi(s: { ns?: string; name: string; deleting?: boolean; vm?: boolean }): Obj {
  return fx.vmi({ name: s.name, namespace: s.ns, deleting: s.deleting, controlledByVm: s.vm ?? false });
}

export function view(...items: Obj[]): IndexedView {
  return fx.viewOf(...items);
}

export function snapshot(...items: Obj[]): Obj {
  return fx.list(...items);
}
