// The reconcile loop, run by the leader only: event-driven passes (trigger(), debounced) plus a periodic full pass,
// acting only on actions that persisted across the settle interval. A pass is findings + plan over the whole
// informer view (pure, well under a second at 10k pods) followed by the executor's checked writes.
//
// startReconciler (start.ts) wires it to leader election, the executor and the API.
import { Logger } from '../log';
import { StaticIpConfig, ClusterView, HealRequest, emptyFresh, splitNsName } from '../model';
import { Clock } from './clock';
import { ActionResult, ExecutionStopped, Executor } from './executor';
import { FINDINGS, Finding, SEVERITY, findingKey } from './finding-types';
import { findings as computeFindings, heldByUnconfirmedTermination } from './findings';
import { capacity } from './capacity';
import { ReconcilerMetrics, clearPassGauges, exportCapacity } from './metrics';
import { Action, actionKey } from './actions';
import { PoolOverlay } from './fresh-evidence';
import { unrecordedRestoreAction } from './restore-unrecorded';
import { HealPassResult } from './heal-queue';
import { BlockedAction, plan, restoreAction } from './plan';
import { SettleTracker } from './settle';

/** What the loop reads: the live informer-backed view (webhook/cluster/informers.ts) or any other ClusterView. */
export interface ViewSource {
  readonly view: ClusterView;
  synced(): boolean;
}

export const DEFAULT_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_DEBOUNCE_MS = 1_000;
const UNSYNCED_RETRY_MS = 1_000;

export interface PassReport {
  /** false when skipped (caches not synced) */
  ran: boolean;
  findings: Finding[];
  /** findings that persisted across the settle interval */
  settledFindings: Finding[];
  actions: Action[];
  /** actions that persisted across the settle interval (the ones executed) */
  settled: Action[];
  blocked: BlockedAction[];
  results: ActionResult[];
  durationMs: number;
}

export interface LoopDeps {
  source: ViewSource;
  executor: Executor;
  staticIp: StaticIpConfig;
  /** --termination-hold-max in ms (undefined: no limit); the time comes from `clock` */
  terminationHoldMaxMs?: number;
  user: string;
  settleMs: number;
  intervalMs: number;
  debounceMs: number;
  log: Logger;
  metrics: ReconcilerMetrics;
  clock: Clock;
}

/** The scheduling and pass logic, independent of leader election (which starts and stops it). */
export class ReconcileLoop {
  private readonly actionsSettle: SettleTracker;
  private readonly findingsSettle: SettleTracker;
  private readonly reportedConflicts = new Set<string>();
  private readonly reportedBlocked = new Set<string>();
  private active = false;
  private running: Promise<void> | undefined;
  private dirtySince: number | undefined;
  private nextPeriodic = 0;
  /** when the earliest pending (seen, not yet settled) action or finding settles */
  private settleDue: number | undefined;
  private wake: AbortController | undefined;
  private lastReason = '';

  constructor(private readonly d: LoopDeps) {
    this.actionsSettle = new SettleTracker(d.settleMs);
    this.findingsSettle = new SettleTracker(d.settleMs);
  }

  isActive(): boolean {
    return this.active;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    // A new term starts from scratch: persistence observed in an earlier term (or by another leader) does not count.
    this.actionsSettle.clear();
    this.findingsSettle.clear();
    this.reportedConflicts.clear();
    this.nextPeriodic = this.d.clock.now();
    this.running = this.run().catch((err: unknown) => this.d.log.error({ err }, 'reconcile loop crashed'));
  }

  async stop(): Promise<void> {
    this.active = false;
    this.wake?.abort();
    await this.running;
    this.running = undefined;
    // A replica that no longer leads runs no passes: its last numbers would go stale beside the new leader's.
    clearPassGauges(this.d.metrics);
  }

  trigger(reason = 'event'): void {
    if (!this.active) return;
    this.lastReason = reason;
    this.dirtySince ??= this.d.clock.now();
    this.wake?.abort();
  }

  /** Throws ExecutionStopped inside the executor when leadership was lost mid-pass: no write after that. */
  assertActive = (): void => {
    if (!this.active) throw new ExecutionStopped('reconciler stopped (leadership lost or shutting down)');
  };

