// Request bodies within a memory budget: the bytes of all bodies in flight are counted (Content-Length before
// reading, chunked bodies as they arrive). A body that does not fit waits for the budget, unread, for a bounded time
// (budget-queue.ts), and only then is answered 429 with Retry-After (the API server applies the webhook's
// failurePolicy). A parsed body costs a multiple of its bytes, so this budget is what keeps the heap inside
// --max-old-space-size (docs/operations.md, Memory).
import { IncomingMessage } from 'node:http';
import type { BudgetGate } from './budget-gate';
import { StringDecoder } from 'node:string_decoder';

/** Old + new object of a pool near etcd's 1.5 MiB object limit, JSON-escaped inside a JSON string, with headroom. */
export const BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/** A body read whole: its text (UTF-8 decoded) and its length in bytes. */
export type BodyOutcome =
  { ok: true; text: string; bytes: number } | { ok: false; status: 400 | 413 | 429; reason: string };

/**
 * Reads the body, holding its bytes in the budget until `release` is called (once, when the response is done).
 * 413 past `limit`. A body whose declared length does not fit yet is not read: it waits in `gate`'s line until its
 * bytes fit or `waitUntil` (the gate's clock) passes, then 429. Chunked bodies take their bytes as they arrive, and
 * get 429 when the next chunk does not fit.
 */
export function readBudgetedBody(
  req: IncomingMessage,
  gate: BudgetGate,
  limit: number,
  waitUntil: number,
): { outcome: Promise<BodyOutcome>; release: () => void } {
  let held = 0; // bytes of a chunked body taken so far
  let released = false;
  let endDeclared = () => undefined as void; // gives back a declared body's bytes, or stops its wait
  let resolveOutcome: (o: BodyOutcome) => void = () => undefined;
  const aborted: BodyOutcome = { ok: false, status: 400, reason: 'request body aborted' };
  const release = () => {
    if (released) return;
    released = true;
    endDeclared();
    resolveOutcome(aborted); // no-op once settled; ends a wait whose client went away
    if (held > 0) gate.give(held);
  };
  const take = (n: number, bodyBytes: number) => {
    if (released || !gate.tryTake(n, bodyBytes)) return false;
    held += n;
    return true;
  };
  const tooLarge = `body larger than ${limit} bytes`;
  const budgetBytes = gate.budget.limitBytes;
  const throttled = `over the in-flight budget of ${budgetBytes} request bytes; retry later`;
  const outcome = new Promise<BodyOutcome>((resolve) => {
    resolveOutcome = resolve;
    const header = req.headers['content-length'];
    const declared = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    if (declared !== undefined && declared > limit) return resolve({ ok: false, status: 413, reason: tooLarge });
    // Decoded chunk by chunk (a character split between chunks is completed by the next), never joined into one
    // Buffer: a Buffer of the whole body is memory outside the V8 heap, and that much of it per request made V8
    // start a full collection of the heap, caches included, several times a second under load ("external memory
    // pressure"); strings on the heap die young and cost a scavenge.
    const decoder = new StringDecoder('utf8');
    let text = '';
    let size = 0;
    const stop = (o: BodyOutcome) => {
      req.removeListener('data', onData);
      req.pause();
      resolve(o);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return stop({ ok: false, status: 413, reason: tooLarge });
      if (declared === undefined && !take(chunk.length, size))
        return stop({ ok: false, status: 429, reason: throttled });
      text += decoder.write(chunk);
    };
    const read = () => {
      req.on('data', onData);
      req.once('end', () => resolve({ ok: true, text: text + decoder.end(), bytes: size }));
    };
    req.once('error', () => resolve(aborted));
    if (declared === undefined) return read();
    const taken = gate.take(declared, waitUntil, (o) => {
      if (o === 'admitted') return read();
      const reason =
        o === 'full'
          ? `over the in-flight budget of ${budgetBytes} request bytes, and too many requests wait for it; retry later`
          : `over the in-flight budget of ${budgetBytes} request bytes until the wait's deadline; retry later`;
      resolve({ ok: false, status: 429, reason });
    });
    endDeclared = taken.end;
  });
  return { outcome, release };
}
