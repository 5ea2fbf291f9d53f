// Waiting on a promise no longer than an AbortSignal allows: the reconciler's own deadlines (Lease call timeouts,
// the end of a leadership term) must hold even against a port implementation that ignores the signal.

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
