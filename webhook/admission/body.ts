// Request bodies within a memory budget: the bytes of all bodies in flight are counted (Content-Length before
// reading, chunked bodies as they arrive); past the budget the server answers 429 with Retry-After and the API
// server applies the webhook's failurePolicy. A parsed body costs a multiple of its bytes, so this budget is what
// keeps the heap inside --max-old-space-size (docs/operations.md, Memory).
import { IncomingMessage } from 'node:http';

/** Old + new object of a pool near etcd's 1.5 MiB object limit, JSON-escaped inside a JSON string, with headroom. */
export const BODY_LIMIT_BYTES = 16 * 1024 * 1024;
/** Default in-flight budget: four bodies at the limit (the chart derives it from the memory limit). */
export const DEFAULT_INFLIGHT_BUDGET_BYTES = 64 * 1024 * 1024;

export class InflightBudget {
  private used = 0;

  constructor(
    readonly limitBytes: number,
    private readonly onChange: (bytes: number) => void = () => undefined,
  ) {}

  /** Takes n bytes if they fit (a lone request always fits, so a body at the size limit is never refused forever). */
  tryTake(n: number): boolean {
    if (this.used > 0 && this.used + n > this.limitBytes) return false;
    this.used += n;
    this.onChange(this.used);
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
    this.onChange(this.used);
  }

  get inUse(): number {
    return this.used;
  }
}

export type BodyOutcome = { ok: true; body: Buffer } | { ok: false; status: 400 | 413 | 429; reason: string };

/**
 * Reads the body, holding its bytes in `budget` until `release` is called (once, when the response is done).
 * 413 past `limit`, 429 when the budget cannot take the declared length or, for chunked bodies, the next chunk.
 */
export function readBudgetedBody(req: IncomingMessage, budget: InflightBudget, limit: number): { outcome: Promise<BodyOutcome>; release: () => void } {
  let held = 0;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    budget.give(held);
  };
  const take = (n: number) => {
    if (released || !budget.tryTake(n)) return false;
    held += n;
    return true;
  };
  const tooLarge = `body larger than ${limit} bytes`;
  const throttled = `over the in-flight budget of ${budget.limitBytes} request bytes; retry later`;
  const outcome = new Promise<BodyOutcome>((resolve) => {
    const header = req.headers['content-length'];
    const declared = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    if (declared !== undefined && declared > limit) return resolve({ ok: false, status: 413, reason: tooLarge });
    if (declared !== undefined && !take(declared)) return resolve({ ok: false, status: 429, reason: throttled });
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (o: BodyOutcome) => {
      req.removeListener('data', onData);
      req.pause();
      resolve(o);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return stop({ ok: false, status: 413, reason: tooLarge });
      if (declared === undefined && !take(chunk.length)) return stop({ ok: false, status: 429, reason: throttled });
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve({ ok: true, body: Buffer.concat(chunks, size) }));
    req.once('error', () => resolve({ ok: false, status: 400, reason: 'request body aborted' }));
  });
  return { outcome, release };
}
