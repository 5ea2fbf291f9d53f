import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { createLogger } from '../../../webhook/log/logger';
import { addObject } from '../../../webhook/cluster/snapshot';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { IndexedView } from '../../../webhook/model/view';
import { Executor } from '../../../webhook/reconciler/executor';
import { ReconcileLoop } from '../../../webhook/reconciler/loop';
import { startReconciler } from '../../../webhook/app/reconciler';
import { createReconcilerMetrics } from '../../../webhook/reconciler/metrics';
import { reconcilerUser } from '../../../webhook/reconciler/selfcheck';
import { FakeCluster, FakeLeases, ManualClock, flush } from '../support/fake-cluster';
import { endpoint, pod, pool, view } from '../support/reconciler-builders';

type Obj = Record<string, unknown>;
const staticIp = DEFAULT_STATIC_IP_CONFIG;
const user = reconcilerUser('kube-system');
const log = createLogger('silent');

function harness(items: Obj[], settleMs = 10_000) {
  const fc = new FakeCluster(items);
  const v = view(...items.map((i) => structuredClone(i)));
  const clock = new ManualClock(0);
  let synced = true;
  const source = { view: v as IndexedView, synced: () => synced };
  const metrics = createReconcilerMetrics(new Registry());
  const executor = new Executor({ client: fc, staticIp, user, log, metrics, clock, maxWritesPerSecond: 1000 });
  const loop = new ReconcileLoop({
    source,
    executor,
    staticIp,
    user,
    settleMs,
    intervalMs: 60_000,
    debounceMs: 1_000,
    log,
    metrics,
    clock,
  });
  return { fc, v, clock, loop, metrics, setSynced: (s: boolean) => (synced = s) };
}

const goneItems = () => [
  endpoint({ name: 'api-1', uid: 'u1', ips: [['10.6.0.9', 'p']] }),
  pool({ name: 'p', records: { '10.6.0.9': ['demo/api-1', 'u1'] } }),
];

describe('ReconcileLoop (injected time)', () => {
  it('acts only once an action persisted for the settle interval, with a pass scheduled for that moment', async () => {
    const h = harness(goneItems());
    h.loop.start();
    await flush();
    expect(h.fc.writes).toEqual([]);
    await h.clock.advance(9_000);
    expect(h.fc.writes).toEqual([]);
    await h.clock.advance(1_500);
    expect(h.fc.writes).toEqual(['PUT pool/p/status', 'DELETE endpoint/demo/api-1', 'PATCH endpoint/demo/api-1']);
    await h.loop.stop();
  });

  it('a transient state that resolves within the settle interval is never acted on', async () => {
    const h = harness(goneItems());
    h.loop.start();
    await h.clock.advance(5_000);
    // the pod shows up (the informer had not delivered it yet): the state was transient
    addObject(h.v, pod({ name: 'api-1', uid: 'u1', ips: ['10.6.0.9'] }));
    h.fc.put(pod({ name: 'api-1', uid: 'u1', ips: ['10.6.0.9'] }));
    h.loop.trigger('pod added');
    await h.clock.advance(20_000);
    expect(h.fc.writes).toEqual([]);
    await h.loop.stop();
  });

  it('debounces triggers into one pass and runs a periodic pass', async () => {
    const h = harness([]);
    const spy = jest.spyOn(h.loop, 'runPass');
    h.loop.start();
    await flush();
    expect(spy).toHaveBeenCalledTimes(1); // the initial pass
    for (let i = 0; i < 5; i++) {
      h.loop.trigger('pod deleted');
      await h.clock.advance(100);
    }
    await h.clock.advance(1_000);
    expect(spy).toHaveBeenCalledTimes(2);
    await h.clock.advance(60_000);
    expect(spy).toHaveBeenCalledTimes(3);
    await h.loop.stop();
  });

  it('skips passes while caches are not synced', async () => {
    const h = harness(goneItems(), 0);
    h.setSynced(false);
    h.loop.start();
    await h.clock.advance(5_000);
    expect(h.fc.writes).toEqual([]);
    h.setSynced(true);
    await h.clock.advance(1_500);
    expect(h.fc.writes.length).toBeGreaterThan(0);
    await h.loop.stop();
  });

  it('runPass() works without the scheduler (diagnostics); settle 0 acts at once', async () => {
    const h = harness(goneItems(), 0);
    const report = await h.loop.runPass();
    expect(report.settled).toHaveLength(2);
    expect(report.results.map((r) => r.result)).toEqual(['done', 'done']);
  });

  it('exports findings metrics and emits one conflict Event per persisting conflict', async () => {
    const items = [
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.20'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.20'] }),
    ];
    const h = harness(items, 0);
    await h.loop.runPass();
    await h.loop.runPass();
    expect(h.fc.events.map((e) => e.reason)).toEqual(['SpiderpoolGuardIPConflict', 'SpiderpoolGuardIPConflict']);
    const text = await h.metrics.registry.metrics();
    expect(text).toContain('spiderpool_guard_reconcile_findings{finding="IP_CONFLICT",severity="error"} 1');
    expect(text).toMatch(/spiderpool_guard_reconcile_last_success_timestamp_seconds \d/);
  });
});

describe('startReconciler', () => {
  it('runs the loop only while leading and releases the lease on stop', async () => {
    const items = goneItems();
    const fc = new FakeCluster(items);
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const registry = new Registry();
    const r = startReconciler({
      source: { view: view(...items), synced: () => true },
      kubeConfig: new k8s.KubeConfig(),
      namespace: 'kube-system',
      identity: 'replica-a',
      settleMs: 0,
      client: fc,
      leaseClient: leases,
      clock,
      registry,
      log,
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
    });
    await clock.advance(2_000);
    expect(r.isLeader()).toBe(true);
    expect(fc.writes.length).toBeGreaterThan(0);
    expect(await registry.metrics()).toContain('spiderpool_guard_reconcile_leader 1');
    await r.stop();
    expect(r.isLeader()).toBe(false);
    expect(leases.store.get('kube-system/spiderpool-guard-reconciler')!.record.holderIdentity).toBe('');
    expect(await registry.metrics()).toContain('spiderpool_guard_reconcile_leader 0');
  });

  it('a replica that is not the leader never writes', async () => {
    const items = goneItems();
    const fc = new FakeCluster(items);
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    await leases.create('kube-system', 'spiderpool-guard-reconciler', {
      holderIdentity: 'other',
      leaseDurationSeconds: 15,
      renewTime: 0,
      leaseTransitions: 0,
    });
    const r = startReconciler({
      source: { view: view(...items), synced: () => true },
      kubeConfig: new k8s.KubeConfig(),
      namespace: 'kube-system',
      identity: 'replica-b',
      settleMs: 0,
      client: fc,
      leaseClient: leases,
      clock,
      log,
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
    });
    await clock.advance(1_000);
    expect(r.isLeader()).toBe(false);
    const report = await r.runPass();
    expect(report.results.map((x) => x.result)).toEqual(['stale', 'deferred']); // the release was refused, so the endpoint waits
    expect(fc.writes).toEqual([]);
    await r.stop();
  });
});
