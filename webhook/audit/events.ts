// Audit events (docs/operations.md, Audit log): one JSON object per violation and decision, explainable on its own.
import { Judged, Outcome, GuardRequest, COUNT_MISMATCH } from '../guard';

export type AuditEventName = 'admission.denied' | 'admission.warned' | 'admission.audited' | 'admission.repaired';

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
  message: string;
}

const EVENT_OF: Record<Outcome, AuditEventName> = {
  denied: 'admission.denied',
  warned: 'admission.warned',
  audited: 'admission.audited',
  repaired: 'admission.repaired',
};

function requestPart(req: GuardRequest, now: Date) {
  return {
    time: now.toISOString(),
    requestUID: req.uid,
    operation: req.operation,
    resource: { ...req.resource, subResource: req.subResource ?? '' },
    name: req.name ?? '',
    namespace: req.namespace ?? '',
    user: req.user,
    groups: req.groups,
    ...(req.dryRun ? { dryRun: true } : {}),
  };
}

export function auditEventsFor(req: GuardRequest, judged: Judged[], now: Date): AuditEvent[] {
  return judged.map((j) => ({
    ...requestPart(req, now),
    event: EVENT_OF[j.outcome],
    rule: j.violation.rule,
    mode: j.mode,
    ip: j.violation.ip,
    pool: j.violation.pool,
    endpoint: j.violation.endpoint,
    record: j.violation.record,
    livePod: j.violation.livePod,
    ...(j.exempt ? { exempt: true } : {}),
    message: j.message,
  }));
}

export function countFixEvent(req: GuardRequest, pool: string, message: string, now: Date): AuditEvent {
  return { ...requestPart(req, now), event: 'admission.repaired', rule: COUNT_MISMATCH, mode: 'repair', pool, message };
}
