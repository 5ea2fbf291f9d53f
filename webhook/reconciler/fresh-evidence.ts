// What the executor re-reads before a write: the objects a decision about one name rests on, and a view in which
// the freshly read objects (and pools) replace the cached ones.
import {
  parseOrdinalName,
  PoolFacts,
  StaticIpConfig,
  ClusterView,
  FreshObjects,
  ObjectRef,
  OverlayView,
} from '../model';

/** A view with some pools replaced by freshly read ones. */
export class PoolOverlay extends OverlayView {
  constructor(
    base: ClusterView,
    fresh: FreshObjects,
    private readonly pools: Map<string, PoolFacts | null>,
  ) {
    super(base, fresh);
  }
  override pool(name: string) {
    return this.pools.has(name) ? (this.pools.get(name) ?? undefined) : super.pool(name);
  }
}

/** Objects a decision about the name ns/name rests on: the pod (or the VMI's pods), the StatefulSet, VMI, VM, endpoint. */
export function nameEvidence(namespace: string, name: string, cfg: StaticIpConfig): ObjectRef[] {
  const refs: ObjectRef[] = [
    { kind: 'pod', namespace, name },
    { kind: 'endpoint', namespace, name },
  ];
  const parsed = parseOrdinalName(name);
  if (parsed && cfg.statefulSet) refs.push({ kind: 'statefulSet', namespace, name: parsed.set });
  if (cfg.kubevirt)
    refs.push({ kind: 'vmi', namespace, name }, { kind: 'vm', namespace, name }, { kind: 'vmiPods', namespace, name });
  return refs;
}
