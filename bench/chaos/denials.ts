/**
 * Guard denials from its audit events (docs/operations.md#audit-log), each replayed against the simulator's ground truth
 * (truth.ts): a denial is TRUE when the write would really have hurt at that moment (the IP was physically held,
 * the incarnation was alive, the name was a valid StatefulSet member keeping its static IP, ...), FALSE otherwise.
 * A denial the truth cannot explain counts as false. A request is a false denial when every violation in it is.
 */
import type { GroundTruth } from '../../testbed/spiderpool/truth';

export interface AuditEventLike {
  event?: unknown;
  time?: unknown;
  rule?: unknown;
  requestUID?: unknown;
  operation?: unknown;
  name?: unknown;
  namespace?: unknown;
  user?: unknown;
  ip?: unknown;
  pool?: unknown;
  endpoint?: unknown;
  record?: { pod?: string; podUid?: string };
  livePod?: { name?: string; uid?: string };
}

export interface ClassifiedViolation {
  rule: string;
  time: string;
  user: string;
  ip?: string;
  subject: string;
  legitimate: boolean;
  why: string;
}

export interface DenialSummary {
  /** denied requests */
  denials: number;
  falseDenials: number;
  /** violations per rule */
  byRule: Record<string, number>;
  violations: ClassifiedViolation[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * When the guard decided: the audit line's `time`. On the guard's stdout the service logger stamps it (pino: epoch
 * milliseconds, a few ms after the decision, when the line is drained); in the audit file it is an ISO string.
 * Reading only the string made every replay run at NaN, where nothing is held, alive or valid: every denial false.
 */
export function eventTime(ev: AuditEventLike): number {
  return typeof ev.time === 'number' ? ev.time : Date.parse(str(ev.time));
}

function classify(ev: AuditEventLike, truth: GroundTruth): { legitimate: boolean; why: string } {
  const t = eventTime(ev);
  if (Number.isNaN(t))
    return { legitimate: false, why: `audit line without a readable time (${JSON.stringify(ev.time)})` };
  const ip = str(ev.ip);
  const rule = str(ev.rule);
  const record = ev.record;
  const subject = str(ev.endpoint) || record?.pod || `${str(ev.namespace)}/${str(ev.name)}`;
  const holders = ip ? truth.heldAt(ip, t) : [];
  switch (rule) {
    case 'LIVE_IP_RELEASE':
    case 'STATIC_IP_RELEASE': {
      if (holders.length)
        return { legitimate: true, why: `${ip} held by ${holders.map((h) => `${h.pod}@${h.uid}`).join(',')}` };
      if (record?.podUid && truth.aliveAt(record.podUid, t))
        return { legitimate: true, why: `record's incarnation ${record.pod}@${record.podUid} alive` };
      if (record?.pod && truth.validStsMemberAt(record.pod, t))
        return { legitimate: true, why: `${record.pod} is a valid StatefulSet member (static IP)` };
      return {
        legitimate: false,
        why: `${ip} not held, ${record?.pod}@${record?.podUid} not alive, not a valid static member`,
      };
    }
    case 'UNCONFIRMED_TERMINATION_RELEASE':
      // legitimate while the terminating pod's sandbox still holds the IP (its node never tore it down)
      if (holders.length)
        return { legitimate: true, why: `${ip} held by ${holders.map((h) => `${h.pod}@${h.uid}`).join(',')}` };
      return { legitimate: false, why: `${ip} no longer held: the terminating pod's sandbox was gone` };
    case 'LIVE_ENDPOINT_DELETE': {
      if (ev.livePod?.uid && truth.aliveAt(ev.livePod.uid, t))
        return { legitimate: true, why: `pod ${ev.livePod.name}@${ev.livePod.uid} alive` };
      if (truth.validStsMemberAt(subject, t))
        return { legitimate: true, why: `${subject} is a valid StatefulSet member (static endpoint)` };
      if (holders.some((h) => h.pod === subject)) return { legitimate: true, why: `${ip} held by ${subject}` };
      return { legitimate: false, why: `${subject}: no alive incarnation, not a valid static member` };
    }
    case 'DOUBLE_ALLOCATION':
    case 'ENDPOINT_IP_CONFLICT': {
      const others = holders.filter(
        (h) =>
          h.pod !== (record?.pod ?? subject) ||
          (record?.podUid && h.uid !== record.podUid && rule === 'DOUBLE_ALLOCATION'),
      );
      if (others.length)
        return { legitimate: true, why: `${ip} held by ${others.map((h) => `${h.pod}@${h.uid}`).join(',')}` };
      return { legitimate: false, why: `${ip} held by no other incarnation` };
    }
    case 'STALE_ALLOCATION':
      if (record?.podUid && !truth.existsAt(record.podUid, t))
        return { legitimate: true, why: `incarnation ${record.pod}@${record.podUid} does not exist` };
      return { legitimate: false, why: `incarnation ${record?.pod}@${record?.podUid} exists` };
    default:
      return { legitimate: false, why: `rule ${rule} not replayed against the ground truth` };
  }
}

export function classifyDenials(events: AuditEventLike[], truth: GroundTruth): DenialSummary {
  const denied = events.filter((e) => e.event === 'admission.denied');
  const byRule: Record<string, number> = {};
  const byRequest = new Map<string, boolean[]>();
  const violations: ClassifiedViolation[] = [];
  for (const ev of denied) {
    const rule = str(ev.rule);
    byRule[rule] = (byRule[rule] ?? 0) + 1;
    const c = classify(ev, truth);
    violations.push({
      rule,
      time: Number.isNaN(eventTime(ev)) ? String(ev.time) : new Date(eventTime(ev)).toISOString(),
      user: str(ev.user),
      ip: str(ev.ip) || undefined,
      subject: str(ev.endpoint) || ev.record?.pod || `${str(ev.namespace)}/${str(ev.name)}`,
      ...c,
    });
    const req = str(ev.requestUID) || `${str(ev.time)}:${rule}`;
    byRequest.set(req, [...(byRequest.get(req) ?? []), c.legitimate]);
  }
  const falseDenials = [...byRequest.values()].filter((list) => list.every((legit) => !legit)).length;
  return { denials: byRequest.size, falseDenials, byRule, violations };
}
