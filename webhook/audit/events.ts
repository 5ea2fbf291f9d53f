// Audit events (docs/operations.md, Audit log): one JSON object per violation and decision, explainable on its own.
import { Judged, Outcome, GuardRequest, COUNT_MISMATCH } from '../guard';
import { MAX_DETAIL_CHARS, cut } from '../../lib/bounds';

export type AuditEventName =
  'admission.denied' | 'admission.warned' | 'admission.audited' | 'admission.repaired' | 'admission.truncated';

export interface AuditEvent {
  time: string;
  event: AuditEventName;
  rule: string;
  mode: string;
  requestUID: string;
  operation: string;
  resource: { group: string; version: string; resource: string; subResource: string };
  name: string;
  namespace: string;
  user: string;
  groups: string[];
  ip?: string;
  pool?: string;
  endpoint?: string;
  record?: { pod: string; podUid: string };
  livePod?: { name: string; uid: string; phase: string; observedIPs: string[]; deleting: boolean };
  exempt?: boolean;
  dryRun?: boolean;
  /** admission.truncated: violation lines of this request left out (a lower bound when `atLeast`) */
  omitted?: number;
  atLeast?: boolean;
  message: string;
}

/** Violation lines per request; past it one admission.truncated line says how many were left out. */
export const MAX_AUDIT_LINES_PER_REQUEST = 100;
/** Groups copied into a line: the API server's are a handful; a hostile caller's list is cut. */
const MAX_GROUPS = 32;

const EVENT_OF: Record<Outcome, AuditEventName> = {
  denied: 'admission.denied',
  warned: 'admission.warned',
  audited: 'admission.audited',
  repaired: 'admission.repaired',
};

function requestPart(req: GuardRequest, now: Date) {
  return {
    time: now.toISOString(),
    requestUID: cut(req.uid),
    operation: req.operation,
    resource: {
      group: cut(req.resource.group),
      version: cut(req.resource.version),
      resource: cut(req.resource.resource),
      subResource: cut(req.subResource ?? ''),
    },
    name: cut(req.name ?? ''),
    namespace: cut(req.namespace ?? ''),
    user: cut(req.user),
    groups: req.groups.slice(0, MAX_GROUPS).map((g) => cut(g)),
    ...(req.dryRun ? { dryRun: true } : {}),
  };
}

function violationPart(j: Judged) {
  const v = j.violation;
  return {
    ip: v.ip === undefined ? undefined : cut(v.ip),
    pool: v.pool === undefined ? undefined : cut(v.pool),
    endpoint: v.endpoint === undefined ? undefined : cut(v.endpoint),
    record: v.record && { pod: cut(v.record.pod), podUid: cut(v.record.podUid) },
    livePod: v.livePod && {
      ...v.livePod,
      name: cut(v.livePod.name),
      uid: cut(v.livePod.uid),
      phase: cut(v.livePod.phase),
      observedIPs: v.livePod.observedIPs.slice(0, MAX_GROUPS).map((ip) => cut(ip)),
    },
  };
}

/**
 * One line per judged violation, at most MAX_AUDIT_LINES_PER_REQUEST, then one admission.truncated line with the
 * number left out: the kept violations beyond the cap plus `omitted` (found by the evaluation but never kept).
 */
export function auditEventsFor(
  req: GuardRequest,
  judged: Judged[],
  now: Date,
  omitted = 0,
  atLeast = false,
): AuditEvent[] {
  const lines: AuditEvent[] = judged.slice(0, MAX_AUDIT_LINES_PER_REQUEST).map((j) => ({
    ...requestPart(req, now),
    event: EVENT_OF[j.outcome],
    rule: j.violation.rule,
    mode: j.mode,
    ...violationPart(j),
    ...(j.exempt ? { exempt: true } : {}),
    message: cut(j.message, MAX_DETAIL_CHARS * 4),
  }));
  const left = judged.length - lines.length + omitted;
  if (left > 0 || atLeast) {
    const rules = [...new Set(judged.map((j) => j.violation.rule))].join(',');
    lines.push({
      ...requestPart(req, now),
      event: 'admission.truncated',
      rule: cut(rules, MAX_DETAIL_CHARS),
      mode: '',
      omitted: left,
      ...(atLeast ? { atLeast: true } : {}),
      message: `${atLeast ? 'at least ' : ''}${left} more violation lines of this request left out (at most ${MAX_AUDIT_LINES_PER_REQUEST} per request)`,
    });
  }
  return lines;
}

export function countFixEvent(req: GuardRequest, pool: string, message: string, now: Date): AuditEvent {
  return {
    ...requestPart(req, now),
    event: 'admission.repaired',
    rule: COUNT_MISMATCH,
    mode: 'repair',
    pool: cut(pool),
    message: cut(message, MAX_DETAIL_CHARS),
  };
}
