/**
 * How much a case's figure would move if the case were run again, estimated from the case's own pairs (a bootstrap:
 * the pairs resampled with replacement, the figure recomputed each time). Two runs can only be expected to agree
 * as closely as this spread allows; `--compare` uses it to tell a case that moved beyond its noise from one whose
 * pairs were simply too scattered to pin its median down.
 */

/** A small seeded PRNG (mulberry32): the same pairs give the same spread on every run of the summary. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `iterations` values of `stat` over resamples (with replacement, same size) of `items`. */
export function bootstrap<T>(
  items: readonly T[],
  stat: (sample: T[]) => number,
  iterations: number,
  seed = 1,
): number[] {
  if (items.length === 0) return [];
  const random = seededRandom(seed);
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const sample = Array.from(items, () => items[Math.floor(random() * items.length)]);
    out.push(stat(sample));
  }
  return out;
}

/**
 * Standard deviation of the logarithms of positive values: the relative spread of a ratio (0.1 ≈ ±10%), symmetric
 * for ratios above and below 1. Non-finite and non-positive values are left out; NaN below two values.
 */
export function logSpread(values: readonly number[]): number {
  const logs = values.filter((v) => Number.isFinite(v) && v > 0).map(Math.log);
  if (logs.length < 2) return NaN;
  const mean = logs.reduce((s, x) => s + x, 0) / logs.length;
  return Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (logs.length - 1));
}

/** The q-quantile (0..1) of values, by the nearest-rank rule the load generator's percentiles use. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
