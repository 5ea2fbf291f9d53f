import { Registry } from 'prom-client';
import { createLogger } from '../../../webhook/log/logger';
import { DEFAULT_STATIC_IP_CONFIG, HealRequest } from '../../../webhook/model';
import { IndexedView } from '../../../webhook/model/view';
import { Executor } from '../../../webhook/reconciler/executor';
import { HealQueue, HealPassResult } from '../../../webhook/reconciler/heal-queue';
import { ReconcileLoop } from '../../../webhook/reconciler/loop';
import { createReconcilerMetrics } from '../../../webhook/reconciler/metrics';
import { reconcilerUser } from '../../../webhook/reconciler/selfcheck';
import { FakeCluster, ManualClock, flush } from '../support/fake-cluster';
import { endpoint, pod, pool, view } from '../support/reconciler-builders';

type Obj = Record<string, unknown>;
const staticIp = DEFAULT_STATIC_IP_CONFIG;
const user = reconcilerUser('kube-system');
const log = createLogger('silent');

const req = (ip: string, poolName = 'p', podName = 'demo/holder'): HealRequest => ({
  pool: poolName,
  ip,
  pod: podName,
  rule: 'DOUBLE_ALLOCATION',
});

describe('HealQueue', () => {
  function queue(results: HealPassResult[] = [], maxPending = 256) {
    const clock = new ManualClock(0);
    const runs: { pool: string; ips: string[] }[] = [];
    const counted: string[] = [];
    const q = new HealQueue(
      async (p, batch) => {
        runs.push({ pool: p, ips: batch.map((r) => r.ip) });
        return results.shift() ?? 'done';
      },
      clock,
      (r) => counted.push(r),
      maxPending,
    );
    return { q, clock, runs, counted };
  }

  it('runs a pass per pool at once, without waiting for the caller; repeats of a pending request add nothing', async () => {
    const h = queue();
    expect(h.q.request(req('10.6.0.9'))).toBe('queued');
    expect(h.q.request(req('10.6.0.9'))).toBe('duplicate');
    expect(h.q.request(req('10.6.0.8'))).toBe('queued');
    expect(h.q.request(req('10.7.0.1', 'q'))).toBe('queued');
    expect(h.runs).toEqual([]); // nothing ran inside request()
    await h.q.idle();
    expect(h.runs).toEqual([
      { pool: 'p', ips: ['10.6.0.9', '10.6.0.8'] },
      { pool: 'q', ips: ['10.7.0.1'] },
    ]);
    expect(h.counted).toEqual(['done', 'done']);
  });

  it('an IP just handled is not handled again within the cooldown (the agent retrying cannot make passes)', async () => {
    const h = queue();
    h.q.request(req('10.6.0.9'));
    await h.q.idle();
    for (let i = 0; i < 100; i++) expect(h.q.request(req('10.6.0.9'))).toBe('cooldown');
    await h.clock.advance(1_000);
    expect(h.q.request(req('10.6.0.9'))).toBe('queued');
    await h.q.idle();
    expect(h.runs).toHaveLength(2);
  });

  it('is bounded: requests beyond the limit are dropped and counted', async () => {
    const h = queue([], 2);
    expect(h.q.request(req('10.6.0.1'))).toBe('queued');
    expect(h.q.request(req('10.6.0.2'))).toBe('queued');
    expect(h.q.request(req('10.6.0.3'))).toBe('dropped');
    expect(h.counted).toEqual(['dropped']);
    await h.q.idle();
    expect(h.runs).toEqual([{ pool: 'p', ips: ['10.6.0.1', '10.6.0.2'] }]);
  });

  it('a pass that throws counts as failed and the queue keeps working', async () => {
    const clock = new ManualClock(0);
    const counted: string[] = [];
    let calls = 0;
    const q = new HealQueue(
      async () => {
        if (calls++ === 0) throw new Error('API server unreachable');
        return 'noop';
      },
      clock,
      (r) => counted.push(r),
    );
    q.request(req('10.6.0.1'));
    await q.idle();
    q.request(req('10.6.0.2'));
    await q.idle();
    expect(counted).toEqual(['failed', 'noop']);
  });
});

/** The record the fake API server stores for an IP of a pool. */
async function storedRecord(fc: FakeCluster, poolName: string, ip: string): Promise<unknown> {
  const stored = JSON.parse(String(((await fc.getPool(poolName))!.status as Obj).allocatedIPs)) as Obj;
  return stored[ip];
}

