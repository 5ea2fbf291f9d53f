// Gone pods without a live GET per review: a release of a record whose incarnation the pod watch saw deleted is
// decided from the cache's tombstone; every case that would make a tombstone wrong falls back to the live read.
import { testHandler } from '../support/handler';
import { KubeConfig } from '@kubernetes/client-node';
import { RetryBackoff } from '../../../webhook/cluster/retry-backoff';
import { podTombstoneHooks } from '../../../webhook/cluster/informers';
import { Reflector } from '../../../webhook/cluster/reflector';
import { addObject } from '../../../webhook/cluster/snapshot';
import { createLogger } from '../../../webhook/log/logger';
import { FreshReader } from '../../../webhook/model/ports';
import { PodTombstones } from '../../../webhook/model/tombstones';
import { podFacts } from '../../../webhook/model/object-facts';
import { PodFacts } from '../../../webhook/model/types';
import { FreshObjects, IndexedView, ObjectRef, emptyFresh } from '../../../webhook/model/view';
import {
  GUARD_SETTINGS,
  Json,
  NS,
  launcherPod,
  endpoint,
  pod,
  poolStatusReview,
  rec,
  requestOf,
  statefulSet,
  stsPod,
  uid,
  v4Pool,
  withRecords,
} from '../../../testbed/fixtures';

const X = '10.6.168.101';
const GONE = 'api-6d9f7c-x2k8q';
const U = uid('gone#U');
const U2 = uid('recreated#U2');
const LIMITS = { maxCount: 3, maxAgeMs: 60_000 };

class Clock {
  t = 1_000_000;
  now = () => this.t;
}

/** Answers pod reads from a map (null = 404), everything else absent, and remembers every object it was asked for. */
class CountingReader implements FreshReader {
  readonly podReads: string[] = [];
  readonly reads: string[] = [];
  constructor(private readonly live: Map<string, PodFacts | null> = new Map()) {}
  async read(refs: ObjectRef[]): Promise<FreshObjects> {
    const out = emptyFresh();
    for (const r of refs) {
      this.reads.push(`${r.kind}:${r.namespace}/${r.name}`);
      if (r.kind !== 'pod') continue;
      const key = `${r.namespace}/${r.name}`;
      this.podReads.push(key);
      out.pods.set(key, this.live.get(key) ?? null);
    }
    return out;
  }
}

function world(clock = new Clock()) {
  const tombstones = new PodTombstones(LIMITS, clock.now);
  const view = new IndexedView(tombstones);
  const hooks = podTombstoneHooks(tombstones);
  const add = (...objects: Json[]) => objects.forEach((o) => addObject(view, o));
  /** the watch delivers DELETED for this pod object: the reflector removes it, then the listener runs */
  const watchDelete = (o: Json) => {
    const m = o.metadata as { namespace: string; name: string };
    view.removePod(m.namespace, m.name);
    hooks.onChange('pods', 'DELETED', o);
  };
  return { clock, tombstones, view, hooks, add, watchDelete };
}

function handlerOn(view: IndexedView, fresh: FreshReader) {
  return testHandler(view, { fresh });
}

/** The GC releases X, recorded for GONE with the given uid. */
function releaseOf(podUid: string, name = GONE) {
  const old = v4Pool({ [X]: rec(`${NS}/${name}`, podUid) });
  return { old, req: requestOf(poolStatusReview(old, withRecords(old, {}))) };
}

describe('PodTombstones', () => {
  it('answers only for the deleted incarnation', () => {
    const t = new PodTombstones(LIMITS, new Clock().now);
    t.record(NS, GONE, U);
    expect(t.deleted(NS, GONE, U)).toBe(true);
    expect(t.deleted(NS, GONE, U2)).toBe(false);
    expect(t.deleted(NS, 'other', U)).toBe(false);
    expect(t.deleted(NS, GONE, '')).toBe(false);
  });

  it('an object without a uid leaves no tombstone', () => {
    const t = new PodTombstones(LIMITS, new Clock().now);
    t.record(NS, GONE, '');
    expect(t.size).toBe(0);
  });

  it('is trusted for maxAgeMs only', () => {
    const clock = new Clock();
    const t = new PodTombstones(LIMITS, clock.now);
    t.record(NS, GONE, U);
    clock.t += LIMITS.maxAgeMs;
    expect(t.deleted(NS, GONE, U)).toBe(true);
    clock.t += 1;
    expect(t.deleted(NS, GONE, U)).toBe(false);
  });

  it('keeps at most maxCount, dropping the oldest first, and drops expired ones when recording', () => {
    const clock = new Clock();
    const t = new PodTombstones(LIMITS, clock.now);
    for (let i = 0; i < 5; i++) t.record(NS, `p-${i}`, `u-${i}`);
    expect(t.size).toBe(3);
    expect([0, 1, 2, 3, 4].map((i) => t.deleted(NS, `p-${i}`, `u-${i}`))).toEqual([false, false, true, true, true]);
    clock.t += LIMITS.maxAgeMs + 1;
    t.record(NS, 'late', 'u-late');
    expect(t.size).toBe(1);
  });
});

