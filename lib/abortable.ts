// Waiting on a promise no longer than an AbortSignal allows: a deadline (an admission decision's, a Lease call's, the
// end of a leadership term) must hold even against a call that ignores the signal; the call itself may go on.

/** Settles like `p`, or rejects with the signal's reason as soon as `signal` fires. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
