// webhook/audit: audit events and where they go. Used by admission/.
export { MAX_AUDIT_LINES_PER_REQUEST, auditEventsFor, countFixEvent } from './events';
export { DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES, MemoryAuditSink, PinoAuditSink } from './sink';
export type { AuditSink } from './sink';
