// Leader election on a coordination.k8s.io/v1 Lease, client-go style (leaderelection.LeaderElector), with the rules
// in lease-rules.ts. Every retry period: read the lease; create it when absent; renew it when ours; take it when
// unheld, or when its holder has not renewed for a lease duration as measured on OUR clock from when we last saw the
// record change. Writes carry the read resourceVersion, so of two candidates racing for a lease one gets 409.
//
// Stepping down on time: each attempt (read + write) runs under an AbortSignal that fires after half the renew
// deadline, so a hung connection cannot hold the loop. A leader arms a timer at (start of its last successful
// renew + renew deadline); when it fires, leadership is dropped at once (onStoppedLeading, which aborts in-flight
// reconcile writes), whatever the in-flight call is doing. Counting from the START of the renew that succeeded
// keeps the leader's deadline before the moment any other replica may take over: the others start their lease
// duration no earlier than when that renew was committed, and renewDeadline < leaseDuration.
//
// stop() releases the lease by clearing holderIdentity, so a successor takes over at its next retry instead of
// waiting for expiry. Time is injected (Clock).
import { Logger } from '../log';
import { LeaseClient, StoredLease } from '../model';
import { describeApiError, isConflict } from '../../lib/api-errors';
import { abortable } from '../../lib/abortable';
import { Clock, afterDelay, realClock } from './clock';
import {
  DEFAULT_LEADER_TIMING,
  LeaderTiming,
  attemptTimeoutMs,
  leaderTimingProblem,
  leaseChanged,
  leaseRecordFor,
  nextLeaseStep,
  releasedRecord,
} from './lease-rules';

export interface LeaderElectorOptions extends Partial<LeaderTiming> {
  client: LeaseClient;
  namespace: string;
  /** Lease name (default spiderpool-guard-reconciler) */
  name?: string;
  /** unique per replica, e.g. the pod name */
  identity: string;
  onStartedLeading: () => void;
  /** called synchronously when leadership ends (renew deadline passed, lease taken by another, stop()) */
  onStoppedLeading: () => void;
  /** called when the observed holder changes (including to this replica) */
  onNewLeader?: (identity: string) => void;
  clock?: Clock;
  log?: Logger;
}

export const DEFAULT_LEASE_NAME = 'spiderpool-guard-reconciler';

/** The reason an attempt's signal fired. */
export class LeaseCallAborted extends Error {}

export class LeaderElector {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly timing: LeaderTiming;
  private readonly clock: Clock;
  private observed: StoredLease | undefined;
  /** local time at which the observed record last changed (taken after the read that showed the change) */
  private observedAt = 0;
  private leading = false;
  private cancelDeadline: (() => void) | undefined;
  private inFlight: AbortController | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private reportedHolder = '';

  constructor(private readonly o: LeaderElectorOptions) {
    this.namespace = o.namespace;
    this.name = o.name ?? DEFAULT_LEASE_NAME;
    this.identity = o.identity;
    this.timing = {
      leaseDurationMs: o.leaseDurationMs ?? DEFAULT_LEADER_TIMING.leaseDurationMs,
      renewDeadlineMs: o.renewDeadlineMs ?? DEFAULT_LEADER_TIMING.renewDeadlineMs,
      retryPeriodMs: o.retryPeriodMs ?? DEFAULT_LEADER_TIMING.retryPeriodMs,
    };
    this.clock = o.clock ?? realClock;
    const problem = leaderTimingProblem(this.timing);
    if (problem) throw new Error(`leader election: ${problem}`);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed in the lease ('' when none). */
  holder(): string {
    return this.observed?.record.holderIdentity ?? '';
  }

  private get lease(): string {
    return `${this.namespace}/${this.name}`;
  }

  /**
   * One client-go step: acquire or renew. True when this replica holds the lease afterwards. Every call passes
   * `signal`. Exposed for tests; the loop calls it every retry period under a timeout.
   */
  async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const opts = { signal };
    const { client } = this.o;
    const current = await client.get(this.namespace, this.name, opts);
    const now = this.clock.now();
    if (current && leaseChanged(this.observed, current)) this.see(current, now);
    const step = nextLeaseStep(current, this.identity, this.observedAt, now, this.timing.leaseDurationMs);
    if (step.step === 'wait') return false;
    const record = leaseRecordFor(this.identity, current?.record, now, this.timing.leaseDurationMs);
    try {
      const stored = current
        ? await client.update(this.namespace, this.name, record, current.resourceVersion, opts)
        : await client.create(this.namespace, this.name, record, opts);
      this.see(stored, this.clock.now());
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // another candidate wrote first (or created it first)
      throw err;
    }
  }

