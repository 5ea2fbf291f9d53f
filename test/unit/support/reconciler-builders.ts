// Minimal plain-object builders for the reconciler tests (Kubernetes JSON as `kubectl get -o json` prints it).
// TODO: switch to test/support/fixtures.ts once it lands (same shapes).
import { viewFromSnapshot } from '../../../webhook/cluster/snapshot';
import { IndexedView } from '../../../webhook/model/view';

type Obj = Record<string, unknown>;

export interface PodSpec {
  ns?: string;
  name: string;
  uid: string;
  phase?: string;
  ips?: string[];
  /** controller: "sts:web", "vmi:vm1", "rs:api-123", "job:j" */
  owner?: string;
  deleting?: boolean;
  restartPolicy?: string;
  reason?: string;
  hostNetwork?: boolean;
  multus?: string[];
}

const OWNER_API: Record<string, [string, string]> = {
  sts: ['apps/v1', 'StatefulSet'],
  vmi: ['kubevirt.io/v1', 'VirtualMachineInstance'],
  rs: ['apps/v1', 'ReplicaSet'],
  job: ['batch/v1', 'Job'],
  kruise: ['apps.kruise.io/v1beta1', 'StatefulSet'],
};

export function pod(s: PodSpec): Obj {
  const metadata: Obj = { name: s.name, namespace: s.ns ?? 'demo', uid: s.uid, resourceVersion: '1' };
  if (s.deleting) metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
  if (s.owner) {
    const [kind, name] = s.owner.split(':');
    const [apiVersion, k] = OWNER_API[kind];
    metadata.ownerReferences = [{ apiVersion, kind: k, name, uid: `${name}-uid`, controller: true }];
  }
  if (s.multus) {
    metadata.annotations = {
      'k8s.v1.cni.cncf.io/network-status': JSON.stringify([{ name: 'net', interface: 'net1', ips: s.multus }]),
    };
  }
  const ips = s.ips ?? [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { restartPolicy: s.restartPolicy ?? 'Always', nodeName: 'node-1', ...(s.hostNetwork ? { hostNetwork: true } : {}) },
    status: {
      phase: s.phase ?? 'Running',
      ...(s.reason ? { reason: s.reason } : {}),
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    },
  };
}

export function statefulSet(s: { ns?: string; name: string; replicas: number; start?: number }): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: s.name, namespace: s.ns ?? 'demo', uid: `${s.name}-uid` },
    spec: { replicas: s.replicas, ...(s.start !== undefined ? { ordinals: { start: s.start } } : {}) },
  };
}

/** records: ip → [ "ns/name", podUid ] */
export function pool(s: { name: string; subnet?: string; records?: Record<string, [string, string]>; count?: number | null; raw?: string }): Obj {
  const status: Obj = {};
  const records = s.records ?? {};
  if (s.raw !== undefined) status.allocatedIPs = s.raw;
  else if (Object.keys(records).length) {
    const m: Obj = {};
    for (const [ip, [p, uid]] of Object.entries(records)) m[ip] = { pod: p, podUid: uid };
    status.allocatedIPs = JSON.stringify(m);
  }
  if (s.count !== null) status.allocatedIPCount = s.count ?? Object.keys(records).length;
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderIPPool',
    metadata: { name: s.name, uid: `${s.name}-uid`, resourceVersion: '10' },
    spec: { subnet: s.subnet ?? '10.6.0.0/16', ips: ['10.6.0.1-10.6.0.250'] },
    status,
  };
}

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
  const metadata: Obj = {
    name: s.name,
    namespace: s.ns ?? 'demo',
    uid: s.objectUid ?? `ep-${s.name}-${s.uid}`,
    resourceVersion: '5',
    finalizers: s.finalizers ?? ['spiderpool.spidernet.io'],
  };
  if (s.deleting) metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderEndpoint',
    metadata,
    status: {
      current: {
        uid: s.uid,
        node: 'node-1',
        ips: (s.ips ?? []).map(([ip, p]) => (ip.includes(':') ? { interface: 'eth0', ipv6: `${ip}/64`, ipv6Pool: p } : { interface: 'eth0', ipv4: `${ip}/16`, ipv4Pool: p })),
      },
      ownerControllerType: s.type ?? 'Deployment',
      ownerControllerName: s.name,
    },
  };
}

export function vmi(s: { ns?: string; name: string; deleting?: boolean; vm?: boolean }): Obj {
  const metadata: Obj = { name: s.name, namespace: s.ns ?? 'demo', uid: `${s.name}-vmi-uid` };
  if (s.deleting) metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
  if (s.vm) metadata.ownerReferences = [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: s.name, uid: 'vm', controller: true }];
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata };
}

export function view(...items: Obj[]): IndexedView {
  return viewFromSnapshot({ apiVersion: 'v1', kind: 'List', items });
}

export function snapshot(...items: Obj[]): Obj {
  return { apiVersion: 'v1', kind: 'List', items };
}