  private async run(): Promise<void> {
    while (this.active) {
      const now = this.d.clock.now();
      let due = this.nextPeriodic;
      if (this.dirtySince !== undefined) due = Math.min(due, this.dirtySince + this.d.debounceMs);
      if (this.settleDue !== undefined) due = Math.min(due, this.settleDue);
      if (due > now) {
        this.wake = new AbortController();
        await this.d.clock.sleep(due - now, this.wake.signal);
        continue;
      }
      const reason =
        this.dirtySince !== undefined && this.dirtySince + this.d.debounceMs <= now
          ? this.lastReason || 'event'
          : this.settleDue !== undefined && this.settleDue <= now
            ? 'settle'
            : 'periodic';
      this.dirtySince = undefined;
      this.settleDue = undefined;
      if (!this.d.source.synced()) {
        this.d.metrics.passes.inc({ result: 'skipped_unsynced' });
        this.d.log.debug('reconcile pass skipped: caches not synced');
        this.nextPeriodic = this.d.clock.now() + UNSYNCED_RETRY_MS;
        continue;
      }
      try {
        await this.runPass(reason);
      } catch (err) {
        this.d.log.error({ err }, `reconcile pass failed: ${(err as Error).message}`);
      }
      const after = this.d.clock.now();
      this.nextPeriodic = Math.max(this.nextPeriodic, after + this.d.intervalMs);
      const pending = [this.actionsSettle.nextSettleAt(after), this.findingsSettle.nextSettleAt(after)].filter(
        (t): t is number => t !== undefined,
      );
      this.settleDue = pending.length ? Math.min(...pending) : undefined;
    }
  }

  async runPass(reason = 'manual'): Promise<PassReport> {
    const t0 = this.d.clock.now();
    const m = this.d.metrics;
    const empty: PassReport = {
      ran: false,
      findings: [],
      settledFindings: [],
      actions: [],
      settled: [],
      blocked: [],
      results: [],
      durationMs: 0,
    };
    if (!this.d.source.synced()) return empty;
    try {
      const view = this.d.source.view;
      const found = computeFindings(view, this.d.staticIp, {
        now: this.d.clock.now(),
        holdMaxMs: this.d.terminationHoldMaxMs,
      });
      const p = plan(view, { staticIp: this.d.staticIp, user: this.d.user, findings: found });
      const now = this.d.clock.now();
      const settledFindings = this.findingsSettle.settle(found, findingKey, now);
      // RESTORE_RECORD is not held back by the settle interval: it frees nothing (it records an IP an alive pod
      // observes, the state Spiderpool itself aims for) and the executor acts only when the fresh state confirms the
      // missing record. This is how the leader heals a missing record a non-leader's denial rests on: the release
      // that removed it changed the pool, which triggers this pass (docs/rules.md, Reconciler actions).
      const restores = p.actions.filter((a) => a.action === 'RESTORE_RECORD');
      const settled = [
        ...restores,
        ...this.actionsSettle.settle(
          p.actions.filter((a) => a.action !== 'RESTORE_RECORD'),
          actionKey,
          now,
        ),
      ];
      this.countFindings(found, settledFindings);
      exportCapacity(
        m,
        capacity(view, p.actions, {
          heldTerminating: heldByUnconfirmedTermination(view, this.d.staticIp, {
            now,
            holdMaxMs: this.d.terminationHoldMaxMs,
          }),
        }),
      );
      for (const b of p.blocked) {
        const key = actionKey(b.action);
        if (this.reportedBlocked.has(key)) continue;
        this.reportedBlocked.add(key);
        this.d.log.error(
          {
            action: b.action.action,
            reason: b.action.reason,
            ip: b.action.ip,
            pool: b.action.pool,
            endpoint: b.action.endpoint?.name,
            violations: b.violations,
          },
          `reconciler planned a write its guard denies (not executed): ${b.action.message}`,
        );
      }
      await this.reportConflicts(settledFindings);
      const results = settled.length ? await this.d.executor.execute(settled, view) : [];
      for (const r of results) if (r.result === 'done') this.actionsSettle.forget(actionKey(r.action));
      const durationMs = this.d.clock.now() - t0;
      m.passDuration.observe({ result: 'success' }, durationMs / 1000);
      m.passes.inc({ result: 'success' });
      m.lastSuccess.set(Date.now() / 1000);
      this.d.log.info(
        {
          trigger: reason,
          findings: found.length,
          settledFindings: settledFindings.length,
          actions: p.actions.length,
          settledActions: settled.length,
          done: results.filter((r) => r.result === 'done').length,
          durationMs,
        },
        'reconcile pass',
      );
      return {
        ran: true,
        findings: found,
        settledFindings,
        actions: p.actions,
        settled,
        blocked: p.blocked,
        results,
        durationMs,
      };
    } catch (err) {
      m.passDuration.observe({ result: 'error' }, (this.d.clock.now() - t0) / 1000);
      m.passes.inc({ result: 'error' });
      throw err;
    }
  }

