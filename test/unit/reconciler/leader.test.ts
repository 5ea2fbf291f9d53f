import { CallOptions, LeaseClient, LeaseRecord } from '../../../webhook/model/ports';
import { attemptTimeoutMs, leaderTimingProblem, nextLeaseStep } from '../../../webhook/reconciler/lease-rules';
import { FakeLeases, ManualClock, flush } from '../support/fake-cluster';
import { elector } from '../support/elector';

/**
 * A replica's connection to the Lease store that the test can hang (calls never answer, like a frozen TCP
 * connection) or break (calls fail at once). A hung call settles only when its signal fires, as the real adapter's
 * aborted HTTP request does; `aborted` counts those.
 */
class Connection implements LeaseClient {
  mode: 'ok' | 'hang' | 'fail' = 'ok';
  calls = 0;
  aborted = 0;
  constructor(private readonly leases: FakeLeases) {}
  private call<T>(real: () => Promise<T>, opts?: CallOptions): Promise<T> {
    this.calls++;
    if (this.mode === 'fail') return Promise.reject(new Error('connect ECONNREFUSED'));
    if (this.mode === 'ok') return real();
    return new Promise<T>((_, reject) => {
      opts?.signal?.addEventListener('abort', () => {
        this.aborted++;
        reject(new Error('The operation was aborted'));
      });
    });
  }
  get(ns: string, n: string, opts?: CallOptions) {
    return this.call(() => this.leases.get(ns, n), opts);
  }
  create(ns: string, n: string, r: LeaseRecord, opts?: CallOptions) {
    return this.call(() => this.leases.create(ns, n, r), opts);
  }
  update(ns: string, n: string, r: LeaseRecord, rv: string, opts?: CallOptions) {
    return this.call(() => this.leases.update(ns, n, r, rv), opts);
  }
}

/** Elector 'a' leading (from t=0) through a Connection the test can hang or break. */
async function leaderOnConnection() {
  const leases = new FakeLeases();
  const clock = new ManualClock(0);
  const events: string[] = [];
  const conn = new Connection(leases);
  const a = elector(leases, clock, 'a', events, { client: conn });
  a.start();
  await flush();
  return { leases, clock, events, conn, a };
}

/** Advances the clock in small steps until cond() holds; returns the time it took (Infinity if never within maxMs). */
async function timeUntil(clock: ManualClock, cond: () => boolean, maxMs: number, step = 10): Promise<number> {
  const t0 = clock.now();
  while (!cond()) {
    if (clock.now() - t0 >= maxMs) return Infinity;
    await clock.advance(step, step);
  }
  return clock.now() - t0;
}

describe('LeaderElector.tryAcquireOrRenew (injected time)', () => {
  it('creates the lease when absent, renews its own, and a second candidate cannot take an unexpired lease', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const a = elector(leases, clock, 'a', []);
    const b = elector(leases, clock, 'b', []);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record).toMatchObject({
      holderIdentity: 'a',
      leaseDurationSeconds: 2,
      leaseTransitions: 0,
    });
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.t = 1000;
    expect(await a.tryAcquireOrRenew()).toBe(true); // renew
    clock.t = 2500; // 1.5 s after b first saw the renewed record
    expect(await b.tryAcquireOrRenew()).toBe(false);
    expect(b.holder()).toBe('a');
  });

  it('takes over a lease whose holder stopped renewing, judged by the local clock since the record last changed', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const a = elector(leases, clock, 'a', []);
    const b = elector(leases, clock, 'b', []);
    await a.tryAcquireOrRenew();
    clock.t = 100;
    expect(await b.tryAcquireOrRenew()).toBe(false); // b observes the record at t=100
    clock.t = 2099;
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.t = 2100;
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 1,
    });
    expect(await a.tryAcquireOrRenew()).toBe(false); // a's view is stale; b holds an unexpired lease now
  });

  it('two candidates racing for an expired lease: the resourceVersion lets only one win', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const a = elector(leases, clock, 'a', []);
    const b = elector(leases, clock, 'b', []);
    const c = elector(leases, clock, 'c', []);
    await a.tryAcquireOrRenew();
    await Promise.all([b.tryAcquireOrRenew(), c.tryAcquireOrRenew()]);
    clock.t = 5000;
    const won = await Promise.all([b.tryAcquireOrRenew(), c.tryAcquireOrRenew()]);
    expect(won.filter(Boolean)).toHaveLength(1);
  });

  it('rejects inconsistent timings', () => {
    expect(() => elector(new FakeLeases(), new ManualClock(), 'a', [], { renewDeadlineMs: 3000 })).toThrow(
      /renew deadline .* shorter than the lease duration/,
    );
    expect(() => elector(new FakeLeases(), new ManualClock(), 'a', [], { retryPeriodMs: 1500 })).toThrow(
      /retry period .* shorter than the renew deadline/,
    );
  });
});