describe('ReconcileLoop.heal (targeted pass after a denial)', () => {
  const holderItems = (records: Record<string, [string, string]>) => [
    pod({ name: 'holder', uid: 'uh', ips: ['10.6.0.9'] }),
    endpoint({ name: 'holder', uid: 'uh', ips: [['10.6.0.9', 'p']] }),
    pool({ name: 'p', records }),
  ];

  function harness(cacheItems: Obj[], apiItems: Obj[] = cacheItems) {
    const fc = new FakeCluster(apiItems);
    const v = view(...cacheItems.map((i) => structuredClone(i)));
    const clock = new ManualClock(0);
    const metrics = createReconcilerMetrics(new Registry());
    const executor = new Executor({ client: fc, staticIp, user, log, metrics, clock, maxWritesPerSecond: 1000 });
    // a settle interval far longer than the test: the heal does not wait for it
    const loop = new ReconcileLoop({
      source: { view: v as IndexedView, synced: () => true },
      executor,
      staticIp,
      user,
      settleMs: 3_600_000,
      intervalMs: 3_600_000,
      debounceMs: 1_000,
      log,
      metrics,
      clock,
    });
    return { fc, loop };
  }

  it('restores the missing record at once, planning from the pool as the API server has it now', async () => {
    // the cache still shows the record; the API server no longer has it (the release just happened)
    const h = harness(holderItems({ '10.6.0.9': ['demo/holder', 'uh'] }), holderItems({}));
    h.loop.start();
    await flush();
    expect(await h.loop.heal('p', [req('10.6.0.9')])).toBe('done');
    expect(h.fc.writes).toEqual(['PUT pool/p/status']);
    expect(await storedRecord(h.fc, 'p', '10.6.0.9')).toEqual({ pod: 'demo/holder', podUid: 'uh' });
    await h.loop.stop();
  });

  it('does nothing when the record is there, on a replica that is not the leader, or when another alive pod observes the IP', async () => {
    const present = harness(holderItems({ '10.6.0.9': ['demo/holder', 'uh'] }));
    present.loop.start();
    await flush();
    expect(await present.loop.heal('p', [req('10.6.0.9')])).toBe('noop');
    await present.loop.stop();

    const notLeader = harness(holderItems({}));
    expect(await notLeader.loop.heal('p', [req('10.6.0.9')])).toBe('noop');
    expect(notLeader.fc.writes).toEqual([]);

    const shared = harness([...holderItems({}), pod({ name: 'other', uid: 'uo', ips: ['10.6.0.9'] })]);
    shared.loop.start();
    await flush();
    const writesBefore = shared.fc.writes.length;
    expect(await shared.loop.heal('p', [req('10.6.0.9')])).toBe('noop');
    expect(shared.fc.writes.length).toBe(writesBefore);
    await shared.loop.stop();
  });

  it('an endpoint-less pod (its record and endpoint both gone): restored as UNRECORDED_LIVE_IP, named as Spiderpool would', async () => {
    // the cache still shows the record (so the pass at start has nothing to do); the API server has neither
    const h = harness(
      [
        pod({ name: 'holder', uid: 'uh', ips: ['10.6.0.9'] }),
        pool({ name: 'p', records: { '10.6.0.9': ['demo/holder', 'uh'] } }),
      ],
      [pod({ name: 'holder', uid: 'uh', ips: ['10.6.0.9'] }), pool({ name: 'p' })],
    );
    h.loop.start();
    await flush();
    expect(await h.loop.heal('p', [req('10.6.0.9')])).toBe('done');
    expect(h.fc.writes).toEqual(['PUT pool/p/status']);
    expect(await storedRecord(h.fc, 'p', '10.6.0.9')).toEqual({ pod: 'demo/holder', podUid: 'uh' });
    await h.loop.stop();
  });

  it('twin: an endpoint-less pod whose IP lies outside the pool IPs, or a second pod on it: nothing written', async () => {
    const outside = harness([pod({ name: 'holder', uid: 'uh', ips: ['10.6.0.251'] }), pool({ name: 'p' })]);
    outside.loop.start();
    await flush();
    expect(await outside.loop.heal('p', [req('10.6.0.251')])).toBe('noop');
    expect(outside.fc.writes).toEqual([]);
    await outside.loop.stop();

    const shared = harness([
      pod({ name: 'holder', uid: 'uh', ips: ['10.6.0.9'] }),
      pod({ name: 'other', uid: 'uo', ips: ['10.6.0.9'] }),
      pool({ name: 'p' }),
    ]);
    shared.loop.start();
    await flush();
    expect(await shared.loop.heal('p', [req('10.6.0.9')])).toBe('noop');
    expect(shared.fc.writes).toEqual([]);
    await shared.loop.stop();
  });

  it('the executor re-reads the observing pod: gone since the cache saw it, nothing is restored', async () => {
    const h = harness(
      [pod({ name: 'holder', uid: 'uh', ips: ['10.6.0.9'] }), pool({ name: 'p' })],
      [pool({ name: 'p' })],
    );
    h.loop.start();
    await flush();
    expect(await h.loop.heal('p', [req('10.6.0.9')])).not.toBe('done');
    expect(h.fc.writes).toEqual([]);
    await h.loop.stop();
  });

  it("the regular pass restores a missing record without the settle interval (how a non-leader's denial gets healed)", async () => {
    const h = harness(holderItems({}));
    const report = await h.loop.runPass('pool modified');
    expect(report.results.map((r) => `${r.action.action}:${r.result}`)).toEqual(['RESTORE_RECORD:done']);
  });
});
