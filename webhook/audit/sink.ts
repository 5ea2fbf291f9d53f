// Where audit events go: the service log (audit: true) and, when configured, its own JSON-lines file, reopened on
// SIGHUP so logrotate works; or memory (review, tests).
import pino from 'pino';
import { Logger } from '../log';
import { AuditEvent } from './events';

/** Where audit events go: the service log and an optional file (serve), memory (review, tests). */
export interface AuditSink {
  write(event: AuditEvent): void;
  reopen(): void;
  flush(): void;
}

export class PinoAuditSink implements AuditSink {
  private readonly file?: pino.Logger;
  private readonly fileDest?: ReturnType<typeof pino.destination>;

  constructor(
    private readonly log: Logger,
    auditFile?: string,
  ) {
    if (auditFile) {
      // sync writes: an audit line must not be lost to a crash right after a denial
      this.fileDest = pino.destination({ dest: auditFile, sync: true, mkdir: true });
      this.file = pino({ base: undefined, timestamp: false, messageKey: 'msg' }, this.fileDest);
    }
  }

  write(event: AuditEvent): void {
    // the service logger stamps its own `time`; the event's would be a second one on the same line
    const { time: _time, ...fields } = event;
    this.log.info({ audit: true, ...fields }, 'audit');
    this.file?.info(event);
  }

  reopen(): void {
    this.fileDest?.reopen();
  }

  flush(): void {
    this.fileDest?.flushSync();
  }
}

/** Collects events in memory (tests, `review`). */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  write(event: AuditEvent): void {
    this.events.push(event);
  }
  reopen(): void {}
  flush(): void {}
}
