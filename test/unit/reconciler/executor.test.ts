import { Registry } from 'prom-client';
import { createLogger } from '../../../webhook/log/logger';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { Executor, ExecutorOptions, WriteHookInfo } from '../../../webhook/reconciler/executor';
import { RateLimiter } from '../../../webhook/reconciler/rate-limiter';
import { buildPoolWrite } from '../../../webhook/reconciler/pool-write';
import { createReconcilerMetrics } from '../../../webhook/reconciler/metrics';
import { Action } from '../../../webhook/reconciler/actions';
import { plan } from '../../../webhook/reconciler/plan';
import {
  checkEndpointDelete,
  checkPoolStatusWrite,
  endpointObjectFromFacts,
  poolObjectFromFacts,
  reconcilerUser,
} from '../../../webhook/reconciler/selfcheck';
import { KubeObject, poolFacts } from '../../../webhook/model/object-facts';
import { CallOptions } from '../../../webhook/model/ports';
import { FakeCluster, SteppingClock } from '../support/fake-cluster';
import { endpoint, pod, pool, statefulSet, view } from '../support/reconciler-builders';

const staticIp = DEFAULT_STATIC_IP_CONFIG;
const user = reconcilerUser('kube-system');
type Obj = Record<string, unknown>;

function setup(items: Obj[], extra: Partial<ExecutorOptions> = {}) {
  const fc = new FakeCluster(items);
  const registry = new Registry();
  const metrics = createReconcilerMetrics(registry);
  const ex = new Executor({
    client: fc,
    staticIp,
    user,
    log: createLogger('silent'),
    metrics,
    clock: new SteppingClock(),
    maxWritesPerSecond: 1000,
    ...extra,
  });
  const v = view(...(items.map((i) => structuredClone(i)) as Obj[]));
  const p = plan(v, { staticIp, user });
  return { fc, ex, v, p, registry };
}

const jobItems = () => [
  pod({ name: 'job-x', uid: 'uj', phase: 'Succeeded', restartPolicy: 'Never', ips: ['10.6.0.60'], owner: 'job:j' }),
  endpoint({ name: 'job-x', uid: 'uj', ips: [['10.6.0.60', 'p']], type: 'Job' }),
  pool({ name: 'p', records: { '10.6.0.60': ['demo/job-x', 'uj'], '10.6.0.61': ['demo/keep', 'uk'] } }),
  pod({ name: 'keep', uid: 'uk', ips: ['10.6.0.61'] }),
  endpoint({ name: 'keep', uid: 'uk', ips: [['10.6.0.61', 'p']] }),
];

