// The API server's error statuses, read once. Both webhook/cluster/ and certs/ talk to the API server, and certs/
// must not depend on webhook/ internals, so this sits in the neutral lib/ beside the IP code.

/** HTTP status of a client-node error (ApiException.code, or a numeric statusCode); undefined for transport errors. */
export function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** 404: the object (or the API) does not exist. */
export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
/** 409: a resourceVersion/uid precondition failed, or the object already exists. */
export const isConflict = (err: unknown): boolean => statusCodeOf(err) === 409;
/** 422: the write was rejected as invalid (a JSON patch `test` op that failed reads this way too). */
export const isInvalid = (err: unknown): boolean => statusCodeOf(err) === 422;
/** 410: a watch's resourceVersion is too old; relist. */
export const isGone = (err: unknown): boolean => statusCodeOf(err) === 410;

/** One line naming the cause: HTTP status and the API server's message, or the transport error. */
export function describeApiError(err: unknown): string {
  const status = statusCodeOf(err);
  if (status !== undefined) {
    let message = '';
    const body = (err as { body?: unknown }).body;
    try {
      const parsed = typeof body === 'string' ? JSON.parse(body) : body;
      if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
        message = (parsed as { message: string }).message;
      }
    } catch {
      message = typeof body === 'string' ? body.slice(0, 200) : '';
    }
    return `HTTP ${status}${message ? `: ${message}` : ''}`;
  }
  const e = err as { code?: unknown; message?: unknown };
  return `${typeof e?.code === 'string' ? `${e.code}: ` : ''}${String(e?.message ?? err)}`.replace(/\s*\n\s*/g, ' ');
}
