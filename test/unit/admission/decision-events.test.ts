import { decisionEffects, decisionEvents, healRequests } from '../../../webhook/admission/decision-effects';
import { EventWriter, QueuedEventPublisher } from '../../../webhook/cluster/event-publisher';
import { GuardRequest, Judged, Violation } from '../../../webhook/guard';
import { EventSpec } from '../../../webhook/model';

const AGENT = 'system:serviceaccount:kube-system:spiderpool-agent';

const req = (o: Partial<GuardRequest> = {}): GuardRequest => ({
  uid: 'r1',
  operation: 'UPDATE',
  resource: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools' },
  subResource: 'status',
  name: 'pool-a',
  user: AGENT,
  groups: [],
  ...o,
});

const violation = (o: Partial<Violation> = {}): Violation => ({
  rule: 'DOUBLE_ALLOCATION',
  ip: '10.6.0.9',
  pool: 'pool-a',
  record: { pod: 'demo/newcomer', podUid: 'un' },
  livePod: { name: 'demo/holder', uid: 'uh', phase: 'Running', observedIPs: ['10.6.0.9'], deleting: false },
  detail: 'allocation of an IP observed on another alive pod demo/holder',
  evidence: [],
  ...o,
});

const judged = (v: Violation, outcome: Judged['outcome'] = 'denied'): Judged => ({
  violation: v,
  mode: 'enforce',
  outcome,
  exempt: false,
  message: '',
});

describe('decisionEvents', () => {
  it('a denial gives a Warning Event on the live pod it protects, naming the writer, the write, the IP and the pool', () => {
    const [e] = decisionEvents(req(), [judged(violation())]);
    expect(e).toMatchObject({
      namespace: 'demo',
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'holder', namespace: 'demo', uid: 'uh' },
      type: 'Warning',
      reason: 'DOUBLE_ALLOCATION',
      action: 'Admit',
    });
    expect(e.message).toContain(
      `${AGENT} was stopped from making an UPDATE of spiderippools/status pool-a (IP 10.6.0.9, pool pool-a)`,
    );
    expect(e.message).toContain('DOUBLE_ALLOCATION: IP 10.6.0.9');
  });

  it('warnings and repairs give Events too; audited violations and dry runs do not', () => {
    const events = decisionEvents(req(), [
      judged(violation({ rule: 'LIVE_IP_RELEASE' }), 'warned'),
      judged(violation({ rule: 'STATIC_IP_RELEASE' }), 'repaired'),
      judged(violation({ rule: 'STALE_UID_REWRITE' }), 'audited'),
    ]);
    expect(events.map((e) => e.reason)).toEqual(['LIVE_IP_RELEASE', 'STATIC_IP_RELEASE']);
    expect(events[0].message).toContain('was warned about');
    expect(events[1].message).toContain('had an UPDATE of spiderippools/status pool-a repaired');
    expect(decisionEvents(req({ dryRun: true }), [judged(violation())])).toEqual([]);
  });

  it('without a live pod the Event goes on the pool', () => {
    const [e] = decisionEvents(req(), [
      judged(violation({ rule: 'MALFORMED_ALLOCATIONS', livePod: undefined, ip: undefined })),
    ]);
    expect(e).toMatchObject({ namespace: 'default', involvedObject: { kind: 'SpiderIPPool', name: 'pool-a' } });
  });
});

describe('healRequests', () => {
  it('only denials of an IP an alive pod holds ask for a heal', () => {
    expect(
      healRequests(req(), [
        judged(violation()),
        judged(violation({ rule: 'ENDPOINT_IP_CONFLICT', ip: '10.6.0.7' })),
        judged(violation({ ip: '10.6.0.8' }), 'warned'),
        judged(violation({ rule: 'STALE_ALLOCATION', ip: '10.6.0.6' })),
        judged(violation({ ip: '10.6.0.5', livePod: undefined })),
      ]),
    ).toEqual([
      { pool: 'pool-a', ip: '10.6.0.9', pod: 'demo/holder', rule: 'DOUBLE_ALLOCATION' },
      { pool: 'pool-a', ip: '10.6.0.7', pod: 'demo/holder', rule: 'ENDPOINT_IP_CONFLICT' },
    ]);
  });

  it('decisionEffects never throws into the decision', () => {
    const errors: unknown[] = [];
    const hook = decisionEffects({
      events: {
        publish: () => {
          throw new Error('boom');
        },
      },
      onError: (err) => errors.push(err),
    });
    expect(() => hook(req(), [judged(violation())])).not.toThrow();
    expect(errors).toHaveLength(1);
  });
});

