// BLOCKING_ENDPOINT healed by the executor (docs/rules.md, Reconciler actions): RELEASE_IP UID_MISMATCH of the earlier
// pod's records first, then DELETE_ENDPOINT UID_MISMATCH with uid + resourceVersion preconditions and Spiderpool's
// finalizer removed by a JSON patch pinned to the uid and resourceVersion just judged; never a write to the objects of
// the pod now carrying the name, and nothing the guard would deny.
import { Registry } from 'prom-client';
import { createLogger } from '../../../webhook/log/logger';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { endpointFacts } from '../../../webhook/model/object-facts';
import { JsonPatchOp } from '../../../webhook/model/ports';
import { Executor, WriteHookInfo } from '../../../webhook/reconciler/executor';
import { createReconcilerMetrics } from '../../../webhook/reconciler/metrics';
import { plan } from '../../../webhook/reconciler/plan';
import {
  checkEndpointDelete,
  checkEndpointUpdate,
  endpointObjectFromFacts,
  reconcilerUser,
} from '../../../webhook/reconciler/selfcheck';
import { FakeCluster, SteppingClock } from '../support/fake-cluster';
import { endpoint, pod, pool, view } from '../support/reconciler-builders';

const staticIp = DEFAULT_STATIC_IP_CONFIG;
const user = reconcilerUser('kube-system');
type Obj = Record<string, unknown>;

/** trainer-0 deleted and recreated under its name: the successor (uid "new") is Pending, the earlier pod's endpoint stays. */
function blockedCluster(o: { deleting?: boolean; recorded?: boolean } = {}): Obj[] {
  return [
    pod({ name: 'trainer-0', uid: 'new', phase: 'Pending' }),
    endpoint({
      name: 'trainer-0',
      uid: 'old',
      objectUid: 'ep-old',
      ips: [['10.6.0.30', 'p']],
      type: 'Pod',
      deleting: o.deleting,
    }),
    pool({
      name: 'p',
      records: {
        ...(o.recorded === false ? {} : { '10.6.0.30': ['demo/trainer-0', 'old'] }),
        '10.6.0.31': ['demo/other', 'uo'],
      },
    }),
    pod({ name: 'other', uid: 'uo', ips: ['10.6.0.31'] }),
    endpoint({ name: 'other', uid: 'uo', ips: [['10.6.0.31', 'p']] }),
  ];
}

function run(items: Obj[], beforeWrite?: (i: WriteHookInfo) => void) {
  const fc = new FakeCluster(items);
  const deletes = jest.spyOn(fc, 'deleteEndpoint');
  const patches = jest.spyOn(fc, 'patchEndpoint');
  const ex = new Executor({
    client: fc,
    staticIp,
    user,
    log: createLogger('silent'),
    clock: new SteppingClock(),
    maxWritesPerSecond: 1000,
    beforeWrite,
  });
  const v = view(...(items.map((i) => structuredClone(i)) as Obj[]));
  const p = plan(v, { staticIp, user });
  return { fc, deletes, patches, p, execute: () => ex.execute(p.actions, v) };
}