describe('LeaderElector loop (injected time)', () => {
  it('one leader; release on stop lets the other take over at its next retry', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const events: string[] = [];
    const a = elector(leases, clock, 'a', events);
    const b = elector(leases, clock, 'b', events);
    a.start();
    await flush();
    b.start();
    await clock.advance(2000);
    expect(events).toEqual(['a:start']);
    expect(a.isLeader() && !b.isLeader()).toBe(true);
    const t0 = clock.now();
    await a.stop();
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record.holderIdentity).toBe('');
    await clock.advance(1000);
    expect(events).toEqual(['a:start', 'a:stop', 'b:start']);
    expect(b.isLeader()).toBe(true);
    const failover = events.includes('b:start') ? clock.now() - t0 : Infinity;
    expect(failover).toBeLessThanOrEqual(1000);
    await b.stop();
  });

  it('a leader that cannot renew stops leading after the renew deadline; the follower takes over after expiry', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const events: string[] = [];
    let aCutOff = false;
    // a's own connection to the API server, which the test can cut
    const aClient: LeaseClient = {
      get: (ns, n) => (aCutOff ? Promise.reject(new Error('connect ECONNREFUSED')) : leases.get(ns, n)),
      create: (ns, n, r) => (aCutOff ? Promise.reject(new Error('connect ECONNREFUSED')) : leases.create(ns, n, r)),
      update: (ns, n, r, rv) =>
        aCutOff ? Promise.reject(new Error('connect ECONNREFUSED')) : leases.update(ns, n, r, rv),
    };
    const a = elector(leases, clock, 'a', events, { client: aClient });
    a.start();
    await flush();
    const b = elector(leases, clock, 'b', events);
    b.start();
    await clock.advance(1000);
    expect(a.isLeader()).toBe(true);
    aCutOff = true;
    const cut = clock.now();
    let aStopped = -1;
    let bStarted = -1;
    for (let t = 0; t < 5000 && bStarted < 0; t += 50) {
      await clock.advance(50);
      if (aStopped < 0 && events.includes('a:stop')) aStopped = clock.now() - cut;
      if (bStarted < 0 && events.includes('b:start')) bStarted = clock.now() - cut;
    }
    // a gives up within renewDeadline (+ one retry period); b takes over only after the lease expired for it
    expect(aStopped).toBeGreaterThan(0);
    expect(aStopped).toBeLessThanOrEqual(1500 + 500);
    expect(bStarted).toBeGreaterThan(aStopped); // never two leaders at once
    expect(bStarted).toBeLessThanOrEqual(2000 + 600 + 500);
    expect(b.isLeader()).toBe(true);
    await a.stop();
    await b.stop();
  });
});