  private see(lease: StoredLease, now: number): void {
    this.observed = lease;
    this.observedAt = now;
    const holder = lease.record.holderIdentity;
    if (holder !== this.reportedHolder) {
      this.reportedHolder = holder;
      if (holder) this.o.onNewLeader?.(holder);
    }
  }

  /** Starts campaigning in the background (idempotent). */
  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.running = this.loop().catch((err: unknown) => {
      this.o.log?.error({ err, lease: this.lease, identity: this.identity }, 'leader election loop crashed');
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const abort = new AbortController();
    this.wake = () => abort.abort();
    return this.clock.sleep(ms, abort.signal);
  }

  /** One attempt under its own signal: fired by the timeout, by stepping down, or by stop(). */
  private async attempt(): Promise<boolean> {
    const call = new AbortController();
    this.inFlight = call;
    const timeoutMs = attemptTimeoutMs(this.timing);
    const cancelTimeout = afterDelay(this.clock, timeoutMs, () =>
      call.abort(new LeaseCallAborted(`Lease call timed out after ${timeoutMs} ms`)),
    );
    try {
      return await abortable(this.tryAcquireOrRenew(call.signal), call.signal);
    } catch (err) {
      this.o.log?.warn(
        { err, lease: this.lease, identity: this.identity, leading: this.leading },
        `leader election: lease ${this.lease} read/write failed: ${describeApiError(err)}`,
      );
      return false;
    } finally {
      cancelTimeout();
      if (this.inFlight === call) this.inFlight = undefined;
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const startedAt = this.clock.now();
      const ok = await this.attempt();
      if (this.stopped) break;
      if (ok) this.renewed(startedAt);
      else if (this.leading && this.holder() !== '' && this.holder() !== this.identity)
        this.stepDown(`the lease is held by ${this.holder()}`);
      // Candidates add jitter (client-go: up to 1.2 × retryPeriod) so they do not hit the API in lockstep.
      const retry = this.timing.retryPeriodMs;
      await this.sleep(this.leading ? retry : retry * (1 + Math.random() * 0.2));
    }
  }

  /** A renew (or acquisition) that started at `startedAt` succeeded: leadership lasts until startedAt + renewDeadline. */
  private renewed(startedAt: number): void {
    const now = this.clock.now();
    const deadline = startedAt + this.timing.renewDeadlineMs;
    if (deadline <= now) return; // cannot happen while attempts time out before the deadline; never lead on it
    this.cancelDeadline?.();
    this.cancelDeadline = afterDelay(this.clock, deadline - now, () =>
      this.stepDown(`not renewed within the renew deadline (${this.timing.renewDeadlineMs} ms)`),
    );
    if (this.leading) return;
    this.leading = true;
    this.o.log?.info({ lease: this.lease, identity: this.identity }, 'leader election: started leading');
    this.o.onStartedLeading();
  }

  /** Drops leadership now: the deadline timer is cancelled, the in-flight Lease call aborted, writers told. */
  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    this.inFlight?.abort(new LeaseCallAborted(`stepped down: ${reason}`));
    this.o.log?.warn(
      { lease: this.lease, identity: this.identity, holder: this.holder(), reason },
      `leader election: stopped leading: ${reason}`,
    );
    this.o.onStoppedLeading();
  }

  /** Stops campaigning; a leader stops leading first (writes aborted), then releases the lease (holderIdentity cleared). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.inFlight?.abort(new LeaseCallAborted('leader election stopped'));
    this.wake?.();
    await this.running;
    this.running = undefined;
    if (!this.leading) return;
    this.stepDown('shutting down');
    const call = new AbortController();
    const timeoutMs = attemptTimeoutMs(this.timing);
    const cancelTimeout = afterDelay(this.clock, timeoutMs, () =>
      call.abort(new LeaseCallAborted(`Lease release timed out after ${timeoutMs} ms`)),
    );
    try {
      const opts = { signal: call.signal };
      const release = async () => {
        const current = await this.o.client.get(this.namespace, this.name, opts);
        if (!current || current.record.holderIdentity !== this.identity) return;
        await this.o.client.update(
          this.namespace,
          this.name,
          releasedRecord(current.record, this.clock.now()),
          current.resourceVersion,
          opts,
        );
        this.o.log?.info({ lease: this.lease, identity: this.identity }, 'leader election: released the lease');
      };
      await abortable(release(), call.signal);
    } catch (err) {
      this.o.log?.warn(
        { err, lease: this.lease, identity: this.identity },
        `leader election: could not release the lease: ${describeApiError(err)}`,
      );
    } finally {
      cancelTimeout();
    }
  }
}
