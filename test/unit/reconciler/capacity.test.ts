// Capacity per pool (docs/operations.md, Capacity and leaks): total = spec.ips minus excludeIPs, recorded, free (not
// recorded, not reserved), leftover (the plan's RELEASE_IPs), held_terminating. One function: check --capacity and
// the reconcile loop's spiderpool_guard_pool_ips gauges read the same numbers.
import { Registry } from 'prom-client';
import { createLogger } from '../../../webhook/log/logger';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { IndexedView } from '../../../webhook/model/view';
import { capacity } from '../../../webhook/reconciler/capacity';
import { Executor } from '../../../webhook/reconciler/executor';
import { FINDINGS } from '../../../webhook/reconciler/finding-types';
import { ReconcileLoop } from '../../../webhook/reconciler/loop';
import { createReconcilerMetrics } from '../../../webhook/reconciler/metrics';
import { plan } from '../../../webhook/reconciler/plan';
import { reconcilerUser } from '../../../webhook/reconciler/selfcheck';
import { addObject } from '../../../webhook/cluster/snapshot';
import {
  Json,
  endpoint,
  pod,
  pool,
  rec,
  recordsOf,
  reservedIP,
  uid,
  viewOf,
  withRecords,
} from '../../../testbed/fixtures';
import { FakeCluster, ManualClock, flush } from '../support/fake-cluster';

const staticIp = DEFAULT_STATIC_IP_CONFIG;
const user = reconcilerUser('kube-system');
const ip = (n: number) => `10.6.0.${n}`;

/** The example: 10 pool IPs, 8 alive pods, a record of a gone pod, a SpiderReservedIP. */
function exampleObjects(): Json[] {
  const records: Record<string, ReturnType<typeof rec>> = {};
  const objs: Json[] = [];
  for (let n = 1; n <= 8; n++) {
    records[ip(n)] = rec(`demo/web-${n}`, uid(`web-${n}`));
    objs.push(pod({ name: `web-${n}`, uid: uid(`web-${n}`), ips: [ip(n)] }));
    objs.push(
      endpoint({ name: `web-${n}`, podUid: uid(`web-${n}`), nics: [{ ipv4: `${ip(n)}/24`, ipv4Pool: 'p10' }] }),
    );
  }
  records[ip(9)] = rec('demo/gone', uid('gone'));
  objs.push(pool({ name: 'p10', subnet: '10.6.0.0/24', ips: [`${ip(1)}-${ip(10)}`], records }));
  objs.push(reservedIP({ name: 'keep-10', ips: [ip(10)] }));
  return objs;
}

function capacityOf(view: IndexedView) {
  return capacity(view, plan(view, { staticIp, user }).actions);
}