describe('lease rules (pure)', () => {
  it('validates the timing relations and bounds each attempt below the renew deadline', () => {
    expect(
      leaderTimingProblem({ leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000 }),
    ).toBeUndefined();
    expect(leaderTimingProblem({ leaseDurationMs: 10000, renewDeadlineMs: 10000, retryPeriodMs: 2000 })).toMatch(
      /renew deadline/,
    );
    expect(leaderTimingProblem({ leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 10000 })).toMatch(
      /retry period/,
    );
    expect(leaderTimingProblem({ leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 0 })).toMatch(
      /positive/,
    );
    expect(attemptTimeoutMs({ leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000 })).toBe(5000);
  });

  it("judges expiry from the local observation time, never from the record's renewTime", () => {
    // renewTime says the holder renewed an hour ago by ITS clock; we saw the record change at t=1000 on ours
    const lease = {
      record: { holderIdentity: 'a', leaseDurationSeconds: 4, renewTime: -3_600_000, leaseTransitions: 0 },
      resourceVersion: '7',
    };
    expect(nextLeaseStep(lease, 'b', 1000, 4999, 15000)).toEqual({ step: 'wait', holder: 'a', freeAt: 5000 });
    expect(nextLeaseStep(lease, 'b', 1000, 5000, 15000)).toEqual({ step: 'acquire' });
    expect(nextLeaseStep(lease, 'a', 1000, 1001, 15000)).toEqual({ step: 'renew' });
    expect(
      nextLeaseStep({ ...lease, record: { ...lease.record, holderIdentity: '' } }, 'b', 1000, 1001, 15000),
    ).toEqual({ step: 'acquire' });
    expect(nextLeaseStep(null, 'b', 0, 0, 15000)).toEqual({ step: 'create' });
  });
});

