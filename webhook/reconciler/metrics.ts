// Prometheus metrics of the reconciler, registered once per registry (serve passes its process registry).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CAPACITY_STATES, PoolCapacity } from './capacity';
import { FINDINGS, SEVERITY } from './finding-types';

export interface ReconcilerMetrics {
  registry: Registry;
  /** actions by kind, reason and result (done, dry-run, stale, gone, blocked, deferred, conflict, failed) */
  actions: Counter<'action' | 'reason' | 'result'>;
  /** findings of the last pass, by kind (all findings, settled or not) */
  findings: Gauge<'finding' | 'severity'>;
  /** findings that persisted across the settle interval, by kind */
  settledFindings: Gauge<'finding' | 'severity'>;
  passDuration: Histogram<'result'>;
  passes: Counter<'result'>;
  lastSuccess: Gauge;
  leader: Gauge;
  /** targeted passes after a denial (heal on denial), by result (done, noop, failed; dropped: queue full) */
  healPasses: Counter<'result'>;
  /** per pool and capacity state (capacity.ts), as of the last pass: 5 series per pool, nothing per pod or IP */
  poolIps: Gauge<'pool' | 'state'>;
}

const byRegistry = new WeakMap<Registry, ReconcilerMetrics>();

export function createReconcilerMetrics(registry: Registry = new Registry()): ReconcilerMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const m: ReconcilerMetrics = {
    registry,
    actions: new Counter({
      name: 'spiderpool_guard_reconcile_actions_total',
      help: 'Reconciler actions by action, reason and result (done, dry-run, stale, gone, blocked, deferred, conflict, failed)',
      labelNames: ['action', 'reason', 'result'],
      registers,
    }),
    findings: new Gauge({
      name: 'spiderpool_guard_reconcile_findings',
      help: 'Findings of the last reconcile pass, by finding and severity',
      labelNames: ['finding', 'severity'],
      registers,
    }),
    settledFindings: new Gauge({
      name: 'spiderpool_guard_reconcile_settled_findings',
      help: 'Findings of the last reconcile pass that persisted across the settle interval, by finding and severity',
      labelNames: ['finding', 'severity'],
      registers,
    }),
    passDuration: new Histogram({
      name: 'spiderpool_guard_reconcile_pass_duration_seconds',
      help: 'Duration of a reconcile pass (findings, plan and writes), by result',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    passes: new Counter({
      name: 'spiderpool_guard_reconcile_passes_total',
      help: 'Reconcile passes by result (success, error, skipped_unsynced)',
      labelNames: ['result'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'spiderpool_guard_reconcile_last_success_timestamp_seconds',
      help: 'Unix time of the end of the last successful reconcile pass',
      registers,
    }),
    leader: new Gauge({
      name: 'spiderpool_guard_reconcile_leader',
      help: '1 while this replica holds the reconciler lease',
      registers,
    }),
    healPasses: new Counter({
      name: 'spiderpool_guard_heal_passes_total',
      help: 'Targeted reconcile passes after a denial resting on a missing record, by result (done, noop, failed; dropped: heal queue full)',
      labelNames: ['result'],
      registers,
    }),
    poolIps: new Gauge({
      name: 'spiderpool_guard_pool_ips',
      help: 'IPs of each pool by state as of the last reconcile pass: total (spec.ips minus excludeIPs), recorded, free (neither recorded nor reserved), leftover (records the reconciler would release), held_terminating (records of pods whose termination is unconfirmed)',
      labelNames: ['pool', 'state'],
      registers,
    }),
  };
  zeroFindings(m);
  byRegistry.set(registry, m);
  return m;
}

/**
 * Sets the pool gauges to one pass's capacity. Reset first, so the series of a pool that is gone go with it; no scrape
 * sees the gap (this runs without yielding to the event loop).
 */
export function exportCapacity(m: ReconcilerMetrics, pools: readonly PoolCapacity[]): void {
  m.poolIps.reset();
  for (const p of pools) for (const state of CAPACITY_STATES) m.poolIps.set({ pool: p.pool, state }, p[state]);
}

/**
 * What a replica that stops leading exports: no pool series and zero findings, so that max() over the replicas reads
 * the leader's numbers and no alert keeps firing on a former leader's last pass.
 */
export function clearPassGauges(m: ReconcilerMetrics): void {
  m.poolIps.reset();
  zeroFindings(m);
}

/** One series per finding name, at zero: alerts on `> 0` need no absent(). */
function zeroFindings(m: ReconcilerMetrics): void {
  for (const f of FINDINGS) {
    m.findings.set({ finding: f, severity: SEVERITY[f] }, 0);
    m.settledFindings.set({ finding: f, severity: SEVERITY[f] }, 0);
  }
}