describe('Executor', () => {
  it('completed Job: releases the record (uid-conditional), then deletes the endpoint and removes the finalizer; emits Events', async () => {
    const { fc, ex, v, p, registry } = setup(jobItems());
    expect(p.actions.map((a) => a.action)).toEqual(['RELEASE_IP', 'DELETE_ENDPOINT']);
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['done', 'done']);
    expect(fc.records('p')).toEqual({ '10.6.0.61': { pod: 'demo/keep', podUid: 'uk' } });
    expect((fc.get('SpiderIPPool', '', 'p')!.status as Obj).allocatedIPCount).toBe(1);
    expect(fc.get('SpiderEndpoint', 'demo', 'job-x')).toBeUndefined();
    expect(fc.writes).toEqual(['PUT pool/p/status', 'DELETE endpoint/demo/job-x', 'PATCH endpoint/demo/job-x']);
    expect(fc.events.map((e) => `${e.reason} ${e.involvedObject.kind}/${e.involvedObject.name}`)).toEqual([
      'SpiderpoolGuardReleasedIP SpiderIPPool/p',
      'SpiderpoolGuardDeletedEndpoint SpiderEndpoint/job-x',
    ]);
    const text = await registry.metrics();
    expect(text).toContain(
      'spiderpool_guard_reconcile_actions_total{action="RELEASE_IP",reason="COMPLETED_POD",result="done"} 1',
    );
  });

  it('on 409 re-reads the pool and re-plans; records written meanwhile are kept', async () => {
    let once = true;
    const { fc, ex, v, p } = setup(jobItems(), {
      beforeWrite: (info: WriteHookInfo) => {
        if (info.kind !== 'poolStatus' || !once) return;
        once = false; // the agent allocates another IP in the same pool between our read and our write
        const cur = fc.get('SpiderIPPool', '', 'p')!;
        const recs = { ...fc.records('p'), '10.6.0.62': { pod: 'demo/new', podUid: 'un' } };
        fc.put({ ...cur, status: { allocatedIPs: JSON.stringify(recs), allocatedIPCount: 3 } });
      },
    });
    const res = await ex.execute(
      p.actions.filter((a) => a.action === 'RELEASE_IP'),
      v,
    );
    expect(res.map((r) => r.result)).toEqual(['done']);
    expect(Object.keys(fc.records('p')).sort()).toEqual(['10.6.0.61', '10.6.0.62']);
    expect((fc.get('SpiderIPPool', '', 'p')!.status as Obj).allocatedIPCount).toBe(2);
  });

  it('does not release when the record was re-assigned since planning (uid-conditional)', async () => {
    const { fc, ex, v, p } = setup(jobItems());
    const cur = fc.get('SpiderIPPool', '', 'p')!;
    fc.put({
      ...cur,
      status: {
        allocatedIPs: JSON.stringify({ '10.6.0.60': { pod: 'demo/other', podUid: 'uo' } }),
        allocatedIPCount: 1,
      },
    });
    const res = await ex.execute(
      p.actions.filter((a) => a.action === 'RELEASE_IP'),
      v,
    );
    expect(res[0].result).toBe('gone');
    expect(fc.writes).toEqual([]);
  });

  it('re-judges on fresh state: a pod that is alive again (fresh read) is left alone', async () => {
    const items = [
      endpoint({ name: 'api-1', uid: 'u1', ips: [['10.6.0.9', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.9': ['demo/api-1', 'u1'] } }),
    ];
    const { fc, ex, v, p } = setup(items);
    expect(p.actions.map((a) => `${a.action}/${a.reason}`)).toEqual([
      'RELEASE_IP/POD_GONE',
      'DELETE_ENDPOINT/POD_GONE',
    ]);
    fc.put(pod({ name: 'api-1', uid: 'u1', ips: ['10.6.0.9'] })); // the cache had missed it
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['stale', 'stale']);
    expect(fc.writes).toEqual([]);
  });

  it('an endpoint recreated under the same name between decision and write is not deleted (preconditions)', async () => {
    const { fc, ex, v, p } = setup(jobItems(), {
      beforeWrite: (info: WriteHookInfo) => {
        if (info.kind !== 'endpointDelete') return;
        fc.objects.delete('SpiderEndpoint/demo/job-x');
        fc.put(
          endpoint({ name: 'job-x', uid: 'new-pod', objectUid: 'ep-new', ips: [['10.6.0.70', 'p']], type: 'Job' }),
        );
      },
    });
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['done', 'stale']);
    expect(res[1].detail).toMatch(/replaced/);
    const ep = fc.get('SpiderEndpoint', 'demo', 'job-x')!;
    expect((ep.metadata as Obj).uid).toBe('ep-new');
    expect((ep.metadata as Obj).deletionTimestamp).toBeUndefined();
  });

  it('defers the endpoint delete while its IPs are still recorded under its uid (failed release)', async () => {
    const { fc, ex, v, p } = setup(jobItems());
    fc.failNext.set('replacePoolStatus', 500);
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['failed', 'deferred']);
    expect(res[0].detail).toMatch(/500/);
    expect(fc.get('SpiderEndpoint', 'demo', 'job-x')).toBeDefined();
  });

  it('removes only Spiderpool’s finalizer of an endpoint already being deleted', async () => {
    const items = [
      pod({ name: 'job-y', uid: 'uy', phase: 'Failed', restartPolicy: 'Never', owner: 'job:j' }),
      endpoint({
        name: 'job-y',
        uid: 'uy',
        ips: [['10.6.0.63', 'p']],
        deleting: true,
        finalizers: ['example.com/other', 'spiderpool.spidernet.io'],
      }),
      pool({ name: 'p' }),
    ];
    const { fc, ex, v, p } = setup(items);
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['done']);
    expect(fc.writes).toEqual(['PATCH endpoint/demo/job-y']);
    expect((fc.get('SpiderEndpoint', 'demo', 'job-y')!.metadata as Obj).finalizers).toEqual(['example.com/other']);
  });

  it('RESTORE_RECORD and FIX_COUNT write the pool', async () => {
    const items = [
      statefulSet({ name: 'web', replicas: 1 }),
      pod({ name: 'web-0', uid: 'u0', ips: ['10.6.0.10'], owner: 'sts:web' }),
      endpoint({ name: 'web-0', uid: 'u0', ips: [['10.6.0.10', 'p']], type: 'StatefulSet' }),
      pool({ name: 'p', records: {} }),
      pod({ name: 'a', uid: 'ua', ips: ['10.7.0.1'] }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.7.0.1', 'q']] }),
      pool({ name: 'q', subnet: '10.7.0.0/16', records: { '10.7.0.1': ['demo/a', 'ua'] }, count: 4 }),
    ];
    const { fc, ex, v, p } = setup(items);
    expect(p.actions.map((a) => a.action)).toEqual(['RESTORE_RECORD', 'FIX_COUNT']);
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['done', 'done']);
    expect(fc.records('p')).toEqual({ '10.6.0.10': { pod: 'demo/web-0', podUid: 'u0' } });
    expect((fc.get('SpiderIPPool', '', 'p')!.status as Obj).allocatedIPCount).toBe(1);
    expect((fc.get('SpiderIPPool', '', 'q')!.status as Obj).allocatedIPCount).toBe(1);
    expect(fc.events.map((e) => e.reason)).toEqual([
      'SpiderpoolGuardRestoredRecord',
      'SpiderpoolGuardRestoredRecord',
      'SpiderpoolGuardFixedCount',
    ]);
  });

  it('when the leadership term ends mid-write, the in-flight write is aborted and nothing further is read or written', async () => {
    const calls: string[] = [];
    let writeAborted = false;
    // the pool write hangs (frozen connection) until its signal fires, as the real adapter's aborted request does
    class FrozenWrites extends FakeCluster {
      override replacePoolStatus(name: string, _body: KubeObject, opts?: CallOptions): Promise<KubeObject> {
        calls.push(`PUT pool/${name}/status`);
        return new Promise((_, reject) =>
          opts?.signal?.addEventListener('abort', () => {
            writeAborted = true;
            reject(new Error('The operation was aborted'));
          }),
        );
      }
      override getEndpoint(namespace: string, name: string) {
        calls.push(`GET endpoint/${namespace}/${name}`);
        return super.getEndpoint(namespace, name);
      }
    }
    const items = jobItems();
    const fc = new FrozenWrites(items);
    const term = new AbortController();
    const ex = new Executor({
      client: fc,
      staticIp,
      user,
      log: createLogger('silent'),
      clock: new SteppingClock(),
      maxWritesPerSecond: 1000,
      stopSignal: () => term.signal,
    });
    const v = view(...(items.map((i) => structuredClone(i)) as Obj[]));
    const p = plan(v, { staticIp, user });
    const running = ex.execute(p.actions, v);
    for (let i = 0; i < 50 && calls.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['PUT pool/p/status']);
    term.abort(new Error('leadership ended'));
    const res = await running;
    expect(writeAborted).toBe(true);
    expect(res.map((r) => `${r.action.action}:${r.result}`)).toEqual(['RELEASE_IP:stale', 'DELETE_ENDPOINT:stale']);
    expect(res[0].detail).toMatch(/leadership ended/);
    expect(calls).toEqual(['PUT pool/p/status']); // the endpoint was not even read
    expect(fc.writes).toEqual([]);
    expect(fc.events).toEqual([]);
  });

  it('dry-run judges and writes nothing', async () => {
    const { fc, ex, v, p } = setup(jobItems(), { dryRun: true });
    const res = await ex.execute(p.actions, v);
    expect(res.map((r) => r.result)).toEqual(['dry-run', 'dry-run']);
    expect(fc.writes).toEqual([]);
    expect(fc.events).toEqual([]);
  });

  it('reports an IP conflict as a Warning Event on each pod', async () => {
    const { fc, ex, v } = setup([
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.20'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.20'] }),
    ]);
    const f = plan(v, { staticIp, user }).findings[0];
    await ex.reportConflict(f);
    expect(fc.events.map((e) => `${e.type} ${e.reason} ${e.involvedObject.name}`)).toEqual([
      'Warning SpiderpoolGuardIPConflict a',
      'Warning SpiderpoolGuardIPConflict b',
    ]);
  });
});

