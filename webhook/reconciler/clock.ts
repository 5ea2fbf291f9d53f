// Time for the reconciler's logic (settling, rate limiting, leases, debouncing), injected so tests need no sleeps.

/** Time, injected so that logic depending on it is testable without sleeping. */
export interface Clock {
  now(): number;
  /** resolves after ms, or at once when the signal aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** Runs fn once `ms` have passed on `clock`; the returned function cancels it. */
export function afterDelay(clock: Clock, ms: number, fn: () => void): () => void {
  const cancel = new AbortController();
  void clock.sleep(ms, cancel.signal).then(() => {
    if (!cancel.signal.aborted) fn();
  });
  return () => cancel.abort();
}
