/** Output of the chaos benchmark: the stable JSON summary and a side-by-side table. */
import type { RunResult } from './run';

export const JSON_KEYS = [
  'guard',
  'gc',
  'seed',
  'conflicts',
  'latentConflicts',
  'sanityViolations',
  'leftovers',
  'denials',
  'falseDenials',
  'stuckPods',
  'seconds',
] as const;

export function jsonSummary(runs: RunResult[], rateList?: Rates[]): string {
  return JSON.stringify({
    runs: runs.map((r) => Object.fromEntries(JSON_KEYS.map((k) => [k, r[k]]))),
    ...(rateList ? { rates: rateList } : {}),
  });
}

/** Per GC version and guard setting, over the seeds: in how many runs each outcome happened. */
export interface Rates {
  gc: string;
  guard: string;
  runs: number;
  /** a conflict or a latent conflict (the bug reproduced) */
  reproduced: number;
  conflicts: number;
  latentConflicts: number;
  falseDenials: number;
  stuckPods: number;
  /** no conflict, no false denial, no stuck pod */
  clean: number;
}

export function rates(runs: RunResult[]): Rates[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) groups.set(`${r.gc}|${r.guard}`, [...(groups.get(`${r.gc}|${r.guard}`) ?? []), r]);
  return [...groups.values()].map((rs) => {
    const n = (f: (r: RunResult) => boolean) => rs.filter(f).length;
    return {
      gc: rs[0].gc,
      guard: rs[0].guard,
      runs: rs.length,
      reproduced: n((r) => r.conflicts > 0 || r.latentConflicts > 0),
      conflicts: n((r) => r.conflicts > 0),
      latentConflicts: n((r) => r.latentConflicts > 0),
      falseDenials: n((r) => r.falseDenials > 0),
      stuckPods: n((r) => r.stuckPods > 0),
      clean: n((r) => r.conflicts === 0 && r.falseDenials === 0 && r.stuckPods === 0),
    };
  });
}

export function ratesTable(list: Rates[]): string {
  return [
    '| gc | guard | seeds | conflict or latent conflict | conflict | latent conflict | false denials | stuck pods | clean (no conflict, false denial, stuck pod) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...list.map(
      (r) =>
        `| ${r.gc} | ${r.guard} | ${r.runs} | ${r.reproduced}/${r.runs} | ${r.conflicts}/${r.runs} | ${r.latentConflicts}/${r.runs} | ${r.falseDenials}/${r.runs} | ${r.stuckPods}/${r.runs} | ${r.clean}/${r.runs} |`,
    ),
  ].join('\n');
}

/** One row per run: the figures the rates are made of. */
export function seedTable(runs: RunResult[]): string {
  return [
    '| seed | gc | guard | conflicts | latent conflicts | sanity violations | leftovers | denials (false) | stuck pods | GC releases / endpoint drops | wall time (s) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.seed} | ${r.gc} | ${r.guard} | ${r.conflicts} | ${r.latentConflicts}${r.detail.latentHealed.length ? ` (+${r.detail.latentHealed.length} healed)` : ''} | ${r.sanityViolations} | ${r.leftovers} | ${r.denials} (${r.falseDenials}) | ${r.stuckPods} | ` +
        `${r.detail.gcStats.released} / ${r.detail.gcStats.endpointsDropped} | ${r.seconds.toFixed(1)} |`,
    ),
  ].join('\n');
}

const ROWS: [string, (r: RunResult) => string][] = [
  ['IP conflicts (alive pods sharing an IP)', (r) => String(r.conflicts)],
  [
    '  `check` IP_CONFLICT findings at checkpoints',
    (r) => String(r.detail.checks.reduce((n, c) => n + c.conflictFindings, 0)),
  ],
  [
    'latent conflicts (alive pods on an IP the pool does not record for them, sampled)',
    (r) => String(r.latentConflicts),
  ],
  ['  of them at checkpoints', (r) => String(r.detail.checks.reduce((n, c) => n + c.unrecorded.length, 0))],
  ['  healed within the reconciler window (not counted)', (r) => String(r.detail.latentHealed.length)],
  ['CheckIppoolSanity violations', (r) => String(r.sanityViolations)],
  ['leftover records + endpoints after delete', (r) => String(r.leftovers)],
  ['guard denials (requests)', (r) => String(r.denials)],
  [
    '  by rule (violations)',
    (r) =>
      Object.entries(r.detail.denialSummary.byRule)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '-',
  ],
  ['false denials', (r) => String(r.falseDenials)],
  ['pods stuck without IP at checkpoints', (r) => String(r.stuckPods)],
  ['GC releases / endpoint drops', (r) => `${r.detail.gcStats.released} / ${r.detail.gcStats.endpointsDropped}`],
  ['GC writes denied', (r) => String(r.detail.gcStats.denied)],
  [
    'agent cmdAdd ok / failed / denied',
    (r) => `${r.detail.agent.cmdAdd} / ${r.detail.agent.cmdAddFailed} / ${r.detail.agent.denied}`,
  ],
  ['wall time (s)', (r) => r.seconds.toFixed(1)],
];

/** A Markdown table, one column per run. */
export function table(runs: RunResult[]): string {
  const head = ['metric', ...runs.map((r) => `guard ${r.guard}, gc ${r.gc}, seed ${r.seed}`)];
  const lines = [head, head.map(() => '---'), ...ROWS.map(([name, f]) => [name, ...runs.map(f)])];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines
    .map((l) => '| ' + l.map((c, i) => (c === '---' ? '-'.repeat(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |')
    .join('\n');
}
