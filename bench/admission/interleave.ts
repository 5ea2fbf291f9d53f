/**
 * Guard and baseline measured in alternating short slices (guard, baseline, guard, baseline, ...): each adjacent
 * pair ran under nearly the same machine load, so its ratio cancels what the other tenants of the machine were
 * doing at that moment. A case reports the median of its pair ratios and their range, not the ratio of two long
 * runs made one after the other (which measured the machine's load swings as much as the guard).
 */
import { percentile, type SliceResult } from './load';
import { bootstrap, logSpread, quantile } from './spread';

export interface SlicePair {
  guard: SliceResult;
  baseline: SliceResult;
  /** CPU seconds the guard / baseline server process used during its slice (user + system) */
  guardCpuSeconds?: number;
  baselineCpuSeconds?: number;
}

export interface LoadSummary {
  /** pooled over the case's slices */
  p50Ms: number;
  p99Ms: number;
  /** requests / measured seconds over the case's slices */
  rps: number;
  requests: number;
  errors: number;
}

export interface InterleavedSummary {
  guard: LoadSummary;
  baseline: LoadSummary;
  /** median over the pairs of guard p99 / baseline p99 */
  p99Ratio: number;
  p99RatioMin: number;
  p99RatioMax: number;
  /** median over the pairs of guard rps / baseline rps */
  rpsRatio: number;
  rpsRatioMin: number;
  rpsRatioMax: number;
  /**
   * median over the pairs of the guard's CPU time per request / the baseline's: what a request costs the server
   * whatever share of the CPU the other tenants left it (NaN when not measured)
   */
  cpuRatio: number;
  cpuRatioMin: number;
  cpuRatioMax: number;
  /**
   * guard p99 / baseline p99, each pooled over all the case's slices. A slice of a slow case holds 100–200
   * requests, so its p99 is its slowest one or two and a pair's p99 ratio is mostly chance; pooled over the case's
   * ABBA-ordered slices, both sides' p99 rest on 7× the samples under the same mix of machine load.
   */
  p99PooledRatio: number;
  /** 5th and 95th percentiles of the pooled ratio over resamples of the pairs */
  p99PooledRatioLow: number;
  p99PooledRatioHigh: number;
  /**
   * How far each figure may move on a second run, from this run's pairs alone: the standard deviation of the
   * figure's logarithm over resamples of the pairs (0.05 ≈ ±5%).
   */
  spread: { p99: number; p99Pooled: number; rps: number; cpu: number };
  pairs: number;
  /** every pair's ratios, in the order measured */
  p99Ratios: number[];
  rpsRatios: number[];
  cpuRatios: number[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Every latency of several slices, sorted (a typed array: sorted numerically without a comparator). */
function pooledLatencies(slices: readonly SliceResult[]): Float64Array {
  const all = new Float64Array(slices.reduce((n, s) => n + s.latencies.length, 0));
  let at = 0;
  for (const s of slices) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  return all.sort();
}

function pooled(slices: SliceResult[]): LoadSummary {
  const all = pooledLatencies(slices);
  const requests = slices.reduce((n, s) => n + s.requests, 0);
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  return {
    p50Ms: percentile(all, 0.5),
    p99Ms: percentile(all, 0.99),
    rps: seconds > 0 ? requests / seconds : 0,
    requests,
    errors: slices.reduce((n, s) => n + s.errors, 0),
  };
}

/** the pooled p99 ratio of a resample of the pairs (pooled() of its guard and baseline slices, p99 only) */
const pooledRatio = (pairs: readonly SlicePair[]) =>
  percentile(pooledLatencies(pairs.map((p) => p.guard)), 0.99) /
  percentile(pooledLatencies(pairs.map((p) => p.baseline)), 0.99);

// Resamples per spread: medians are cheap; a pooled p99 sorts every latency of the case (tens of thousands at c=32).
const MEDIAN_RESAMPLES = 2000;
const POOLED_RESAMPLES = 200;

/** the spread of the median of `ratios` over resamples of the pairs */
const medianSpread = (ratios: number[]) => logSpread(bootstrap(ratios, median, MEDIAN_RESAMPLES));

export function summarizePairs(pairs: SlicePair[]): InterleavedSummary {
  const p99 = pairs.map((p) => p.guard.p99Ms / p.baseline.p99Ms);
  const rps = pairs.map((p) => p.guard.rps / p.baseline.rps);
  const perRequest = (cpu: number | undefined, s: SliceResult) =>
    cpu === undefined || s.requests === 0 ? NaN : cpu / s.requests;
  const cpu = pairs.map((p) => perRequest(p.guardCpuSeconds, p.guard) / perRequest(p.baselineCpuSeconds, p.baseline));
  const pooledResamples = bootstrap(pairs, pooledRatio, POOLED_RESAMPLES);
  const guard = pooled(pairs.map((p) => p.guard));
  const baseline = pooled(pairs.map((p) => p.baseline));
  return {
    guard,
    baseline,
    p99Ratio: median(p99),
    p99RatioMin: Math.min(...p99),
    p99RatioMax: Math.max(...p99),
    rpsRatio: median(rps),
    rpsRatioMin: Math.min(...rps),
    rpsRatioMax: Math.max(...rps),
    cpuRatio: median(cpu),
    cpuRatioMin: Math.min(...cpu),
    cpuRatioMax: Math.max(...cpu),
    p99PooledRatio: guard.p99Ms / baseline.p99Ms,
    p99PooledRatioLow: quantile(pooledResamples, 0.05),
    p99PooledRatioHigh: quantile(pooledResamples, 0.95),
    spread: {
      p99: medianSpread(p99),
      p99Pooled: logSpread(pooledResamples),
      rps: medianSpread(rps),
      cpu: medianSpread(cpu),
    },
    pairs: pairs.length,
    p99Ratios: p99,
    rpsRatios: rps,
    cpuRatios: cpu,
  };
}
