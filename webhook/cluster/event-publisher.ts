// Kubernetes Events about admission decisions (core/v1, as the reconciler's; the chart grants events create/patch).
// publish() only updates an in-memory table and returns: a background worker writes, so a decision never waits
// for the API server and an Event that cannot be written never changes a decision.
// - Aggregated per (object, reason): the first occurrence creates an Event, later ones raise its count (PATCH of
//   count, lastTimestamp and message) instead of creating new Events.
// - Rate-limited: at most one write per (object, reason) every perObjectIntervalMs, and writes spaced by minGapMs.
// - Bounded: at most maxEntries (object, reason) pairs are tracked; an idle one is forgotten to make room, and when
//   every one is still waiting to be written the new occurrence is dropped (and counted).
import * as k8s from '@kubernetes/client-node';
import { EventPublisher, EventSpec } from '../model';
import { eventBody, eventMessage } from './event-body';
import { isNotFound } from '../../lib/api-errors';

export type EventResult = 'created' | 'aggregated' | 'dropped' | 'failed';

/** The two writes the publisher makes. */
export interface EventWriter {
  /** creates the Event; resolves with its name */
  create(e: EventSpec, count: number, now: Date): Promise<string>;
  /** raises the count of an Event created earlier */
  update(namespace: string, name: string, count: number, message: string, now: Date): Promise<void>;
}

export interface EventPublisherOptions {
  /** (object, reason) pairs tracked (default 1000) */
  maxEntries?: number;
  /** at most one write per (object, reason) this often (default 10 s) */
  perObjectIntervalMs?: number;
  /** spacing between any two writes (default 50 ms: at most 20 writes/s) */
  minGapMs?: number;
  /** after this long without an occurrence, the next one starts a new Event (default 10 min) */
  forgetAfterMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** every outcome, for the events_total metric */
  onResult?: (reason: string, result: EventResult) => void;
  /** a failed write, for the log */
  onError?: (err: unknown, e: EventSpec) => void;
}

interface Entry {
  spec: EventSpec;
  count: number;
  name?: string;
  lastWriteAt: number;
  lastSeenAt: number;
  queued: boolean;
}

const keyOf = (e: EventSpec) => {
  const o = e.involvedObject;
  return [e.namespace, o.kind, o.namespace ?? '', o.name, o.uid ?? '', e.reason].join('|');
};

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class QueuedEventPublisher implements EventPublisher {
  private readonly entries = new Map<string, Entry>();
  private readonly queue = new Set<Entry>();
  private worker: Promise<void> | undefined;
  private lastWriteAt = -Infinity;
  private readonly o: Required<Omit<EventPublisherOptions, 'onError'>> & Pick<EventPublisherOptions, 'onError'>;

  constructor(
    private readonly writer: EventWriter,
    opts: EventPublisherOptions = {},
  ) {
    this.o = {
      maxEntries: opts.maxEntries ?? 1000,
      perObjectIntervalMs: opts.perObjectIntervalMs ?? 10_000,
      minGapMs: opts.minGapMs ?? 50,
      forgetAfterMs: opts.forgetAfterMs ?? 600_000,
      now: opts.now ?? Date.now,
      sleep: opts.sleep ?? sleepMs,
      onResult: opts.onResult ?? (() => undefined),
      onError: opts.onError,
    };
  }

  publish(spec: EventSpec): void {
    const now = this.o.now();
    const key = keyOf(spec);
    let e = this.entries.get(key);
    if (e && !e.queued && now - e.lastSeenAt >= this.o.forgetAfterMs) {
      this.entries.delete(key);
      e = undefined;
    }
    if (e) {
      e.count++;
      e.spec = spec;
      e.lastSeenAt = now;
      this.o.onResult(spec.reason, 'aggregated');
    } else {
      if (this.entries.size >= this.o.maxEntries && !this.evictIdle()) {
        this.o.onResult(spec.reason, 'dropped');
        return;
      }
      e = { spec, count: 1, lastWriteAt: -Infinity, lastSeenAt: now, queued: false };
      this.entries.set(key, e);
    }
    if (!e.queued) {
      e.queued = true;
      this.queue.add(e);
    }
    // Started on the next turn of the event loop: not even the request set-up runs inside the caller's decision.
    this.worker ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => (this.worker = undefined));
  }

  /** Resolves once everything queued has been written or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Forgets the least recently seen entry that has nothing left to write. */
  private evictIdle(): boolean {
    let oldest: [string, Entry] | undefined;
    for (const kv of this.entries)
      if (!kv[1].queued && (!oldest || kv[1].lastSeenAt < oldest[1].lastSeenAt)) oldest = kv;
    if (oldest) this.entries.delete(oldest[0]);
    return !!oldest;
  }

  private dueAt(e: Entry): number {
    return Math.max(e.lastWriteAt + this.o.perObjectIntervalMs, this.lastWriteAt + this.o.minGapMs);
  }

  private async drain(): Promise<void> {
    while (this.queue.size > 0) {
      let next: Entry | undefined;
      for (const e of this.queue) if (!next || this.dueAt(e) < this.dueAt(next)) next = e;
      if (!next) return;
      const wait = this.dueAt(next) - this.o.now();
      if (wait > 0) {
        await this.o.sleep(wait);
        continue;
      }
      this.queue.delete(next);
      next.queued = false;
      await this.write(next);
    }
  }

  private async write(e: Entry): Promise<void> {
    const now = this.o.now();
    this.lastWriteAt = now;
    e.lastWriteAt = now;
    try {
      if (e.name === undefined) {
        e.name = await this.writer.create(e.spec, e.count, new Date(now));
        this.o.onResult(e.spec.reason, 'created');
      } else {
        await this.writer.update(e.spec.namespace, e.name, e.count, eventMessage(e.spec.message), new Date(now));
      }
    } catch (err) {
      // Given up, not retried (a retry storm against a struggling API server helps nobody): the next occurrence
      // writes again. An Event deleted meanwhile (TTL) is created anew then.
      if (isNotFound(err)) e.name = undefined;
      this.o.onResult(e.spec.reason, 'failed');
      this.o.onError?.(err, e.spec);
    }
  }
}

/** EventWriter against the API server (core/v1 Events). */
export class KubeEventWriter implements EventWriter {
  private readonly core: k8s.CoreV1Api;

  constructor(
    kc: k8s.KubeConfig,
    private readonly reportingInstance: string,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async create(e: EventSpec, count: number, now: Date): Promise<string> {
    const body = eventBody(e, this.reportingInstance, now, count);
    await this.core.createNamespacedEvent({ namespace: e.namespace, body });
    return body.metadata?.name ?? '';
  }

  async update(namespace: string, name: string, count: number, message: string, now: Date): Promise<void> {
    await this.core.patchNamespacedEvent(
      { namespace, name, body: { count, lastTimestamp: now, message } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }
}
