/**
 * What a run of `bench admission` keeps of each case (its `--out` JSON) and the table it prints: one place, so the
 * JSON `--compare` reads and the table a reader sees cannot drift apart.
 */
import type { ReviewKind } from './fixtures';
import type { InterleavedSummary, LoadSummary } from './interleave';

export interface Case extends InterleavedSummary {
  records: number;
  concurrency: number;
  webhook: 'validate' | 'mutate';
  review: ReviewKind;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

const slim = (l: LoadSummary) => ({
  p50Ms: r2(l.p50Ms),
  p99Ms: r2(l.p99Ms),
  rps: Math.round(l.rps),
  requests: l.requests,
  errors: l.errors,
});

/** A case as the `--out` file holds it (figures rounded; every pair's ratios kept for `--compare`). */
export function caseRecord(c: Case) {
  return {
    records: c.records,
    concurrency: c.concurrency,
    webhook: c.webhook,
    review: c.review,
    guard: slim(c.guard),
    baseline: slim(c.baseline),
    p99Ratio: r2(c.p99Ratio),
    p99RatioMin: r2(c.p99RatioMin),
    p99RatioMax: r2(c.p99RatioMax),
    p99PooledRatio: r2(c.p99PooledRatio),
    p99PooledRatioLow: r2(c.p99PooledRatioLow),
    p99PooledRatioHigh: r2(c.p99PooledRatioHigh),
    rpsRatio: r2(c.rpsRatio),
    rpsRatioMin: r2(c.rpsRatioMin),
    rpsRatioMax: r2(c.rpsRatioMax),
    cpuRatio: r2(c.cpuRatio),
    cpuRatioMin: r2(c.cpuRatioMin),
    cpuRatioMax: r2(c.cpuRatioMax),
    spread: {
      p99: r3(c.spread.p99),
      p99Pooled: r3(c.spread.p99Pooled),
      rps: r3(c.spread.rps),
      cpu: r3(c.spread.cpu),
    },
    pairs: c.pairs,
    p99Ratios: c.p99Ratios.map(r2),
    rpsRatios: c.rpsRatios.map(r2),
    cpuRatios: c.cpuRatios.map(r2),
  };
}

export type CaseRecord = ReturnType<typeof caseRecord>;

/** The per-case markdown table: both sides' figures, then each ratio with its range over the pairs. */
export function caseTable(cases: readonly CaseRecord[]): string[] {
  return [
    '| records | conc. | webhook/review | guard p50 ms | guard p99 ms | guard req/s | baseline p50 ms | baseline p99 ms | baseline req/s | p99 ratio, pairs | p99 ratio, pooled (5–95%) | req/s ratio | CPU/request ratio |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...cases.map(
      (c) =>
        `| ${c.records} | ${c.concurrency} | ${c.webhook}/${c.review} | ${c.guard.p50Ms} | ${c.guard.p99Ms} | ${c.guard.rps} | ${c.baseline.p50Ms} | ${c.baseline.p99Ms} | ${c.baseline.rps} | ` +
        `${c.p99Ratio} (${c.p99RatioMin}–${c.p99RatioMax}) | ${c.p99PooledRatio} (${c.p99PooledRatioLow}–${c.p99PooledRatioHigh}) | ` +
        `${c.rpsRatio} (${c.rpsRatioMin}–${c.rpsRatioMax}) | ${c.cpuRatio} (${c.cpuRatioMin}–${c.cpuRatioMax}) |`,
    ),
  ];
}
