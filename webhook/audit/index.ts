// webhook/audit: audit events and where they go. Used by admission/.
export { auditEventsFor, countFixEvent } from './events';
export { MemoryAuditSink, PinoAuditSink } from './sink';
export type { AuditSink } from './sink';