describe('executor: DELETE_ENDPOINT UID_MISMATCH after RELEASE_IP UID_MISMATCH', () => {
  it("releases the earlier pod's record, deletes its endpoint with preconditions, then removes the finalizer pinned to the resourceVersion re-read and judged", async () => {
    const { fc, deletes, patches, p, execute } = run(blockedCluster());
    const judged = endpointFacts(fc.get('SpiderEndpoint', 'demo', 'trainer-0')!);
    expect(p.actions.map((a) => `${a.action}/${a.reason}`)).toEqual([
      'RELEASE_IP/UID_MISMATCH',
      'DELETE_ENDPOINT/UID_MISMATCH',
    ]);
    const res = await execute();
    expect(res.map((r) => r.result)).toEqual(['done', 'done']);
    expect(fc.writes).toEqual(['PUT pool/p/status', 'DELETE endpoint/demo/trainer-0', 'PATCH endpoint/demo/trainer-0']);
    expect(deletes.mock.calls[0][2]).toEqual({ uid: 'ep-old', resourceVersion: judged.resourceVersion });
    const ops = patches.mock.calls[0][2] as JsonPatchOp[];
    // the DELETE set deletionTimestamp (a new resourceVersion): the patch is pinned to the object re-read after it
    expect(ops.find((op) => op.path === '/metadata/resourceVersion')).toMatchObject({ op: 'test' });
    expect(ops.find((op) => op.path === '/metadata/resourceVersion')!.value).not.toBe(judged.resourceVersion);
    expect(ops.filter((op) => op.op !== 'test')).toEqual([{ op: 'remove', path: '/metadata/finalizers/0' }]);
    expect(ops).toContainEqual({ op: 'test', path: '/metadata/uid', value: 'ep-old' });
    expect(fc.get('SpiderEndpoint', 'demo', 'trainer-0')).toBeUndefined();
    expect(fc.records('p')).toEqual({ '10.6.0.31': { pod: 'demo/other', podUid: 'uo' } });
  });

  it("an endpoint already being deleted (Kubernetes' garbage collector, held by the finalizer): only the pinned patch", async () => {
    const { fc, deletes, patches, execute } = run(blockedCluster({ deleting: true, recorded: false }));
    const rv = endpointFacts(fc.get('SpiderEndpoint', 'demo', 'trainer-0')!).resourceVersion;
    const res = await execute();
    expect(res.map((r) => `${r.action.action}/${r.action.reason}:${r.result}`)).toEqual([
      'DELETE_ENDPOINT/UID_MISMATCH:done',
    ]);
    expect(deletes).not.toHaveBeenCalled();
    expect(patches.mock.calls[0][2]).toContainEqual({ op: 'test', path: '/metadata/resourceVersion', value: rv });
    expect(fc.writes).toEqual(['PATCH endpoint/demo/trainer-0']);
  });

  it("the successor's own endpoint, created between decision and write, is never deleted (replaced: stale)", async () => {
    const { fc, execute } = run(blockedCluster({ recorded: false }), (info) => {
      if (info.kind !== 'endpointDelete') return;
      // Spiderpool v1.0.4+ deletes the outdated endpoint itself at CNI ADD and creates the successor's
      fc.objects.delete('SpiderEndpoint/demo/trainer-0');
      fc.put(endpoint({ name: 'trainer-0', uid: 'new', objectUid: 'ep-new', ips: [['10.6.0.32', 'p']], type: 'Pod' }));
    });
    const res = await execute();
    expect(res.map((r) => r.result)).toEqual(['stale']);
    expect(res[0].detail).toMatch(/replaced/);
    const ep = fc.get('SpiderEndpoint', 'demo', 'trainer-0')!;
    expect(endpointFacts(ep)).toMatchObject({
      objectUid: 'ep-new',
      podUid: 'new',
      deleting: false,
      finalizers: ['spiderpool.spidernet.io'],
    });
  });

  it("re-judged on fresh state: once the pod of that name observes one of the endpoint's IPs, nothing is written", async () => {
    const { fc, execute } = run(blockedCluster({ recorded: false }));
    fc.put(pod({ name: 'trainer-0', uid: 'new', ips: ['10.6.0.30'] }));
    const res = await execute();
    expect(res.map((r) => r.result)).toEqual(['stale']);
    expect(fc.writes).toEqual([]);
  });

  it("defers the delete while a record under the endpoint's uid remains (release first)", async () => {
    const { fc, execute } = run(blockedCluster());
    fc.failNext.set('replacePoolStatus', 500);
    const res = await execute();
    expect(res.map((r) => r.result)).toEqual(['failed', 'deferred']);
    expect(fc.writes).toEqual([]);
  });
});

describe('self-check: the guard allows exactly these writes', () => {
  const blocking = view(...blockedCluster());
  const obj = endpointObjectFromFacts(blocking.endpoint('demo', 'trainer-0')!);
  const stripped = { ...obj, metadata: { ...(obj.metadata as Obj), finalizers: [] } };

  it("LIVE_ENDPOINT_DELETE allows the DELETE and the finalizer strip (not being deleted) of the earlier pod's endpoint", () => {
    expect(checkEndpointDelete(blocking, staticIp, user, obj)).toEqual([]);
    expect(checkEndpointUpdate(blocking, staticIp, user, obj, stripped)).toEqual([]);
  });

  it("its twin, the endpoint whose current.uid is the live pod's, is denied both ways (and never planned)", () => {
    const live = view(pod({ name: 'trainer-0', uid: 'old', phase: 'Pending' }), ...blockedCluster().slice(1));
    expect(checkEndpointDelete(live, staticIp, user, obj).map((v) => v.rule)).toEqual(['LIVE_ENDPOINT_DELETE']);
    expect(checkEndpointUpdate(live, staticIp, user, obj, stripped).map((v) => v.rule)).toEqual([
      'LIVE_ENDPOINT_DELETE',
    ]);
    expect(plan(live, { staticIp, user }).actions).toEqual([]);
  });
});

describe('metrics', () => {
  it('the findings gauges carry a BLOCKING_ENDPOINT series from the start (zero)', async () => {
    const m = createReconcilerMetrics(new Registry());
    const text = await m.registry.metrics();
    expect(text).toContain('spiderpool_guard_reconcile_findings{finding="BLOCKING_ENDPOINT",severity="error"} 0');
    expect(text).toContain(
      'spiderpool_guard_reconcile_settled_findings{finding="BLOCKING_ENDPOINT",severity="error"} 0',
    );
  });
});
