// A watch read as it arrives: the API server writes one JSON event per line ({"type","object"}), and each line is
// parsed as soon as it is complete, so at most one event's text is held, however many objects a streaming list
// sends (100,000 pods are ~400 MB of JSON). client-node's Watch does the same through readline but cannot say what
// the stream cost (bytes, time to the first event, parse time) nor what the server answered when it refused a watch.
import { IncomingMessage } from 'node:http';
import { KubeObject } from '../model';
import { KubeHttpError, statusMessage } from './kube-http';

export class WatchStreamError extends Error {}

/** An event line longer than this ends the watch: no single object the API server stores comes near it. */
export const MAX_EVENT_BYTES = 64 * 2 ** 20;
const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines (without the newline), handing each complete one to `line`. A newline byte never
 * occurs inside a multi-byte UTF-8 character, so lines are cut on bytes and decoded whole.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly line: (bytes: Buffer) => void,
    private readonly maxLineBytes = MAX_EVENT_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      const tail = chunk.subarray(start, nl);
      const whole = this.pending.length ? Buffer.concat([...this.pending, tail]) : tail;
      this.pending = [];
      this.pendingBytes = 0;
      if (whole.length > 0) this.line(whole);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > this.maxLineBytes)
        throw new WatchStreamError(`watch event longer than ${this.maxLineBytes} bytes`);
    }
  }

  /** Bytes of an unfinished line (a stream that ends with some was cut short). */
  get unfinished(): number {
    return this.pendingBytes;
  }
}

export interface WatchHandlers {
  event(type: string, object: KubeObject): void;
  /** once: null when the server ended the watch normally, else the error */
  done(err: unknown): void;
}

/** What a stream cost, for bench scale: filled in as lines arrive (only when asked for). */
export interface WatchMeter {
  /** request sent → first byte of the body (the first event) */
  firstByte(ms: number): void;
  /** one event line: its size and the time JSON.parse took */
  line(bytes: number, parseMs: number): void;
}

export interface OpenWatch {
  abort(): void;
}

/** Reads an error answer's Status message: its first 64 KiB, for at most 5 s. */
async function errorOf(path: string, res: IncomingMessage, controller: AbortController): Promise<KubeHttpError> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      if (size < 64 * 1024) chunks.push(c);
      size += c.length;
    }
  } catch {
    // cut short: the status alone says enough
  } finally {
    clearTimeout(timer);
  }
  const message = statusMessage(Buffer.concat(chunks).toString('utf8'));
  return new KubeHttpError(`watch ${path}: HTTP ${res.statusCode}: ${message}`, res.statusCode ?? 0);
}

export interface StreamSource {
  stream(path: string, signal: AbortSignal, headersTimeoutMs?: number): Promise<IncomingMessage>;
}

/**
 * Opens a watch on `path` (query included, `watch=1` added here). Resolves once the API server accepted it (HTTP
 * 200); rejects with a KubeHttpError carrying the status and the server's message when it refused, or with the
 * transport error. After that, `handlers.done` is called exactly once, unless the caller aborted.
 */
export async function openWatch(
  http: StreamSource,
  path: string,
  handlers: WatchHandlers,
  meter?: WatchMeter,
): Promise<OpenWatch> {
  const controller = new AbortController();
  const url = `${path}${path.includes('?') ? '&' : '?'}watch=1`;
  const sentAt = performance.now();
  const res = await http.stream(url, controller.signal, 30_000);
  if (res.statusCode !== 200) throw await errorOf(path, res, controller);
  let finished = false;
  const finish = (err: unknown) => {
    if (finished) return;
    finished = true;
    controller.abort();
    if (!aborted) handlers.done(err);
  };
  let aborted = false;
  let firstByte = true;
  const lines = new LineSplitter((bytes) => {
    const t0 = meter ? performance.now() : 0;
    const e = JSON.parse(bytes.toString('utf8')) as { type?: string; object?: KubeObject };
    if (meter) meter.line(bytes.length + 1, performance.now() - t0);
    if (typeof e.type !== 'string' || typeof e.object !== 'object' || e.object === null)
      throw new WatchStreamError(`watch ${path}: not a watch event: ${bytes.toString('utf8', 0, 200)}`);
    handlers.event(e.type, e.object);
  });
  res.on('data', (chunk: Buffer) => {
    if (finished) return;
    if (firstByte && meter) meter.firstByte(performance.now() - sentAt);
    firstByte = false;
    try {
      lines.push(chunk);
    } catch (err) {
      finish(err);
    }
  });
  res.on('end', () =>
    finish(lines.unfinished > 0 ? new WatchStreamError(`watch ${path}: the stream ended inside an event`) : null),
  );
  res.on('error', finish);
  res.on('close', () => finish(res.complete ? null : new WatchStreamError(`watch ${path}: connection closed`)));
  return {
    abort: () => {
      aborted = true;
      finish(null);
    },
  };
}
