import { AuditEvent } from './events';

/** Where audit events go: the service log and an optional file (serve), memory (review, tests). */
export interface AuditSink {
  write(event: AuditEvent): void;
  reopen(): void;
  flush(): void;
}
