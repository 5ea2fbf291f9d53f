// Loggers: the service logger (pino, stdout) and the audit sink (every audit event goes to the service logger with
// audit: true, and, when configured, to its own JSON-lines file, reopened on SIGHUP so logrotate works).
import pino from 'pino';
import { AuditEvent } from './events';
import { AuditSink } from './events-sink';

export type { AuditSink };

export type Logger = pino.Logger;

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { service: 'spiderpool-guard' } }, destination ?? pino.destination(1));
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
    this.log.info({ audit: true, ...event }, 'audit');
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
