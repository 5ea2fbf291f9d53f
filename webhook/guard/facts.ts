// Small helpers the rules share to describe and look up pods. Pure: they only read the ClusterView.
import {
  isAlive,
  podsOfName,
  PodFacts,
  PoolRecord,
  StaticIpConfig,
  splitNsName,
  ClusterView,
  KnownDeletionView,
  ObjectRef,
} from '../model';
import { LivePodSummary } from './rule-names';

export function summarizePod(p: PodFacts): LivePodSummary {
  return {
    name: `${p.namespace}/${p.name}`,
    uid: p.uid,
    phase: p.phase,
    observedIPs: p.observedIPs,
    deleting: p.deleting,
  };
}

export function podRef(p: PodFacts): ObjectRef {
  return { kind: 'pod', namespace: p.namespace, name: p.name };
}

/** Evidence for "the pod(s) of this name": the pod by name, and for KubeVirt the VMI and its launcher pods. */
export function nameRefs(namespace: string, name: string, cfg: StaticIpConfig): ObjectRef[] {
  const refs: ObjectRef[] = [{ kind: 'pod', namespace, name }];
  if (cfg.kubevirt) refs.push({ kind: 'vmi', namespace, name }, { kind: 'vmiPods', namespace, name });
  return refs;
}

/** nameRefs of a record's "ns/name" (none when the name is malformed, which the allocation parser never keeps). */
export function recordNameRefs(podKey: string, cfg: StaticIpConfig): ObjectRef[] {
  const n = splitNsName(podKey);
  return n ? nameRefs(n.namespace, n.name, cfg) : [];
}

/** The pods of a record's "ns/name" (empty when the name is malformed or nothing exists). */
export function podsOfRecordName(view: ClusterView, podKey: string, cfg: StaticIpConfig): PodFacts[] {
  const n = splitNsName(podKey);
  return n ? podsOfName(view, n.namespace, n.name, cfg) : [];
}

/** An alive pod of that name whose uid is the given one. */
export function aliveWithUid(pods: PodFacts[], uid: string): PodFacts | undefined {
  return pods.find((p) => isAlive(p) && p.uid === uid);
}

export function sameName(p: PodFacts, key: string): boolean {
  return `${p.namespace}/${p.name}` === key;
}

/**
 * The view a record's release is judged on: its pod of that name is known absent, without a live read, when the
 * watch saw exactly the record's incarnation deleted (model/tombstones.ts); everything else is looked up as usual.
 */
export function releaseView(view: ClusterView, rec: PoolRecord): ClusterView {
  const n = splitNsName(rec.pod);
  return n ? new KnownDeletionView(view, n.namespace, n.name, rec.podUid) : view;
}
