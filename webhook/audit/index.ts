// webhook/audit: audit events and where they go. Used by admission/.
// How to change this room: a new audit event is a variant in events.ts and a line in docs/operations.md (Audit log); test/unit/audit/ checks the sink, test/unit/admission/decision-events.test.ts what a decision writes.
export { MAX_AUDIT_LINES_PER_REQUEST, auditEventsFor, countFixEvent } from './events';
export { DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES, MemoryAuditSink, PinoAuditSink } from './sink';
export type { AuditSink } from './sink';
