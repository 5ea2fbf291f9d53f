// The reconcile loop, run by the leader only: event-driven passes (trigger(), debounced) plus a periodic full pass,
// acting only on actions that persisted across the settle interval. A pass is findings + plan over the whole
// informer view (pure, well under a second at 10k pods) followed by the executor's checked writes.
//
//   const r = startReconciler({ source: informers, kubeConfig: kc, namespace: 'kube-system', log, registry });
//   informers.on('podCompleted', () => r.trigger('pod completed'));
//   ...
//   await r.stop();   // on SIGTERM: releases the lease
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { Logger, createLogger } from '../log';
import { DEFAULT_STATIC_IP_CONFIG, StaticIpConfig, ClusterView, LeaseClient, ReconcileClient } from '../model';
import { Clock, realClock } from './clock';
import { KubeReconcileClient, KubeLeaseClient } from '../cluster';
import { ActionResult, ExecutionStopped, Executor, WriteHookInfo } from './executor';
import { FINDINGS, Finding, SEVERITY, findingKey } from './finding-types';
import { findings as computeFindings } from './findings';
import { LeaderElector, DEFAULT_LEASE_NAME } from './leader';
import { ReconcilerMetrics, createReconcilerMetrics } from './metrics';
import { Action, actionKey } from './actions';
import { BlockedAction, plan } from './plan';
import { reconcilerUser } from './selfcheck';
import { DEFAULT_SETTLE_MS, SettleTracker } from './settle';

/** What the loop reads: the live informer-backed view (webhook/cluster/informers.ts) or any other ClusterView. */
export interface ViewSource {
  readonly view: ClusterView;
  synced(): boolean;
}

export const DEFAULT_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_DEBOUNCE_MS = 1_000;
const UNSYNCED_RETRY_MS = 1_000;

export interface ReconcilerOptions {
  /** the informer-backed view; passes are skipped while synced() is false */
  source: ViewSource;
  /** API access for writes, fresh reads, Events and the Lease */
  kubeConfig: k8s.KubeConfig;
  /** namespace of the Lease and of the spiderpool-guard service account (self-check identity) */
  namespace: string;
  /** this replica's identity in the Lease (default: $POD_NAME, else hostname + random suffix) */
  identity?: string;
  /** Spiderpool's static-IP switches (default both on) */
  staticIp?: StaticIpConfig;
  /** whether the kubevirt.io API is served (fresh VMI/VM reads; default true, a 404 reads as absent) */
  kubevirt?: boolean;
  /** a finding/action is acted on only after persisting this long (default 60 s, see settle.ts) */
  settleMs?: number;
  /** period of the full pass (default 5 min) */
  intervalMs?: number;
  /** trigger() runs a pass this long after the first trigger of a burst (default 1 s) */
  debounceMs?: number;
  /** judge and log, never write */
  dryRun?: boolean;
  /** write rate limit (default 5/s) */
  maxWritesPerSecond?: number;
  /** emit Kubernetes Events (default true) */
  events?: boolean;
  /** false: run without leader election (single replica, tests); otherwise Lease settings */
  leaderElection?:
    | false
    | { leaseName?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** prom-client registry for the reconciler metrics (default: a private one) */
  registry?: Registry;
  log?: Logger;
  clock?: Clock;
  /** overrides for tests */
  client?: ReconcileClient;
  leaseClient?: LeaseClient;
  /** test hook, see ExecutorOptions.beforeWrite */
  beforeWrite?: (info: WriteHookInfo) => Promise<void> | void;
}

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

export interface Reconciler {
  /** stops the loop and leader election (releasing the lease); resolves when the in-flight pass ended */
  stop(): Promise<void>;
  /** asks for a pass soon (debounced); ignored while this replica is not the leader */
  trigger(reason?: string): void;
  isLeader(): boolean;
  /** runs one pass now (leader or not; for tests and diagnostics) */
  runPass(): Promise<PassReport>;
  readonly metrics: ReconcilerMetrics;
}

export interface LoopDeps {
  source: ViewSource;
  executor: Executor;
  staticIp: StaticIpConfig;
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
      const pending = [this.actionsSettle.nextSettleAt(after), this.findingsSettle.nextSettleAt(after)].filter((t): t is number => t !== undefined);
      this.settleDue = pending.length ? Math.min(...pending) : undefined;
    }
  }

  async runPass(reason = 'manual'): Promise<PassReport> {
    const t0 = this.d.clock.now();
    const m = this.d.metrics;
    const empty: PassReport = { ran: false, findings: [], settledFindings: [], actions: [], settled: [], blocked: [], results: [], durationMs: 0 };
    if (!this.d.source.synced()) return empty;
    try {
      const view = this.d.source.view;
      const found = computeFindings(view, this.d.staticIp);
      const p = plan(view, { staticIp: this.d.staticIp, user: this.d.user, findings: found });
      const now = this.d.clock.now();
      const settledFindings = this.findingsSettle.settle(found, findingKey, now);
      const settled = this.actionsSettle.settle(p.actions, actionKey, now);
      this.countFindings(found, settledFindings);
      for (const b of p.blocked) {
        const key = actionKey(b.action);
        if (this.reportedBlocked.has(key)) continue;
        this.reportedBlocked.add(key);
        this.d.log.error(
          { action: b.action.action, reason: b.action.reason, ip: b.action.ip, pool: b.action.pool, endpoint: b.action.endpoint?.name, violations: b.violations },
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
      return { ran: true, findings: found, settledFindings, actions: p.actions, settled, blocked: p.blocked, results, durationMs };
    } catch (err) {
      m.passDuration.observe({ result: 'error' }, (this.d.clock.now() - t0) / 1000);
      m.passes.inc({ result: 'error' });
      throw err;
    }
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
        { finding: f.finding, ip: f.ip, pool: f.pool, pods: f.pods?.map((p) => ({ name: p.name, uid: p.uid })), record: f.record },
        `IP conflict the reconciler does not fix: ${f.message}`,
      );
      await this.d.executor.reportConflict(f);
    }
    for (const k of this.reportedConflicts) if (!current.has(k)) this.reportedConflicts.delete(k);
  }
}