describe('a release of a pod whose deletion the watch delivered', () => {
  it('is decided without a live read of the pod (same uid, nothing of that name since)', async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old, pod({ name: GONE, uid: U, ips: [X] }));
    w.watchDelete(pod({ name: GONE, uid: U, ips: [X] }));
    const reader = new CountingReader();
    const r = await handlerOn(w.view, reader).handle('validate', req);
    expect(r.allowed).toBe(true);
    expect(reader.podReads).toEqual([]);
  });

  it("nor a live read of a VMI, VM or launcher pods of that name: the deleted plain pod was the record's", async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old, pod({ name: GONE, uid: U, ips: [X] }));
    w.watchDelete(pod({ name: GONE, uid: U, ips: [X] }));
    const reader = new CountingReader();
    expect(GUARD_SETTINGS.staticIp.kubevirt).toBe(true);
    const r = await handlerOn(w.view, reader).handle('validate', req);
    expect(r.allowed).toBe(true);
    expect(reader.reads).toEqual([]);
  });

  it("a KubeVirt record (the VMI's name, its launcher's uid) is not answered by the launcher's tombstone", async () => {
    const w = world();
    const launcher = launcherPod('vm7', { uid: U, ips: [X] });
    const old = v4Pool({ [X]: rec(`${NS}/vm7`, U) });
    w.add(old, launcher);
    w.watchDelete(launcher);
    const reader = new CountingReader();
    await handlerOn(w.view, reader).handle('validate', requestOf(poolStatusReview(old, withRecords(old, {}))));
    // the record names the VMI: its launchers and the VMI itself are still read live before "absent" is trusted
    expect(reader.reads).toEqual(expect.arrayContaining([`vmi:${NS}/vm7`, `vmiPods:${NS}/vm7`]));
  });

  it('without a tombstone the same release reads the pod live first (docs/rules.md#fresh-evidence, unchanged)', async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old);
    const reader = new CountingReader();
    const r = await handlerOn(w.view, reader).handle('validate', req);
    expect(r.allowed).toBe(true);
    expect(reader.podReads).toEqual([`${NS}/${GONE}`]);
  });

  it('a record naming another uid (a newer incarnation the cache has not seen yet) is read live, and the live pod denies', async () => {
    const w = world();
    const { old, req } = releaseOf(U2);
    w.add(old);
    w.watchDelete(pod({ name: GONE, uid: U }));
    const reader = new CountingReader(new Map([[`${NS}/${GONE}`, podFacts(pod({ name: GONE, uid: U2, ips: [X] }))]]));
    const r = await handlerOn(w.view, reader).handle('validate', req);
    expect(reader.podReads).toContain(`${NS}/${GONE}`);
    expect(r.allowed).toBe(false);
    expect(r.status!.message).toMatch(/^LIVE_IP_RELEASE: /);
  });

  it('a re-created pod of that name arriving later removes the tombstone: the cached pod decides, as without tombstones', async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old);
    w.watchDelete(pod({ name: GONE, uid: U }));
    w.add(pod({ name: GONE, uid: U2, ips: [X] })); // ADDED: the next incarnation, observing X
    expect(w.tombstones.deleted(NS, GONE, U)).toBe(false);
    const reader = new CountingReader(new Map([[`${NS}/${GONE}`, podFacts(pod({ name: GONE, uid: U2, ips: [X] }))]]));
    const r = await handlerOn(w.view, reader).handle('validate', req);
    expect(r.allowed).toBe(false); // the denial rests on the re-read pod
    expect(reader.podReads).toContain(`${NS}/${GONE}`);
  });

  it('after the re-created pod is deleted too, only its own uid is known gone: a record of the first uid is read live', async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old);
    w.watchDelete(pod({ name: GONE, uid: U }));
    w.add(pod({ name: GONE, uid: U2 }));
    w.watchDelete(pod({ name: GONE, uid: U2 }));
    const reader = new CountingReader();
    await handlerOn(w.view, reader).handle('validate', req);
    expect(reader.podReads).toEqual([`${NS}/${GONE}`]);
  });

  it('a watch gap (error, 410 Gone, relist) drops the tombstones: the release is read live', async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old);
    w.watchDelete(pod({ name: GONE, uid: U }));
    w.hooks.onGap();
    const reader = new CountingReader();
    await handlerOn(w.view, reader).handle('validate', req);
    expect(reader.podReads).toEqual([`${NS}/${GONE}`]);
  });

  it('a relist that misses a re-creation (created and deleted again during the gap) cannot leave a stale tombstone', async () => {
    const w = world();
    const { old, req } = releaseOf(U2);
    w.add(old);
    w.watchDelete(pod({ name: GONE, uid: U }));
    w.hooks.onGap(); // the watch broke; U2 was created (and recorded) and deleted before the relist listed the pods
    // the relist lists nothing of that name; no DELETED for U2 was watched
    const reader = new CountingReader();
    await handlerOn(w.view, reader).handle('validate', req);
    expect(reader.podReads).toEqual([`${NS}/${GONE}`]);
    expect(w.tombstones.size).toBe(0);
  });

  it('an old tombstone (past maxAgeMs) is not trusted: the release is read live', async () => {
    const w = world();
    const { old, req } = releaseOf(U);
    w.add(old);
    w.watchDelete(pod({ name: GONE, uid: U }));
    w.clock.t += LIMITS.maxAgeMs + 1;
    const reader = new CountingReader();
    await handlerOn(w.view, reader).handle('validate', req);
    expect(reader.podReads).toEqual([`${NS}/${GONE}`]);
  });

  it("the StatefulSet and endpoint checks still apply: a restarting member's IP is still protected", async () => {
    const w = world();
    const member = stsPod('web', 0, { uid: U, ips: [X] });
    const old = v4Pool({ [X]: rec(`${NS}/web-0`, U) });
    w.add(
      old,
      statefulSet({ name: 'web', replicas: 2 }),
      endpoint({ name: 'web-0', podUid: U, type: 'StatefulSet', nics: [{ ipv4: `${X}/16`, ipv4Pool: 'v4-pool' }] }),
    );
    w.watchDelete(member);
    const reader = new CountingReader();
    const r = await handlerOn(w.view, reader).handle(
      'validate',
      requestOf(poolStatusReview(old, withRecords(old, {}))),
    );
    expect(r.allowed).toBe(false);
    expect(r.status!.message).toMatch(/^STATIC_IP_RELEASE: /);
  });
});