  /**
   * Heal on denial: a targeted pass for one pool, run at once (no debounce, no settle). It plans RESTORE_RECORD only,
   * for the denied IPs; the executor re-reads pool, pod and endpoint and writes only when they still call for it.
   * A replica that is not the leader does nothing ('noop').
   */
  async heal(pool: string, batch: HealRequest[]): Promise<HealPassResult> {
    if (!this.active || !this.d.source.synced()) return 'noop';
    const t0 = this.d.clock.now();
    // The cache usually shows the release already (it came before the denial); when it still shows the record, the
    // pool is read live. Either way the executor re-reads pool, pod and endpoint before it writes.
    const cached = this.d.source.view.pool(pool);
    const fresh =
      cached && batch.every((r) => !cached.records.has(r.ip)) ? cached : await this.d.executor.readPool(pool);
    if (!fresh) return 'noop';
    const view = new PoolOverlay(this.d.source.view, emptyFresh(), new Map([[pool, fresh]]));
    const actions = batch.flatMap((r) => {
      const n = splitNsName(r.pod);
      const ep = n && view.endpoint(n.namespace, n.name);
      // the pod's endpoint lists the IP (MISSING_RECORD), or there is no endpoint to go by (UNRECORDED_LIVE_IP)
      const a =
        (ep && restoreAction(view, this.d.staticIp, fresh, ep, r.ip)) ||
        unrecordedRestoreAction(view, this.d.staticIp, fresh, r.ip);
      return a ? [a] : [];
    });
    if (actions.length === 0) return 'noop';
    const results = await this.d.executor.execute(actions, view);
    this.d.log.info(
      {
        pool,
        ips: batch.map((r) => r.ip),
        rules: [...new Set(batch.map((r) => r.rule))],
        results: results.map((r) => r.result),
        durationMs: this.d.clock.now() - t0,
      },
      'heal pass after a denial',
    );
    if (results.some((r) => r.result === 'done')) return 'done';
    return results.some((r) => r.result === 'failed' || r.result === 'blocked' || r.result === 'conflict')
      ? 'failed'
      : 'noop';
  }

  private countFindings(found: Finding[], settled: Finding[]): void {
    for (const f of FINDINGS) {
      const labels = { finding: f, severity: SEVERITY[f] };
      this.d.metrics.findings.set(labels, found.filter((x) => x.finding === f).length);
      this.d.metrics.settledFindings.set(labels, settled.filter((x) => x.finding === f).length);
    }
  }

  /** One Warning Event per pod per persisting conflict (again only after the conflict went away and came back). */
  private async reportConflicts(settled: Finding[]): Promise<void> {
    const current = new Set<string>();
    for (const f of settled) {
      if (f.finding !== 'IP_CONFLICT') continue;
      const key = findingKey(f);
      current.add(key);
      if (this.reportedConflicts.has(key)) continue;
      this.reportedConflicts.add(key);
      this.d.log.error(
        {
          finding: f.finding,
          ip: f.ip,
          pool: f.pool,
          pods: f.pods?.map((p) => ({ name: p.name, uid: p.uid })),
          record: f.record,
        },
        `IP conflict the reconciler does not fix: ${f.message}`,
      );
      await this.d.executor.reportConflict(f);
    }
    for (const k of this.reportedConflicts) if (!current.has(k)) this.reportedConflicts.delete(k);
  }
}
