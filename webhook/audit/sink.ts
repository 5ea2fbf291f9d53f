// Where audit events go: the service log (audit: true) and, when configured, its own JSON-lines file, rotated by size
// and reopened on SIGHUP (external logrotate works too); or memory (review, tests). Writing never holds a decision
// up: lines wait in a bounded queue per sink, drained a batch per event-loop turn; what does not fit is dropped and
// counted (spiderpool_guard_audit_lines_dropped_total{sink}), never silently.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Counter, Registry } from 'prom-client';
import { Logger } from '../log';
import { AuditEvent } from './events';

/** Where audit events go: the service log and an optional file (serve), memory (review, tests). */
export interface AuditSink {
  write(event: AuditEvent): void;
  reopen(): void;
  flush(): void;
}

/** Lines queued per sink; one hostile request yields at most 101, so this holds a burst of them. */
export const DEFAULT_AUDIT_QUEUE_LINES = 10_000;
/** Size at which the audit file is rotated, and rotated files kept: (1 + 4) x 40 MiB fits the chart's 256 Mi volume. */
export const DEFAULT_AUDIT_MAX_BYTES = 40 * 1024 * 1024;
export const DEFAULT_AUDIT_MAX_FILES = 4;
/** Lines written per event-loop turn, so a long queue never blocks the decisions waiting behind it. */
const DRAIN_BATCH = 256;

export interface AuditSinkOptions {
  file?: string;
  maxBytes?: number;
  /** rotated files kept: FILE.1 (newest) .. FILE.N */
  maxFiles?: number;
  queueLines?: number;
  registry?: Registry;
}

/** A JSON-lines file rotated at maxBytes: FILE -> FILE.1 -> ... -> FILE.maxFiles (dropped). Sync writes: a line
 * written is on disk should the process die right after a denial. */
class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a');
    this.size = fs.fstatSync(this.fd).size;
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    fs.writeSync(this.fd, line);
    this.size += bytes;
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    for (let i = this.maxFiles; i >= 1; i--) {
      const from = i === 1 ? this.file : `${this.file}.${i - 1}`;
      try {
        if (this.maxFiles === 0) fs.rmSync(this.file, { force: true });
        else fs.renameSync(from, `${this.file}.${i}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (this.maxFiles === 0) fs.rmSync(this.file, { force: true });
    this.open();
  }

  /** After an external rotation (SIGHUP): write to a new file at the path. */
  open(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed (rotate)
    }
    this.fd = fs.openSync(this.file, 'a');
    this.size = fs.fstatSync(this.fd).size;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export class PinoAuditSink implements AuditSink {
  private readonly file?: RotatingFile;
  private readonly stdoutQueue: AuditEvent[] = [];
  private readonly fileQueue: string[] = [];
  private readonly dropped: Counter<'sink'>;
  private readonly queueLines: number;
  private scheduled = false;

  constructor(
    private readonly log: Logger,
    options: AuditSinkOptions | string = {},
  ) {
    const o = typeof options === 'string' ? { file: options } : options;
    this.queueLines = o.queueLines ?? DEFAULT_AUDIT_QUEUE_LINES;
    if (o.file)
      this.file = new RotatingFile(
        o.file,
        o.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES,
        o.maxFiles ?? DEFAULT_AUDIT_MAX_FILES,
      );
    this.dropped = new Counter({
      name: 'spiderpool_guard_audit_lines_dropped_total',
      help: 'Audit lines dropped because the bounded audit queue of that sink (stdout, file) was full',
      labelNames: ['sink'],
      registers: o.registry ? [o.registry] : [],
    });
    this.dropped.inc({ sink: 'stdout' }, 0);
    if (this.file) this.dropped.inc({ sink: 'file' }, 0);
  }

  write(event: AuditEvent): void {
    if (this.stdoutQueue.length < this.queueLines) this.stdoutQueue.push(event);
    else this.dropped.inc({ sink: 'stdout' });
    if (this.file) {
      if (this.fileQueue.length < this.queueLines) this.fileQueue.push(JSON.stringify(event) + '\n');
      else this.dropped.inc({ sink: 'file' });
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain(DRAIN_BATCH);
      if (this.stdoutQueue.length || this.fileQueue.length) this.schedule();
    });
  }

  private drain(max: number): void {
    for (const event of this.stdoutQueue.splice(0, max)) {
      // the service logger stamps its own `time`; the event's would be a second one on the same line
      const { time: _time, ...fields } = event;
      this.log.info({ audit: true, ...fields }, 'audit');
    }
    const lines = this.fileQueue.splice(0, max);
    if (this.file && lines.length) {
      try {
        for (const l of lines) this.file.write(l);
      } catch (err) {
        this.dropped.inc({ sink: 'file' }, lines.length);
        this.log.error({ err }, 'audit file write failed; lines dropped');
      }
    }
  }

  reopen(): void {
    this.file?.open();
  }

  /** Writes everything queued now (shutdown, tests). */
  flush(): void {
    this.drain(Infinity);
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