describe('capacity', () => {
  it("reads the issue's example as total 10, recorded 9, free 0, leftover 1", () => {
    expect(capacityOf(viewOf(...exampleObjects()))).toEqual([
      { pool: 'p10', total: 10, recorded: 9, free: 0, leftover: 1, held_terminating: 0 },
    ]);
  });

  it('counts ranges minus exclusions; a record or a reservation outside the pool IPs takes nothing free', () => {
    const v = viewOf(
      pool({
        name: 'a',
        subnet: '10.6.0.0/24',
        ips: ['10.6.0.1-10.6.0.20', '10.6.0.100'],
        excludeIPs: ['10.6.0.11-10.6.0.20'],
        // 10.6.0.15 is excluded (recorded all the same: counted as a record, not against free)
        records: { [ip(1)]: rec('demo/a1', uid('a1')), '10.6.0.15': rec('demo/a2', uid('a2')) },
      }),
      pod({ name: 'a1', uid: uid('a1'), ips: [ip(1)] }),
      pod({ name: 'a2', uid: uid('a2'), ips: ['10.6.0.15'] }),
      // one reserved IP inside the pool IPs (10.6.0.100), the rest outside them or already recorded (10.6.0.1)
      reservedIP({ name: 'r', ips: ['10.6.0.1', '10.6.0.100', '10.6.0.12-10.6.0.14', '10.9.0.1'] }),
    );
    expect(capacityOf(v)).toEqual([{ pool: 'a', total: 11, recorded: 2, free: 9, leftover: 0, held_terminating: 0 }]);
  });

  it('one row per pool, sorted by name, including a pool without records', () => {
    const v = viewOf(
      pool({ name: 'zeta', subnet: '10.7.0.0/24', ips: ['10.7.0.1-10.7.0.4'] }),
      pool({
        name: 'alpha',
        subnet: '10.6.0.0/24',
        ips: ['10.6.0.1-10.6.0.2'],
        records: { [ip(1)]: rec('demo/gone', uid('gone')) },
      }),
    );
    expect(capacityOf(v)).toEqual([
      { pool: 'alpha', total: 2, recorded: 1, free: 1, leftover: 1, held_terminating: 0 },
      { pool: 'zeta', total: 4, recorded: 0, free: 4, leftover: 0, held_terminating: 0 },
    ]);
  });

  it('a later pass sees a new reservation and a status write (the free count is kept only while nothing changed)', () => {
    const objs = exampleObjects().filter((o) => o.kind !== 'SpiderReservedIP');
    const v = viewOf(...objs);
    expect(capacityOf(v)[0]).toMatchObject({ recorded: 9, free: 1 });
    expect(capacityOf(v)[0]).toMatchObject({ recorded: 9, free: 1 });
    addObject(v, reservedIP({ name: 'keep-10', ips: [ip(10)] }));
    expect(capacityOf(v)[0]).toMatchObject({ recorded: 9, free: 0 });
    const p10 = objs.find((o) => o.kind === 'SpiderIPPool')!;
    addObject(v, withRecords(p10, Object.fromEntries(Object.entries(recordsOf(p10)).filter(([k]) => k !== ip(9)))));
    expect(capacityOf(v)[0]).toMatchObject({ recorded: 8, free: 1, leftover: 0 });
  });

  it('an IPv6 range is counted, not expanded', () => {
    const v = viewOf(pool({ name: 'v6', subnet: 'fd00::/64', ips: ['fd00::1-fd00::ffff:ffff:ffff'] }));
    const t0 = process.hrtime.bigint();
    const [row] = capacityOf(v);
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(500);
    expect(row.total).toBe(2 ** 48 - 1);
    expect(row.free).toBe(2 ** 48 - 1);
  });

  it('leftover is exactly what the plan releases: nothing of a malformed pool, nothing of an alive pod', () => {
    const v = viewOf(
      pool({ name: 'bad', subnet: '10.6.0.0/24', ips: ['10.6.0.1-10.6.0.5'], allocatedIPs: '{not json' }),
      pool({
        name: 'mixed',
        subnet: '10.7.0.0/24',
        ips: ['10.7.0.1-10.7.0.5'],
        records: {
          '10.7.0.1': rec('demo/alive', uid('alive')),
          '10.7.0.2': rec('demo/gone', uid('gone')),
          '10.7.0.3': rec('demo/done', uid('done')),
        },
      }),
      pod({ name: 'alive', uid: uid('alive'), ips: ['10.7.0.1'] }),
      pod({ name: 'done', uid: uid('done'), phase: 'Succeeded', restartPolicy: 'Never' }),
    );
    const p = plan(v, { staticIp, user });
    const rows = capacity(v, p.actions);
    expect(rows.map((r) => [r.pool, r.leftover])).toEqual([
      ['bad', 0],
      ['mixed', 2],
    ]);
    expect(p.actions.filter((a) => a.action === 'RELEASE_IP').map((a) => `${a.pool}/${a.ip}`)).toEqual([
      'mixed/10.7.0.2',
      'mixed/10.7.0.3',
    ]);
  });
});

