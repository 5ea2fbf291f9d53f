// The decision deadline from the `timeout` query parameter the API server adds to each webhook call (the webhook's
// timeoutSeconds as a Go duration, e.g. "5s"): the guard answers before the API server gives up on it.

/** The API server's default webhook timeout (timeoutSeconds unset). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** timeoutSeconds is at most 30. */
const MAX_WEBHOOK_TIMEOUT_MS = 30_000;
/** Left for the answer to reach the API server. */
export const DEADLINE_MARGIN_MS = 1_000;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go time.Duration string ("5s", "1m30s", "1.5s", "500ms") in milliseconds; undefined when it is not one or not positive. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 && Number.isFinite(ms) ? ms : undefined;
}

/**
 * Milliseconds a decision may take: the webhook timeout (default 10 s, at most 30 s) minus a 1 s margin, but never
 * less than half the timeout (timeoutSeconds: 1 leaves 500 ms).
 */
export function decisionBudgetMs(timeoutParam: string | undefined | null): number {
  const parsed = timeoutParam ? parseGoDuration(timeoutParam) : undefined;
  const timeout = Math.min(parsed ?? DEFAULT_WEBHOOK_TIMEOUT_MS, MAX_WEBHOOK_TIMEOUT_MS);
  return Math.max(timeout - DEADLINE_MARGIN_MS, timeout / 2);
}
