// Leader election on a coordination.k8s.io/v1 Lease, client-go style (leaderelection.LeaderElector):
// every retry period read the lease; create it when absent; take it when it is ours, unheld, or expired; the write
// carries the read resourceVersion, so of two candidates racing for an expired lease one gets 409 and stays a
// follower. Expiry is judged on the local clock from when this replica last saw the record change (observedTime),
// never by comparing clocks across machines. A leader that cannot renew within the renew deadline stops leading
// (onStoppedLeading) before its lease can expire for others. stop() releases the lease by clearing holderIdentity,
// so a successor takes over at its next retry instead of waiting for expiry. Time is injected (Clock).
import { Logger } from '../log';
import { LeaseClient, LeaseRecord, StoredLease } from '../model';
import { describeApiError, isConflict } from '../../lib/api-errors';
import { Clock, realClock } from './clock';

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  /** Lease name (default spiderpool-guard-reconciler) */
  name?: string;
  /** unique per replica, e.g. the pod name */
  identity: string;
  /** how long a lease is valid without renewal (default 15 s) */
  leaseDurationMs?: number;
  /** a leader gives up when it could not renew for this long (default 10 s, < leaseDuration) */
  renewDeadlineMs?: number;
  /** time between attempts (default 2 s) */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  /** called when the observed holder changes (including to this replica) */
  onNewLeader?: (identity: string) => void;
  clock?: Clock;
  log?: Logger;
}

export const DEFAULT_LEASE_NAME = 'spiderpool-guard-reconciler';

export class LeaderElector {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private observed: StoredLease | undefined;
  private observedTime = 0;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private reportedHolder = '';

  constructor(private readonly o: LeaderElectorOptions) {
    this.namespace = o.namespace;
    this.name = o.name ?? DEFAULT_LEASE_NAME;
    this.identity = o.identity;
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
    this.clock = o.clock ?? realClock;
    if (!(this.renewDeadlineMs < this.leaseMs)) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (!(this.retryMs < this.renewDeadlineMs)) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed in the lease ('' when none). */
  holder(): string {
    return this.observed?.record.holderIdentity ?? '';
  }

  /**
   * One client-go step: acquire or renew. True when this replica holds the lease afterwards.
   * Exposed for tests; the loop calls it every retry period.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const mine = (prev?: LeaseRecord): LeaseRecord => ({
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseMs / 1000)),
      acquireTime: prev && prev.holderIdentity === this.identity ? prev.acquireTime : now,
      renewTime: now,
      leaseTransitions: prev ? (prev.holderIdentity === this.identity ? prev.leaseTransitions : prev.leaseTransitions + 1) : 0,
    });
    const current = await this.o.client.get(this.namespace, this.name);
    if (!current) {
      try {
        this.see(await this.o.client.create(this.namespace, this.name, mine()), now);
        return true;
      } catch (err) {
        if (isConflict(err)) return false; // another candidate created it first
        throw err;
      }
    }
    if (!this.observed || !sameRecord(this.observed.record, current.record) || this.observed.resourceVersion !== current.resourceVersion) {
      this.see(current, now);
    }
    const held = current.record.holderIdentity;
    // Expiry by the local clock since the record last changed (or by the record's own duration when it says less).
    const duration = current.record.leaseDurationSeconds > 0 ? current.record.leaseDurationSeconds * 1000 : this.leaseMs;
    if (held !== '' && held !== this.identity && this.observedTime + duration > now) return false;
    try {
      this.see(await this.o.client.update(this.namespace, this.name, mine(current.record), current.resourceVersion), now);
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote first
      throw err;
    }
  }

  private see(lease: StoredLease, now: number): void {
    this.observed = lease;
    this.observedTime = now;
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
      this.o.log?.error({ err, lease: `${this.namespace}/${this.name}`, identity: this.identity }, 'leader election loop crashed');
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const abort = new AbortController();
    this.wake = () => abort.abort();
    return this.clock.sleep(ms, abort.signal);
  }

  private async attempt(): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (err) {
      this.o.log?.warn(
        { err, lease: `${this.namespace}/${this.name}`, identity: this.identity },
        `leader election: lease ${this.namespace}/${this.name} read/write failed: ${describeApiError(err)}`,
      );
      return false;
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const ok = await this.attempt();
      if (this.stopped) break;
      const now = this.clock.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.o.log?.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity }, 'leader election: started leading');
          this.o.onStartedLeading();
        }
      } else if (this.leading && (now - this.lastRenew >= this.renewDeadlineMs || (this.holder() !== '' && this.holder() !== this.identity))) {
        this.leading = false;
        this.o.log?.warn(
          { lease: `${this.namespace}/${this.name}`, identity: this.identity, holder: this.holder() },
          'leader election: lost the lease (not renewed within the renew deadline, or held by another); stopped leading',
        );
        this.o.onStoppedLeading();
      }
      // Candidates add jitter (client-go: up to 1.2 × retryPeriod) so they do not hit the API in lockstep.
      await this.sleep(this.leading ? this.retryMs : this.retryMs * (1 + Math.random() * 0.2));
    }
  }

  /** Stops campaigning; a leader releases the lease (holderIdentity cleared) and stops leading. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    this.running = undefined;
    if (!this.leading) return;
    this.leading = false;
    try {
      const current = await this.o.client.get(this.namespace, this.name);
      if (current && current.record.holderIdentity === this.identity) {
        const now = this.clock.now();
        await this.o.client.update(
          this.namespace,
          this.name,
          { ...current.record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now },
          current.resourceVersion,
        );
        this.o.log?.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity }, 'leader election: released the lease');
      }
    } catch (err) {
      this.o.log?.warn({ err, lease: `${this.namespace}/${this.name}` }, `leader election: could not release the lease: ${describeApiError(err)}`);
    } finally {
      this.o.onStoppedLeading();
    }
  }
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.renewTime === b.renewTime &&
    a.acquireTime === b.acquireTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}
