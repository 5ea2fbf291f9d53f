// How `check --capacity` prints the pools' capacity (docs/operations.md, Capacity and leaks): a table for people, or
// one JSON object per pool.
import { CAPACITY_STATES, PoolCapacity } from '../reconciler';
import { formatJsonLines } from './cluster-source';

const HEADERS = ['POOL', ...CAPACITY_STATES.map((s) => s.toUpperCase())];

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatCapacityTable(pools: readonly PoolCapacity[]): string {
  const rows = pools.map((p) => [p.pool, ...CAPACITY_STATES.map((s) => String(p[s]))]);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  if (pools.length === 0) return 'No SpiderIPPools.\n';
  return [line(HEADERS), ...rows.map(line)].join('\n') + '\n';
}

/** One JSON object per pool: {"pool","total","recorded","free","leftover","held_terminating"}. */
export function formatCapacityJson(pools: readonly PoolCapacity[]): string {
  return formatJsonLines(
    pools.map((p) => ({
      pool: p.pool,
      total: p.total,
      recorded: p.recorded,
      free: p.free,
      leftover: p.leftover,
      held_terminating: p.held_terminating,
    })),
  );
}
