/**
 * `npm run -s bench -- admission --compare run1.json run2.json`: do two runs (their `--out` files) agree?
 * For every case and every ratio (p99 as the median of the pairs and pooled, req/s, CPU per request): both runs'
 * figures, how far the second is from the first, and whether that is within ±15%. A case outside ±15% is then
 * judged against its own noise: the spread of each run's pairs predicts how far two runs of that case drift apart
 * (σΔ); a move within 2σΔ is what that case's scatter allows, a move beyond it is a change between the runs.
 */
import * as fs from 'node:fs';
import { median } from './interleave';
import { bootstrap, logSpread } from './spread';

export const AGREEMENT = 0.15;

export const FIGURES = ['p99', 'p99Pooled', 'rps', 'cpu'] as const;
export type Figure = (typeof FIGURES)[number];

const LABEL: Record<Figure, string> = {
  p99: 'p99 ratio (median of pairs)',
  p99Pooled: 'p99 ratio (pooled)',
  rps: 'req/s ratio',
  cpu: 'CPU/request ratio',
};

/** A case as a run's --out file holds it; fields added in later rounds are optional so older files still compare. */
export interface RunCase {
  records: number;
  concurrency: number;
  webhook: string;
  review: string;
  p99Ratio: number;
  rpsRatio: number;
  cpuRatio?: number;
  p99PooledRatio?: number;
  p99Ratios?: number[];
  rpsRatios?: number[];
  cpuRatios?: number[];
  spread?: Partial<Record<Figure, number>>;
}

interface RunFile {
  date?: string;
  load?: { before?: string; after?: string };
  cases: RunCase[];
}

export const keyOf = (c: RunCase) => `${c.records} c=${c.concurrency} ${c.webhook}/${c.review}`;

/** b relative to a */
export function deviation(a: number, b: number): number {
  return b / a - 1;
}

function value(c: RunCase, f: Figure): number | undefined {
  return { p99: c.p99Ratio, p99Pooled: c.p99PooledRatio, rps: c.rpsRatio, cpu: c.cpuRatio }[f];
}

/** the relative spread of a case's figure: as the run recorded it, else from its pair ratios */
function spreadOf(c: RunCase, f: Figure): number {
  const recorded = c.spread?.[f];
  if (recorded !== undefined && Number.isFinite(recorded)) return recorded;
  const ratios = { p99: c.p99Ratios, rps: c.rpsRatios, cpu: c.cpuRatios, p99Pooled: undefined }[f];
  return ratios && ratios.length > 1 ? logSpread(bootstrap(ratios, median, 2000)) : NaN;
}

export type Verdict = 'agrees' | 'noise' | 'moved' | 'unknown';

export interface FigureAgreement {
  figure: Figure;
  runs: [number, number];
  deviation: number;
  /** predicted standard deviation of log(run 2 / run 1) from both runs' pairs */
  sigma: number;
  verdict: Verdict;
}

/**
 * agrees: within ±15%. noise: outside it, but within two predicted standard deviations (the pairs were too
 * scattered for ±15% to be expected). moved: beyond that. unknown: outside ±15% with no spread to judge by.
 */
export function judge(a: number, b: number, sigma: number): Verdict {
  if (Math.abs(deviation(a, b)) <= AGREEMENT) return 'agrees';
  if (!Number.isFinite(sigma)) return 'unknown';
  return Math.abs(Math.log(b / a)) <= 2 * sigma ? 'noise' : 'moved';
}

export interface CaseAgreement {
  key: string;
  figures: FigureAgreement[];
}

export function agreements(a: RunCase[], b: RunCase[]): CaseAgreement[] {
  const second = new Map(b.map((c) => [keyOf(c), c]));
  return a.flatMap((x) => {
    const y = second.get(keyOf(x));
    if (!y) return [];
    const figures = FIGURES.flatMap((f): FigureAgreement[] => {
      const [va, vb] = [value(x, f), value(y, f)];
      if (va === undefined || vb === undefined) return [];
      const sigma = Math.hypot(spreadOf(x, f), spreadOf(y, f));
      return [{ figure: f, runs: [va, vb], deviation: deviation(va, vb), sigma, verdict: judge(va, vb, sigma) }];
    });
    return [{ key: keyOf(x), figures }];
  });
}

const pct = (d: number) => `${d >= 0 ? '+' : ''}${(d * 100).toFixed(0)}%`;
/** a spread σ of logarithms as "±x%" */
const plusMinus = (sigma: number) => `±${((Math.exp(sigma) - 1) * 100).toFixed(0)}%`;
const MARK: Record<Verdict, string> = { agrees: '', noise: ' ✗ noise', moved: ' ✗ moved', unknown: ' ✗' };

/** One line per figure: how many cases agree, and of those that do not, how many the pairs' spread explains. */
export function summaryLines(rows: readonly CaseAgreement[]): string[] {
  return FIGURES.flatMap((f) => {
    const fs = rows.flatMap((r) => r.figures.filter((x) => x.figure === f).map((x) => ({ key: r.key, ...x })));
    if (fs.length === 0) return [];
    const count = (v: Verdict) => fs.filter((x) => x.verdict === v);
    const worst = fs.reduce((m, x) => (Math.abs(x.deviation) > Math.abs(m) ? x.deviation : m), 0);
    const typical = median(fs.map((x) => x.sigma).filter(Number.isFinite));
    const noise = count('noise');
    const moved = count('moved');
    return [
      `${LABEL[f]}: ${count('agrees').length}/${fs.length} within ±${AGREEMENT * 100}% (worst ${pct(worst)}); ` +
        `typical σΔ from the pairs ${plusMinus(typical)}` +
        (noise.length
          ? `; within their pairs' noise: ${noise.map((x) => `${x.key} (σΔ ${plusMinus(x.sigma)})`).join(', ')}`
          : '') +
        (moved.length ? `; moved beyond it: ${moved.map((x) => x.key).join(', ')}` : '') +
        (count('unknown').length ? `; no spread recorded: ${count('unknown').length}` : ''),
    ];
  });
}

export function compareRuns(fileA: string | undefined, fileB: string | undefined): number {
  if (!fileA || !fileB) {
    process.stderr.write('usage: npm run -s bench -- admission --compare run1.json run2.json\n');
    return 2;
  }
  const [a, b] = [fileA, fileB].map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile);
  const rows = agreements(a.cases, b.cases);
  const shown = FIGURES.filter((f) => rows.some((r) => r.figures.some((x) => x.figure === f)));
  const cell = (r: CaseAgreement, f: Figure) => {
    const x = r.figures.find((y) => y.figure === f);
    return x ? `${x.runs[0]} → ${x.runs[1]} (${pct(x.deviation)}${MARK[x.verdict]})` : '';
  };
  const lines = [
    `run 1: ${a.date ?? fileA} (${a.load?.before ?? 'load not recorded'})`,
    `run 2: ${b.date ?? fileB} (${b.load?.before ?? 'load not recorded'})`,
    '',
    `| case | ${shown.map((f) => `${LABEL[f]} run 1 → run 2 (Δ)`).join(' | ')} |`,
    `|---|${shown.map(() => '---|').join('')}`,
    ...rows.map((r) => `| ${r.key} | ${shown.map((f) => cell(r, f)).join(' | ')} |`),
    '',
    `✗ noise: outside ±${AGREEMENT * 100}% but within 2σΔ, the drift the spread of both runs' pairs predicts; ✗ moved: beyond it`,
    ...summaryLines(rows),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
