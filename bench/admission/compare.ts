/**
 * `npm run -s bench -- admission --compare run1.json run2.json`: do two runs (their `--out` files) agree?
 * For every case, the median p99 and throughput ratios of both runs, how far the second is from the first, and
 * whether that is within the ±15% the benchmark is expected to reproduce to.
 */
import * as fs from 'node:fs';
import { median, type InterleavedSummary } from './interleave';

export const AGREEMENT = 0.15;

/** A case as a run's --out file holds it: the interleaved summary's ratios (cpuRatio only in newer runs). */
type RunCase = { records: number; concurrency: number; webhook: string; review: string } & Pick<
  InterleavedSummary,
  'p99Ratio' | 'p99RatioMin' | 'p99RatioMax' | 'rpsRatio' | 'rpsRatioMin' | 'rpsRatioMax'
> &
  Partial<Pick<InterleavedSummary, 'cpuRatio'>>;

interface RunFile {
  date?: string;
  load?: { before?: string; after?: string };
  cases: RunCase[];
}

const keyOf = (c: RunCase) => `${c.records} c=${c.concurrency} ${c.webhook}/${c.review}`;

/** b relative to a (a ratio of medians, so "within ±15%" is symmetric enough for figures this close to 1) */
export function deviation(a: number, b: number): number {
  return b / a - 1;
}

export interface Agreement {
  key: string;
  p99: [number, number];
  rps: [number, number];
  p99Deviation: number;
  rpsDeviation: number;
}

export function agreements(a: RunCase[], b: RunCase[]): Agreement[] {
  const second = new Map(b.map((c) => [keyOf(c), c]));
  return a.flatMap((x) => {
    const y = second.get(keyOf(x));
    if (!y) return [];
    return [
      {
        key: keyOf(x),
        p99: [x.p99Ratio, y.p99Ratio],
        rps: [x.rpsRatio, y.rpsRatio],
        p99Deviation: deviation(x.p99Ratio, y.p99Ratio),
        rpsDeviation: deviation(x.rpsRatio, y.rpsRatio),
      },
    ];
  });
}

const pct = (d: number) => `${d >= 0 ? '+' : ''}${(d * 100).toFixed(0)}%`;
const ok = (d: number) => (Math.abs(d) <= AGREEMENT ? '' : ' ✗');

export function compareRuns(fileA: string | undefined, fileB: string | undefined): number {
  if (!fileA || !fileB) {
    process.stderr.write('usage: npm run -s bench -- admission --compare run1.json run2.json\n');
    return 2;
  }
  const [a, b] = [fileA, fileB].map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile);
  const rows = agreements(a.cases, b.cases);
  const byKey = (cases: RunCase[]) => new Map(cases.map((c) => [keyOf(c), c]));
  const [ca, cb] = [byKey(a.cases), byKey(b.cases)];
  const range = (c: RunCase | undefined, m: 'p99' | 'rps') => (c ? `${c[`${m}RatioMin`]}–${c[`${m}RatioMax`]}` : '');
  const lines = [
    `run 1: ${a.date ?? fileA} (${a.load?.before ?? 'load not recorded'})`,
    `run 2: ${b.date ?? fileB} (${b.load?.before ?? 'load not recorded'})`,
    '',
    '| case | p99 ratio run 1 (min–max) | run 2 (min–max) | Δ | req/s ratio run 1 (min–max) | run 2 (min–max) | Δ |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.key} | ${r.p99[0]} (${range(ca.get(r.key), 'p99')}) | ${r.p99[1]} (${range(cb.get(r.key), 'p99')}) | ${pct(r.p99Deviation)}${ok(r.p99Deviation)} ` +
        `| ${r.rps[0]} (${range(ca.get(r.key), 'rps')}) | ${r.rps[1]} (${range(cb.get(r.key), 'rps')}) | ${pct(r.rpsDeviation)}${ok(r.rpsDeviation)} |`,
    ),
    '',
  ];
  const cpu = a.cases.flatMap((x) => {
    const y = cb.get(keyOf(x));
    return x.cpuRatio !== undefined && y?.cpuRatio !== undefined ? [deviation(x.cpuRatio, y.cpuRatio)] : [];
  });
  if (cpu.length) {
    lines.push(
      `CPU/request ratio medians within ±${AGREEMENT * 100}%: ${cpu.filter((d) => Math.abs(d) <= AGREEMENT).length}/${cpu.length} ` +
        `(worst ${pct(cpu.reduce((m, d) => (Math.abs(d) > Math.abs(m) ? d : m), 0))})`,
    );
  }
  const within = (sel: (r: Agreement) => number) => rows.filter((r) => Math.abs(sel(r)) <= AGREEMENT).length;
  const worst = (sel: (r: Agreement) => number) => rows.reduce((m, r) => Math.max(m, Math.abs(sel(r))), 0);
  lines.push(
    `medians within ±${AGREEMENT * 100}%: p99 ratio ${within((r) => r.p99Deviation)}/${rows.length} (worst ${pct(worst((r) => r.p99Deviation))}), ` +
      `req/s ratio ${within((r) => r.rpsDeviation)}/${rows.length} (worst ${pct(worst((r) => r.rpsDeviation))})`,
  );
  // How far apart two runs' medians can be expected to land, from the spread of the pairs inside each run: a median
  // of n pair ratios whose logs spread with σ varies by about 1.25 σ / √n (σ estimated from the range, d2(n)).
  const spread = (cases: RunCase[], m: 'p99' | 'rps') => {
    const pairs = (c: RunCase & { pairs?: number }) => c.pairs ?? 5;
    const d2: Record<number, number> = { 5: 2.326, 6: 2.534, 7: 2.704, 8: 2.847, 9: 2.97, 10: 3.078 };
    const sd = cases.map(
      (c) => (1.2533 * Math.log(c[`${m}RatioMax`] / c[`${m}RatioMin`])) / (d2[pairs(c)] ?? 2.7) / Math.sqrt(pairs(c)),
    );
    return Math.exp(median(sd)) - 1;
  };
  lines.push(
    `typical standard deviation of a median from the spread of its pairs (run 1 / run 2): p99 ratio ±${pct(spread(a.cases, 'p99')).replace('+', '')} / ±${pct(spread(b.cases, 'p99')).replace('+', '')}, ` +
      `req/s ratio ±${pct(spread(a.cases, 'rps')).replace('+', '')} / ±${pct(spread(b.cases, 'rps')).replace('+', '')}`,
  );
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