describe('the pod reflector keeps the tombstones', () => {
  it("a watched DELETED records the incarnation; ADDED/MODIFIED do not; the caller's listener still runs", () => {
    const t = new PodTombstones(LIMITS, new Clock().now);
    const seen: string[] = [];
    const hooks = podTombstoneHooks(t, (kind, type) => seen.push(`${kind}:${type}`));
    hooks.onChange('pods', 'ADDED', pod({ name: GONE, uid: U }));
    expect(t.size).toBe(0);
    hooks.onChange('pods', 'DELETED', pod({ name: GONE, uid: U }));
    expect(t.deleted(NS, GONE, U)).toBe(true);
    expect(seen).toEqual(['pods:ADDED', 'pods:DELETED']);
  });

  it('the reflector reports a gap when a list begins and when a list/watch fails', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const events: string[] = [];
    let lists = 0;
    const reflector = new Reflector(
      kc,
      {
        name: 'pods',
        path: '/api/v1/pods',
        list: async () => {
          events.push('list');
          if (++lists === 1) throw new Error('connection refused');
          return { items: [], resourceVersion: '5' };
        },
        upsert: () => {},
        remove: () => {},
        cached: () => [],
        onGap: () => events.push('gap'),
      },
      createLogger('silent'),
      undefined,
      { backoff: new RetryBackoff(1, 1) },
    );
    reflector.start();
    // list fails (gap before it, gap on failure), relist succeeds (gap before it), the watch to port 1 fails (gap)
    const deadline = Date.now() + 10_000;
    while (events.filter((e) => e === 'gap').length < 4 && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
    reflector.stop();
    expect(events.slice(0, 5)).toEqual(['gap', 'list', 'gap', 'gap', 'list']);
    expect(events.filter((e) => e === 'gap').length).toBeGreaterThanOrEqual(4);
  });
});
