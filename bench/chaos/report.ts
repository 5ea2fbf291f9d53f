/** Output of the chaos benchmark: the stable JSON summary and a side-by-side table. */
import type { RunResult } from './run';

export const JSON_KEYS = ['guard', 'gc', 'seed', 'conflicts', 'sanityViolations', 'leftovers', 'denials', 'falseDenials', 'stuckPods', 'seconds'] as const;

export function jsonSummary(runs: RunResult[]): string {
  return JSON.stringify({ runs: runs.map((r) => Object.fromEntries(JSON_KEYS.map((k) => [k, r[k]]))) });
}

const ROWS: [string, (r: RunResult) => string][] = [
  ['IP conflicts (alive pods sharing an IP)', (r) => String(r.conflicts)],
  ['  `check` IP_CONFLICT findings at checkpoints', (r) => String(r.detail.checks.reduce((n, c) => n + c.conflictFindings, 0))],
  ['  alive pods on an IP the pool does not record for them', (r) => String(r.detail.checks.reduce((n, c) => n + c.unrecorded.length, 0))],
  ['CheckIppoolSanity violations', (r) => String(r.sanityViolations)],
  ['leftover records + endpoints after delete', (r) => String(r.leftovers)],
  ['guard denials (requests)', (r) => String(r.denials)],
  ['  by rule (violations)', (r) => Object.entries(r.detail.denialSummary.byRule).map(([k, v]) => `${k} ${v}`).join(', ') || '-'],
  ['false denials', (r) => String(r.falseDenials)],
  ['pods stuck without IP at checkpoints', (r) => String(r.stuckPods)],
  ['GC releases / endpoint drops', (r) => `${r.detail.gcStats.released} / ${r.detail.gcStats.endpointsDropped}`],
  ['GC writes denied', (r) => String(r.detail.gcStats.denied)],
  ['agent cmdAdd ok / failed / denied', (r) => `${r.detail.agent.cmdAdd} / ${r.detail.agent.cmdAddFailed} / ${r.detail.agent.denied}`],
  ['wall time (s)', (r) => r.seconds.toFixed(1)],
];

/** A Markdown table, one column per run. */
export function table(runs: RunResult[]): string {
  const head = ['metric', ...runs.map((r) => `guard ${r.guard}, gc ${r.gc}, seed ${r.seed}`)];
  const lines = [head, head.map(() => '---'), ...ROWS.map(([name, f]) => [name, ...runs.map(f)])];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => '| ' + l.map((c, i) => (c === '---' ? '-'.repeat(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |').join('\n');
}
