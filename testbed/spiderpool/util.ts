/** Progress lines, sleeping and a seeded PRNG: the only helpers the chaos modules share. */

const t0 = Date.now();

/** One progress line on stderr: `[chaos 12.3s] component: message`. Silenced with SPG_BENCH_QUIET=1. */
export function say(component: string, message: string): void {
  if (process.env.SPG_BENCH_QUIET === '1') return;
  const secs = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[chaos ${secs}s] ${component}: ${message}\n`);
}

/** Detail lines, only with SPG_BENCH_DEBUG=1. */
export function debug(component: string, message: string): void {
  if (process.env.SPG_BENCH_DEBUG === '1') say(component, message);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same scenario decisions. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** uniform in [0, 1) */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** milliseconds in [0, maxMs] */
  delay(maxMs: number): number {
    return Math.round(this.next() * maxMs);
  }
}

/** Runs `fn` on a loop every `intervalMs` until stopped; errors are reported and the loop goes on. */
export class Loop {
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly fn: () => Promise<void>,
  ) {}
  start(): this {
    this.done = (async () => {
      while (!this.stopped) {
        try {
          await this.fn();
        } catch (err) {
          say(this.name, `loop error: ${(err as Error).message}`);
        }
        if (!this.stopped) await sleep(this.intervalMs);
      }
    })();
    return this;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** fn over the items, at most `limit` at a time; results in the items' order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