describe('self-check (guard.evaluate as a guarded writer)', () => {
  it('a release of an alive pod’s record or of an IP observed on an alive pod is denied', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.1'] }),
      pool({ name: 'p', records: { '10.6.0.1': ['demo/a', 'ua'] } }),
    );
    const pf = v.pool('p')!;
    const violations = checkPoolStatusWrite(
      v,
      staticIp,
      user,
      poolObjectFromFacts(pf),
      poolObjectFromFacts(pf, new Map()),
    );
    expect(violations.map((x) => x.rule)).toContain('LIVE_IP_RELEASE');
  });

  it('deleting the endpoint of a restarting static member is denied', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      endpoint({ name: 'web-0', uid: 'u0', ips: [['10.6.0.1', 'p']], type: 'StatefulSet' }),
    );
    const violations = checkEndpointDelete(v, staticIp, user, endpointObjectFromFacts(v.endpoint('demo', 'web-0')!));
    expect(violations.map((x) => x.rule)).toEqual(['LIVE_ENDPOINT_DELETE']);
  });

  it('the executor refuses an action the guard denies even if handed one', async () => {
    const items = [
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.1'] }),
      pool({ name: 'p', records: { '10.6.0.1': ['demo/a', 'ua'] } }),
    ];
    const { fc, ex, v } = setup(items);
    const bogus: Action = {
      action: 'RELEASE_IP',
      reason: 'POD_GONE',
      pool: 'p',
      ip: '10.6.0.1',
      record: { pod: 'demo/a', podUid: 'ua' },
      message: 'bogus',
    };
    const res = await ex.execute([bogus], v);
    expect(res[0].result).toBe('stale');
    expect(fc.writes).toEqual([]);
  });

  it('buildPoolWrite keeps other keys and drops the field when the map empties', () => {
    const obj = pool({ name: 'p', records: { '10.6.0.1': ['demo/x', 'ux'] }, count: 9 });
    const pf = poolFacts(obj);
    const a: Action = {
      action: 'RELEASE_IP',
      reason: 'POD_GONE',
      pool: 'p',
      ip: '10.6.0.1',
      record: { pod: 'demo/x', podUid: 'ux' },
      message: '',
    };
    const w = buildPoolWrite(obj, pf, [a]);
    expect(w.status).toEqual({ allocatedIPCount: 0 });
  });
});

describe('RateLimiter', () => {
  it('spaces writes at the configured rate (injected clock)', async () => {
    const clock = new SteppingClock(0);
    const rl = new RateLimiter(2, clock);
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      await rl.take();
      times.push(clock.now());
    }
    // burst of 2, then one every 500 ms
    expect(times).toEqual([0, 0, 500, 1000, 1500, 2000]);
  });
});