describe('spiderpool_guard_pool_ips and the findings gauges', () => {
  const log = createLogger('silent');

  function harness(objs: Json[]) {
    const fc = new FakeCluster(objs);
    const v = viewOf(...objs.map((o) => structuredClone(o)));
    const clock = new ManualClock(0);
    const metrics = createReconcilerMetrics(new Registry());
    const executor = new Executor({ client: fc, staticIp, user, log, metrics, clock, maxWritesPerSecond: 1000 });
    const loop = new ReconcileLoop({
      source: { view: v, synced: () => true },
      executor,
      staticIp,
      user,
      settleMs: 60_000,
      intervalMs: 600_000,
      debounceMs: 1_000,
      log,
      metrics,
      clock,
    });
    return { v, loop, metrics };
  }

  async function series(registry: Registry, name: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const line of (await registry.metrics()).split('\n')) {
      const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
      if (m && m[1] === name) out.set(m[2], Number(m[3]));
    }
    return out;
  }

  it('a pass exports the same numbers as capacity(), five series per pool, and drops the series of a pool that is gone', async () => {
    const h = harness(exampleObjects());
    await h.loop.runPass();
    expect(await series(h.metrics.registry, 'spiderpool_guard_pool_ips')).toEqual(
      new Map([
        ['pool="p10",state="total"', 10],
        ['pool="p10",state="recorded"', 9],
        ['pool="p10",state="free"', 0],
        ['pool="p10",state="leftover"', 1],
        ['pool="p10",state="held_terminating"', 0],
      ]),
    );
    h.v.removePool('p10');
    await h.loop.runPass();
    expect(await series(h.metrics.registry, 'spiderpool_guard_pool_ips')).toEqual(new Map());
  });

  it('every finding name has a series from the start, zero included, and again after leadership ends', async () => {
    const h = harness(exampleObjects());
    const zeros = new Map(FINDINGS.map((f) => [f, 0]));
    const byName = async () =>
      new Map(
        [...(await series(h.metrics.registry, 'spiderpool_guard_reconcile_findings'))].map(([labels, v]) => [
          /finding="(\w+)"/.exec(labels)![1],
          v,
        ]),
      );
    expect(await byName()).toEqual(zeros);
    h.loop.start();
    await flush();
    expect((await byName()).get('RECORD_POD_MISSING')).toBe(1);
    expect((await series(h.metrics.registry, 'spiderpool_guard_pool_ips')).size).toBe(5);
    // a replica that stops leading exports no pool series and zero findings (the new leader's numbers count)
    await h.loop.stop();
    expect(await byName()).toEqual(zeros);
    expect((await series(h.metrics.registry, 'spiderpool_guard_pool_ips')).size).toBe(0);
  });

  it('series at 20 pools: 5 per pool, one per finding name (all and settled), nothing per pod or IP', async () => {
    const objs: Json[] = [];
    for (let k = 0; k < 20; k++) {
      const records: Record<string, ReturnType<typeof rec>> = {};
      for (let n = 1; n <= 50; n++) {
        records[`10.${10 + k}.0.${n}`] = rec(`demo/p${k}-${n}`, uid(`p${k}-${n}`));
        objs.push(pod({ name: `p${k}-${n}`, uid: uid(`p${k}-${n}`), ips: [`10.${10 + k}.0.${n}`] }));
      }
      objs.push(
        pool({
          name: `pool-${k}`,
          subnet: `10.${10 + k}.0.0/24`,
          ips: [`10.${10 + k}.0.1-10.${10 + k}.0.254`],
          records,
        }),
      );
    }
    const h = harness(objs);
    await h.loop.runPass();
    const pools = await series(h.metrics.registry, 'spiderpool_guard_pool_ips');
    const findings = await series(h.metrics.registry, 'spiderpool_guard_reconcile_findings');
    const settled = await series(h.metrics.registry, 'spiderpool_guard_reconcile_settled_findings');
    expect(pools.size).toBe(100);
    expect(findings.size).toBe(FINDINGS.length);
    expect(settled.size).toBe(FINDINGS.length);
    process.stdout.write(
      `series at 20 pools (1,000 pods): pool_ips ${pools.size}, reconcile_findings ${findings.size}, settled_findings ${settled.size}\n`,
    );
  });
});