function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`;
}

/**
 * Starts the reconciler: leader election on a Lease (unless disabled) and, while leading, the reconcile loop.
 * Returns {stop(), trigger()} (plus isLeader(), runPass(), metrics).
 */
export function startReconciler(opts: ReconcilerOptions): Reconciler {
  const log = (opts.log ?? createLogger()).child({ component: 'reconciler' });
  const metrics = createReconcilerMetrics(opts.registry ?? new Registry());
  const clock = opts.clock ?? realClock;
  const staticIp = opts.staticIp ?? DEFAULT_STATIC_IP_CONFIG;
  const identity = opts.identity ?? defaultIdentity();
  const user = reconcilerUser(opts.namespace);
  let loop: ReconcileLoop | undefined = undefined;
  const client = opts.client ?? new KubeReconcileClient(opts.kubeConfig, identity, opts.kubevirt ?? true);
  const executor = new Executor({
    client,
    staticIp,
    user,
    log,
    metrics,
    dryRun: opts.dryRun,
    maxWritesPerSecond: opts.maxWritesPerSecond,
    events: opts.events,
    clock,
    beforeWrite: async (info) => {
      loop?.assertActive();
      await opts.beforeWrite?.(info);
    },
  });
  loop = new ReconcileLoop({
    source: opts.source,
    executor,
    staticIp,
    user,
    settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS,
    intervalMs: opts.intervalMs ?? DEFAULT_INTERVAL_MS,
    debounceMs: opts.debounceMs ?? DEFAULT_DEBOUNCE_MS,
    log,
    metrics,
    clock,
  });
  const theLoop = loop;
  let elector: LeaderElector | undefined;
  if (opts.leaderElection === false) {
    metrics.leader.set(1);
    theLoop.start();
  } else {
    const le = opts.leaderElection ?? {};
    elector = new LeaderElector({
      client: opts.leaseClient ?? new KubeLeaseClient(opts.kubeConfig),
      namespace: opts.namespace,
      name: le.leaseName ?? DEFAULT_LEASE_NAME,
      identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      clock,
      log,
      onStartedLeading: () => {
        metrics.leader.set(1);
        theLoop.start();
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        void theLoop.stop();
      },
      onNewLeader: (holder) => log.info({ holder, identity }, `reconciler leader is ${holder}`),
    });
    elector.start();
  }
  return {
    metrics,
    trigger: (reason?: string) => theLoop.trigger(reason),
    isLeader: () => (elector ? elector.isLeader() : theLoop.isActive()),
    runPass: () => theLoop.runPass('manual'),
    async stop() {
      if (elector) await elector.stop();
      await theLoop.stop();
      metrics.leader.set(0);
      if (!opts.client) client.close?.();
    },
  };
}
