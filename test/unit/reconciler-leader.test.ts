import { LeaderElector, LeaderElectorOptions } from '../../webhook/reconciler/leader';
import { LeaseClient } from '../../webhook/model/ports';
import { FakeLeases, ManualClock, flush } from './support/fake-cluster';

function elector(leases: FakeLeases, clock: ManualClock, identity: string, events: string[], extra: Partial<LeaderElectorOptions> = {}) {
  return new LeaderElector({
    client: leases,
    namespace: 'kube-system',
    identity,
    leaseDurationMs: 2000,
    renewDeadlineMs: 1500,
    retryPeriodMs: 500,
    clock,
    onStartedLeading: () => events.push(`${identity}:start`),
    onStoppedLeading: () => events.push(`${identity}:stop`),
    ...extra,
  });
}

describe('LeaderElector.tryAcquireOrRenew (injected time)', () => {
  it('creates the lease when absent, renews its own, and a second candidate cannot take an unexpired lease', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const a = elector(leases, clock, 'a', []);
    const b = elector(leases, clock, 'b', []);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 2, leaseTransitions: 0 });
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
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
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
    expect(() => elector(new FakeLeases(), new ManualClock(), 'a', [], { renewDeadlineMs: 3000 })).toThrow(/renewDeadline/);
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
      update: (ns, n, r, rv) => (aCutOff ? Promise.reject(new Error('connect ECONNREFUSED')) : leases.update(ns, n, r, rv)),
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
