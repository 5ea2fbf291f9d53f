// The reconciler over the ports of model/: leader election on a Lease (unless disabled) and, while leading, the
// reconcile loop, with the executor writing through a ReconcileClient. Each leadership term has an AbortController:
// when the term ends (renew deadline passed, lease lost, stop()) it fires, aborting the executor's in-flight API
// calls. webhook/app builds the API clients and calls this (app/reconciler.ts, startReconciler).
//
//   const r = startReconcilerOnPorts({ source: informers, client, leaseClient, identity, namespace: 'kube-system', log });
//   informers.on('podCompleted', () => r.trigger('pod completed'));
//   ...
//   await r.stop();   // on SIGTERM: releases the lease
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { Logger, createLogger } from '../log';
import { DEFAULT_STATIC_IP_CONFIG, HealRequester, LeaseClient, ReconcileClient, StaticIpConfig } from '../model';
import { Clock, realClock } from './clock';
import { Executor, WriteHookInfo } from './executor';
import { HealQueue } from './heal-queue';
import { DEFAULT_LEASE_NAME, LeaderElector } from './leader';
import { LeaderTiming } from './lease-rules';
import { DEFAULT_DEBOUNCE_MS, DEFAULT_INTERVAL_MS, PassReport, ReconcileLoop, ViewSource } from './loop';
import { ReconcilerMetrics, createReconcilerMetrics } from './metrics';
import { reconcilerUser } from './selfcheck';
import { DEFAULT_SETTLE_MS } from './settle';

export interface ReconcilerSettings {
  /** the informer-backed view; passes are skipped while synced() is false */
  source: ViewSource;
  /** namespace of the Lease and of the spiderpool-guard service account (self-check identity) */
  namespace: string;
  /** Spiderpool's static-IP switches (default both on) */
  staticIp?: StaticIpConfig;
  /** --termination-hold-max in ms (undefined: no limit) */
  terminationHoldMaxMs?: number;
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
  /** false: run without leader election (single replica, tests); otherwise Lease settings (see lease-rules.ts) */
  leaderElection?: false | ({ leaseName?: string } & Partial<LeaderTiming>);
  /** prom-client registry for the reconciler metrics (default: a private one) */
  registry?: Registry;
  log?: Logger;
  clock?: Clock;
  /** test hook, see ExecutorOptions.beforeWrite */
  beforeWrite?: (info: WriteHookInfo) => Promise<void> | void;
}

/** The settings plus the ports the reconciler reaches the world through. */
export interface ReconcilerPorts extends ReconcilerSettings {
  /** this process's identity in the Lease (see processIdentity) */
  identity: string;
  /** writes, fresh reads and Events */
  client: ReconcileClient;
  /** the Lease; required unless leaderElection is false */
  leaseClient?: LeaseClient;
}

export interface Reconciler extends HealRequester {
  /** stops the loop and leader election (releasing the lease); resolves when the in-flight pass ended */
  stop(): Promise<void>;
  /** asks for a pass soon (debounced); ignored while this replica is not the leader */
  trigger(reason?: string): void;
  isLeader(): boolean;
  /** runs one pass now (leader or not; for tests and diagnostics) */
  runPass(): Promise<PassReport>;
  /** resolves once the queued heal requests have been handled (tests, shutdown) */
  healIdle(): Promise<void>;
  readonly metrics: ReconcilerMetrics;
}

/** The pod (or host) this process runs in: the Events' reporting instance. */
export function podInstance(): string {
  return process.env.POD_NAME || hostname();
}

/**
 * The Lease identity of this process: `<pod>_<uuid>`, as client-go and controller-runtime build it. Unique per
 * process, not per pod: a container restarted after kill -9 is a new candidate that must wait a full lease duration
 * from its own observation like every other replica, instead of taking the Lease straight back because it carries
 * the dead process's name.
 */
export function processIdentity(instance = podInstance()): string {
  return `${instance}_${randomUUID()}`;
}

/**
 * Starts the reconciler on the given ports: leader election on a Lease (unless disabled) and, while leading, the
 * reconcile loop. Returns {stop(), trigger()} (plus isLeader(), runPass(), metrics). The clients stay the caller's.
 */
export function startReconcilerOnPorts(opts: ReconcilerPorts): Reconciler {
  const log = (opts.log ?? createLogger()).child({ component: 'reconciler' });
  const metrics = createReconcilerMetrics(opts.registry ?? new Registry());
  const clock = opts.clock ?? realClock;
  const staticIp = opts.staticIp ?? DEFAULT_STATIC_IP_CONFIG;
  const identity = opts.identity;
  const user = reconcilerUser(opts.namespace);
  let loop: ReconcileLoop | undefined = undefined;
  /** the current leadership term's; replaced when a term starts, fired when it ends */
  let term = new AbortController();
  const client = opts.client;
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
    stopSignal: () => term.signal,
    beforeWrite: async (info) => {
      loop?.assertActive();
      await opts.beforeWrite?.(info);
    },
  });
  loop = new ReconcileLoop({
    source: opts.source,
    executor,
    staticIp,
    terminationHoldMaxMs: opts.terminationHoldMaxMs,
    user,
    settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS,
    intervalMs: opts.intervalMs ?? DEFAULT_INTERVAL_MS,
    debounceMs: opts.debounceMs ?? DEFAULT_DEBOUNCE_MS,
    log,
    metrics,
    clock,
  });
  const theLoop = loop;
  // Requests from this replica's denials; a non-leader's requests end as 'noop' (its leader heals on its own, see loop.ts).
  const heals = new HealQueue(
    (pool, batch) => theLoop.heal(pool, batch),
    clock,
    (result) => metrics.healPasses.inc({ result }),
  );
  let elector: LeaderElector | undefined;
  if (opts.leaderElection === false) {
    metrics.leader.set(1);
    theLoop.start();
  } else {
    const le = opts.leaderElection ?? {};
    if (!opts.leaseClient)
      throw new Error('reconciler: leader election needs a LeaseClient (or leaderElection: false)');
    elector = new LeaderElector({
      client: opts.leaseClient,
      namespace: opts.namespace,
      name: le.leaseName ?? DEFAULT_LEASE_NAME,
      identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      clock,
      log,
      onStartedLeading: () => {
        term = new AbortController();
        metrics.leader.set(1);
        theLoop.start();
      },
      onStoppedLeading: () => {
        term.abort(new Error('leadership ended'));
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
    requestHeal: (request) => {
      // Not the leader: nothing to do here, and nothing to count (the leader's own pass notices the missing record).
      if (theLoop.isActive()) heals.request(request);
    },
    healIdle: () => heals.idle(),
    isLeader: () => (elector ? elector.isLeader() : theLoop.isActive()),
    runPass: () => theLoop.runPass('manual'),
    async stop() {
      if (elector) await elector.stop();
      term.abort(new Error('reconciler stopped'));
      await theLoop.stop();
      await heals.idle();
      metrics.leader.set(0);
    },
  };
}
