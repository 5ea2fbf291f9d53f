// What a decision sets off besides its answer (docs/rules.md, Enforcement modes; Reconciler actions):
// - a Warning Event per denial, warning and repair, on the live pod the violation protects (on the pool when there
//   is none), naming who was stopped from doing what;
// - a heal request per denial that rests on an alive pod whose record is missing.
// Both are handed off without waiting (EventPublisher, HealRequester): the answer never waits for them, and a
// failure in them never changes it.
import { GuardRequest, Judged, violationMessage } from '../guard';
import { EventPublisher, EventSpec, HealRequest, HealRequester, SPIDERPOOL_API_VERSION, splitNsName } from '../model';

/** Denials that can rest on a missing record: the allocating writer is refused an IP an alive pod holds. */
const HEAL_RULES: ReadonlySet<string> = new Set(['DOUBLE_ALLOCATION', 'ENDPOINT_IP_CONFLICT']);

/** Events action of admission decisions. */
export const ADMIT_ACTION = 'Admit';

const SENTENCE: Record<Judged['outcome'], (user: string, write: string) => string> = {
  denied: (user, write) => `${user} was stopped from making an ${write}`,
  warned: (user, write) => `${user} was warned about an ${write}`,
  repaired: (user, write) => `${user} had an ${write} repaired`,
  audited: (user, write) => `${user} made an ${write}`,
};

function what(req: GuardRequest): string {
  const resource = `${req.resource.resource}${req.subResource ? `/${req.subResource}` : ''}`;
  return `${req.operation} of ${resource} ${req.namespace ? `${req.namespace}/` : ''}${req.name ?? ''}`;
}

/** The Events of one decision: one per denied, warned or repaired violation (audited ones stay in the audit log). */
export function decisionEvents(req: GuardRequest, judged: Judged[]): EventSpec[] {
  if (req.dryRun) return [];
  const out: EventSpec[] = [];
  for (const j of judged) {
    if (j.outcome === 'audited') continue;
    const v = j.violation;
    const message = `${SENTENCE[j.outcome](req.user, what(req))} (${v.ip ? `IP ${v.ip}, ` : ''}pool ${v.pool ?? 'unknown'}): ${violationMessage(v)}`;
    const pod = v.livePod && splitNsName(v.livePod.name);
    const involvedObject: EventSpec['involvedObject'] | undefined = pod
      ? { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: v.livePod?.uid }
      : v.pool
        ? { apiVersion: SPIDERPOOL_API_VERSION, kind: 'SpiderIPPool', name: v.pool }
        : undefined;
    if (!involvedObject) continue;
    out.push({
      namespace: pod ? pod.namespace : 'default',
      involvedObject,
      type: 'Warning',
      reason: v.rule,
      action: ADMIT_ACTION,
      message,
    });
  }
  return out;
}

/** The heal requests of one decision: denials of an IP an alive pod holds. */
export function healRequests(req: GuardRequest, judged: Judged[]): HealRequest[] {
  if (req.dryRun) return [];
  const out: HealRequest[] = [];
  for (const j of judged) {
    const v = j.violation;
    if (j.outcome !== 'denied' || !HEAL_RULES.has(v.rule) || !v.ip || !v.pool || !v.livePod) continue;
    out.push({ pool: v.pool, ip: v.ip, pod: v.livePod.name, rule: v.rule });
  }
  return out;
}

/** The handler's onDecision hook: Events and heal requests, each optional. Never throws. */
export function decisionEffects(effects: {
  events?: EventPublisher;
  heal?: HealRequester;
  onError?: (err: unknown) => void;
}) {
  return (req: GuardRequest, judged: Judged[]): void => {
    try {
      if (effects.events) for (const e of decisionEvents(req, judged)) effects.events.publish(e);
      if (effects.heal) for (const r of healRequests(req, judged)) effects.heal.requestHeal(r);
    } catch (err) {
      effects.onError?.(err);
    }
  };
}