/** A writer whose calls resolve only when the test says so, and a manual clock for the publisher. */
class ManualWriter implements EventWriter {
  calls: string[] = [];
  fail = false;
  private n = 0;
  async create(e: EventSpec, count: number): Promise<string> {
    this.calls.push(`create ${e.involvedObject.name} ${e.reason} count=${count}`);
    if (this.fail) throw new Error('forbidden');
    return `ev-${++this.n}`;
  }
  async update(_ns: string, name: string, count: number): Promise<void> {
    this.calls.push(`update ${name} count=${count}`);
    if (this.fail) throw new Error('forbidden');
  }
}

function publisher(writer: EventWriter, opts: { maxEntries?: number } = {}) {
  let t = 0;
  const sleepers: { at: number; resolve: () => void }[] = [];
  const results: string[] = [];
  const p = new QueuedEventPublisher(writer, {
    ...opts,
    perObjectIntervalMs: 10_000,
    minGapMs: 0,
    now: () => t,
    sleep: (ms) => new Promise<void>((resolve) => sleepers.push({ at: t + ms, resolve })),
    onResult: (reason, result) => results.push(`${reason}:${result}`),
  });
  const advance = async (ms: number) => {
    t += ms;
    for (let i = 0; i < 5; i++) {
      for (const s of sleepers.filter((x) => x.at <= t)) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.resolve();
      }
      await new Promise((r) => setImmediate(r));
    }
  };
  return { p, advance, results };
}

const spec = (pod = 'holder', reason = 'DOUBLE_ALLOCATION'): EventSpec => ({
  namespace: 'demo',
  involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod, namespace: 'demo', uid: `u-${pod}` },
  type: 'Warning',
  reason,
  action: 'Admit',
  message: `stopped (${pod})`,
});

describe('QueuedEventPublisher', () => {
  it('publish() returns before any write; repeats raise the count of one Event, at most one write per object and rule per interval', async () => {
    const w = new ManualWriter();
    const h = publisher(w);
    h.p.publish(spec());
    expect(w.calls).toEqual([]); // nothing written inside publish()
    await h.advance(0);
    expect(w.calls).toEqual(['create holder DOUBLE_ALLOCATION count=1']);
    for (let i = 0; i < 5; i++) h.p.publish(spec());
    await h.advance(1_000);
    expect(w.calls).toHaveLength(1); // rate-limited
    await h.advance(9_000);
    expect(w.calls).toEqual(['create holder DOUBLE_ALLOCATION count=1', 'update ev-1 count=6']);
    expect(h.results.filter((r) => r.endsWith(':aggregated'))).toHaveLength(5);
    expect(h.results.filter((r) => r.endsWith(':created'))).toHaveLength(1);
  });

  it('aggregates per (object, rule): another rule or another pod is another Event', async () => {
    const w = new ManualWriter();
    const h = publisher(w);
    h.p.publish(spec('holder'));
    h.p.publish(spec('holder', 'ENDPOINT_IP_CONFLICT'));
    h.p.publish(spec('other'));
    await h.advance(0);
    await h.advance(0);
    await h.advance(0);
    expect(w.calls.sort()).toEqual([
      'create holder DOUBLE_ALLOCATION count=1',
      'create holder ENDPOINT_IP_CONFLICT count=1',
      'create other DOUBLE_ALLOCATION count=1',
    ]);
  });

  it('is bounded: with every tracked entry still waiting, a new one is dropped and counted', async () => {
    const w = new ManualWriter();
    const h = publisher(w, { maxEntries: 2 });
    h.p.publish(spec('a'));
    h.p.publish(spec('b'));
    h.p.publish(spec('c'));
    expect(h.results).toEqual(['DOUBLE_ALLOCATION:dropped']);
  });

  it('a failing write is counted and given up, never thrown', async () => {
    const w = new ManualWriter();
    w.fail = true;
    const h = publisher(w);
    expect(() => h.p.publish(spec())).not.toThrow();
    await h.advance(0);
    expect(h.results).toEqual(['DOUBLE_ALLOCATION:failed']);
  });
});
