// Heal on denial (docs/rules.md, Reconciler actions): requests from admission denials that rest on an alive pod
// whose record is missing, run as targeted passes on the leader at once. Why this cannot loop or amplify:
// - dedupe: one pending request per (pool, IP); the agent retrying the same IP a hundred times a second adds nothing;
// - cooldown: a (pool, IP) that was just handled is not handled again for COOLDOWN_MS (a second denial of the same
//   IP within that time means the record is back or the fresh state does not call for it);
// - bounded: at most MAX_PENDING requests wait; more are dropped and counted, never queued without limit;
// - one pass at a time: requests arriving during a pass wait for the next one (batched per pool);
// - a heal pass writes only RESTORE_RECORD, which the reconciler's own guard self-check judges before writing; a
//   restored record makes later allocations of that IP move on to another IP, it never causes a denial of its own.
import { HealRequest } from '../model';
import { Clock } from './clock';

export const HEAL_MAX_PENDING = 256;
export const HEAL_COOLDOWN_MS = 1_000;

export type HealPassResult = 'done' | 'noop' | 'failed';
export type HealEnqueueResult = 'queued' | 'duplicate' | 'cooldown' | 'dropped';

/** Runs one targeted pass over a batch of requests (all for one pool); resolves with its result. */
export type HealRunner = (pool: string, batch: HealRequest[]) => Promise<HealPassResult>;

const keyOf = (r: HealRequest) => `${r.pool}|${r.ip}`;

export class HealQueue {
  private readonly pending = new Map<string, HealRequest>();
  private readonly handledAt = new Map<string, number>();
  private worker: Promise<void> | undefined;

  constructor(
    private readonly run: HealRunner,
    private readonly clock: Clock,
    private readonly onResult: (r: HealPassResult | 'dropped') => void = () => undefined,
    private readonly maxPending = HEAL_MAX_PENDING,
    private readonly cooldownMs = HEAL_COOLDOWN_MS,
  ) {}

  /** Takes a request without waiting for its pass. */
  request(r: HealRequest): HealEnqueueResult {
    const key = keyOf(r);
    if (this.pending.has(key)) return 'duplicate';
    const at = this.handledAt.get(key);
    if (at !== undefined && this.clock.now() - at < this.cooldownMs) return 'cooldown';
    if (this.pending.size >= this.maxPending) {
      this.onResult('dropped');
      return 'dropped';
    }
    this.pending.set(key, r);
    // Started on the next turn of the event loop, so the denial that asked is answered first.
    this.worker ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => (this.worker = undefined));
    return 'queued';
  }

  /** Resolves once every queued request has been handled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  get size(): number {
    return this.pending.size;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const byPool = new Map<string, HealRequest[]>();
      for (const r of this.pending.values()) byPool.set(r.pool, [...(byPool.get(r.pool) ?? []), r]);
      this.pending.clear();
      for (const [pool, batch] of byPool) {
        let result: HealPassResult;
        try {
          result = await this.run(pool, batch);
        } catch {
          result = 'failed';
        }
        const now = this.clock.now();
        for (const r of batch) this.handledAt.set(keyOf(r), now);
        this.onResult(result);
      }
      this.forgetOld(this.clock.now());
    }
  }

  private forgetOld(now: number): void {
    for (const [k, at] of this.handledAt) if (now - at >= this.cooldownMs) this.handledAt.delete(k);
  }
}