describe('stepping down on time (injected time, no sleeps)', () => {
  // lease 2 s, renew deadline 1.5 s, retry 0.5 s: each attempt times out after 750 ms
  it('a renew that hangs: leadership ends exactly at the renew deadline, while the call still hangs; the call is aborted', async () => {
    const { clock, events, conn, a } = await leaderOnConnection();
    expect(a.isLeader()).toBe(true); // acquired at t=0
    await clock.advance(500, 10); // renewed: the attempt that started at t=500 succeeded
    const lastRenewStart = 500;
    conn.mode = 'hang';
    await timeUntil(clock, () => events.includes('a:stop'), 5000);
    // the deadline timer, not a check after a call returned: at t=2000 no call returns (the attempt of t=1000 was
    // aborted at 1750 by its timeout, the next one starts at 2250)
    expect(clock.now()).toBe(lastRenewStart + 1500);
    expect(a.isLeader()).toBe(false);
    expect(conn.aborted).toBeGreaterThanOrEqual(1); // hung calls are aborted (by the attempt timeout or at the deadline)
    await a.stop();
    expect(events).toEqual(['a:start', 'a:stop']);
  });

  it('each Lease call is aborted after half the renew deadline, so a follower keeps polling through a hanging connection', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const conn = new Connection(leases);
    conn.mode = 'hang';
    const b = elector(leases, clock, 'b', [], { client: conn });
    b.start();
    await flush();
    await clock.advance(750 - 10, 10);
    expect(conn.aborted).toBe(0);
    await clock.advance(10, 10);
    expect(conn.aborted).toBe(1); // the first attempt's call, at 750 ms
    await clock.advance(3000, 10);
    expect(conn.calls).toBeGreaterThanOrEqual(3); // attempts go on: timeout + retry period each
    conn.mode = 'ok';
    await timeUntil(clock, () => b.isLeader(), 2000);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it('a renew that fails: retried every retry period until the deadline, then leadership ends; a retry that succeeds in time keeps it', async () => {
    const { clock, events, conn, a } = await leaderOnConnection();
    await clock.advance(500, 10); // last success: attempt at t=500
    conn.mode = 'fail';
    const before = conn.calls;
    await clock.advance(1400, 10); // t=1900: attempts at 1000 and 1500 failed
    expect(conn.calls - before).toBe(2);
    expect(a.isLeader()).toBe(true);
    await clock.advance(100, 10); // t=2000 = 500 + 1500
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a:start', 'a:stop']);
    // back: it re-acquires its own (still unexpired for others) lease at the next retry
    conn.mode = 'ok';
    await timeUntil(clock, () => a.isLeader(), 1000);
    expect(events).toEqual(['a:start', 'a:stop', 'a:start']);
    // one failed renew between successes does not end leadership
    conn.mode = 'fail';
    await clock.advance(500, 10);
    conn.mode = 'ok';
    await clock.advance(2000, 10);
    expect(events).toEqual(['a:start', 'a:stop', 'a:start']);
    await a.stop();
  });

  it('a candidate that finds a stale lease waits a full lease duration from its own observation before it writes', async () => {
    const leases = new FakeLeases();
    // the lease of a replica that died long ago; its renewTime (by its clock) is far in the past
    await leases.create('kube-system', 'spiderpool-guard-reconciler', {
      holderIdentity: 'dead',
      leaseDurationSeconds: 2,
      renewTime: 1,
      acquireTime: 1,
      leaseTransitions: 3,
    });
    const clock = new ManualClock(1_000_000);
    const events: string[] = [];
    const writes: number[] = [];
    const conn = new Connection(leases);
    const watched: LeaseClient = {
      get: (ns, n, o) => conn.get(ns, n, o),
      create: (ns, n, r, o) => (writes.push(clock.now()), conn.create(ns, n, r, o)),
      update: (ns, n, r, rv, o) => (writes.push(clock.now()), conn.update(ns, n, r, rv, o)),
    };
    const b = elector(leases, clock, 'b', events, { client: watched });
    const t0 = clock.now();
    b.start();
    await flush(); // first read at t0: the record is new to b
    const took = await timeUntil(clock, () => b.isLeader(), 5000);
    expect(writes.length).toBe(1);
    expect(writes[0] - t0).toBeGreaterThanOrEqual(2000); // never before a full lease duration on b's clock
    expect(took).toBeLessThanOrEqual(2000 + 600 + 10); // and at the first retry after it
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 4,
    });
    await b.stop();
  });

  it('a holder that keeps renewing is never taken over, however old its renewTime looks', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const events: string[] = [];
    // a's clock is an hour behind: the renewTime it writes looks long expired to anyone comparing clocks
    const aClock = { now: () => clock.now() - 3_600_000, sleep: (ms: number, s?: AbortSignal) => clock.sleep(ms, s) };
    const a = elector(leases, clock, 'a', events, { clock: aClock });
    const b = elector(leases, clock, 'b', events);
    a.start();
    await flush();
    b.start();
    await clock.advance(10_000, 10);
    expect(events).toEqual(['a:start']);
    await a.stop();
    await b.stop();
  });

  it('graceful release: stop() stops leading first (writers told), then clears the holder; the follower takes over at its next retry', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const events: string[] = [];
    const a = elector(leases, clock, 'a', events, {
      onStoppedLeading: () =>
        events.push(
          `a:stop holder=${leases.store.get('kube-system/spiderpool-guard-reconciler')!.record.holderIdentity}`,
        ),
    });
    const b = elector(leases, clock, 'b', events);
    a.start();
    await flush();
    b.start();
    await clock.advance(1000, 10);
    await a.stop();
    expect(events).toEqual(['a:start', 'a:stop holder=a']); // stopped leading before the lease was released
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record).toMatchObject({
      holderIdentity: '',
      leaseDurationSeconds: 1,
    });
    const took = await timeUntil(clock, () => b.isLeader(), 2000);
    expect(took).toBeLessThanOrEqual(600 + 10);
    await b.stop();
  });

  it('a release that hangs is abandoned after the attempt timeout; stop() still returns', async () => {
    const { leases, clock, events, conn, a } = await leaderOnConnection();
    conn.mode = 'hang';
    let stopped = false;
    const stopping = a.stop().then(() => (stopped = true));
    await flush();
    expect(events).toEqual(['a:start', 'a:stop']);
    await clock.advance(740, 10);
    expect(stopped).toBe(false);
    await clock.advance(20, 10);
    await stopping;
    expect(stopped).toBe(true);
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record.holderIdentity).toBe('a');
  });
});
