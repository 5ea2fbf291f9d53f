/**
 * The chaos benchmark's bookkeeping (bench/chaos): replaying guard denials against the ground truth at the time
 * the audit line gives, counting latent conflicts the reconciler did not heal in time, and running runs N at a time.
 */
import { classifyDenials, eventTime, type AuditEventLike } from '../../../bench/chaos/denials';
import type * as k8s from '@kubernetes/client-node';
import { boundToStayWithoutIp, LatentLog, latentKey, type Latent } from '../../../bench/chaos/measure';
import type { SpiderIPPool } from '../../e2e/support';
import { eventsOfRun } from '../../../bench/chaos/run';
import { GroundTruth } from '../../../testbed/spiderpool/truth';
import { inParallel } from '../../../testbed/spiderpool/util';

const T0 = Date.parse('2026-11-29T06:00:00.000Z');

function truthWithHold(): GroundTruth {
  const truth = new GroundTruth();
  truth.hold('10.0.0.5', 'ns/web-0', 'uid-new', T0);
  return truth;
}

const denial = (time: unknown): AuditEventLike => ({
  event: 'admission.denied',
  time,
  rule: 'LIVE_IP_RELEASE',
  requestUID: 'req-1',
  ip: '10.0.0.5',
  pool: 'pool-a',
  record: { pod: 'ns/web-0', podUid: 'uid-new' },
});

describe('denials are replayed at the time of the audit line', () => {
  test('the guard stdout stamps epoch milliseconds (pino): a release of a held IP is a justified denial', () => {
    const summary = classifyDenials([denial(T0 + 1000)], truthWithHold());
    expect(summary.denials).toBe(1);
    expect(summary.falseDenials).toBe(0);
    expect(summary.violations[0].why).toContain('held by ns/web-0@uid-new');
  });

  test('the audit file writes an ISO string: read the same way', () => {
    expect(eventTime(denial(new Date(T0 + 1000).toISOString()))).toBe(T0 + 1000);
    expect(classifyDenials([denial(new Date(T0 + 1000).toISOString())], truthWithHold()).falseDenials).toBe(0);
  });

  test('a denial before the IP was held is false', () => {
    expect(classifyDenials([denial(T0 - 1000)], truthWithHold()).falseDenials).toBe(1);
  });

  test('a line without a readable time is counted false and says why, rather than throwing', () => {
    const summary = classifyDenials([denial(undefined)], truthWithHold());
    expect(summary.falseDenials).toBe(1);
    expect(summary.violations[0].why).toMatch(/without a readable time/);
  });
});

describe('UNCONFIRMED_TERMINATION_RELEASE denials (the zombie scenario)', () => {
  const held = (time: number): AuditEventLike => ({
    ...denial(time),
    rule: 'UNCONFIRMED_TERMINATION_RELEASE',
    record: { pod: 'ns/api-zombie', podUid: 'uid-zombie' },
  });

  test("justified while the terminating pod's sandbox still holds the IP, false once it was torn down", () => {
    const truth = new GroundTruth();
    truth.hold('10.0.0.5', 'ns/api-zombie', 'uid-zombie', T0);
    expect(classifyDenials([held(T0 + 1000)], truth).falseDenials).toBe(0);
    truth.endHolds('uid-zombie', T0 + 2000);
    expect(classifyDenials([held(T0 + 3000)], truth).falseDenials).toBe(1);
  });
});

describe('a shared guard: each run takes the audit events about its own pool and namespace', () => {
  test('pool writes by pool name, endpoint writes by namespace', () => {
    const events: AuditEventLike[] = [
      { name: 'pool-a', pool: 'pool-a', namespace: '' },
      { name: 'pool-b', pool: 'pool-b', namespace: '' },
      { name: 'web-0', namespace: 'run-a', endpoint: 'run-a/web-0' },
      { name: 'web-0', namespace: 'run-b', endpoint: 'run-b/web-0' },
    ];
    expect(eventsOfRun(events, 'run-a', 'pool-a')).toEqual([events[0], events[2]]);
  });
});

describe('latent conflicts', () => {
  const l: Latent = { pod: 'ns/web-0@uid-new', ip: '10.0.0.5' };
  const alive = new Set([latentKey(l)]);

  test('one the pool records again within the window (the reconciler restored it) is not counted', () => {
    const log = new LatentLog();
    log.confirm([l], alive, T0);
    log.heal([l], alive, T0 + 5_000); // still missing
    log.heal([], alive, T0 + 12_000); // recorded again, pod still alive on it
    expect(log.counted(20_000)).toEqual([]);
    expect(log.healedWithin(latentKey(l), 20_000)).toBe(true);
  });

  test('one healed only after the window counts', () => {
    const log = new LatentLog();
    log.confirm([l], alive, T0);
    log.heal([], alive, T0 + 25_000);
    expect(log.counted(20_000)).toEqual([latentKey(l)]);
  });

  test('one never healed counts, also when the pod dies first (gone from the listing is not healed)', () => {
    const log = new LatentLog();
    log.confirm([l], alive, T0);
    log.heal([], new Set(), T0 + 2_000);
    expect(log.counted(20_000)).toEqual([latentKey(l)]);
  });

  test('a candidate not alive on the IP in the next listing is never confirmed (a reading artefact)', () => {
    const log = new LatentLog();
    log.confirm([l], new Set(), T0);
    expect(log.counted(20_000)).toEqual([]);
    expect(log.confirmed.size).toBe(0);
  });
});

test('inParallel runs at most N at a time and keeps the order of the items', async () => {
  let running = 0;
  let most = 0;
  const out = await inParallel([30, 10, 20, 5, 15], 2, async (ms) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, ms));
    running--;
    return ms * 2;
  });
  expect(out).toEqual([60, 20, 40, 10, 30]);
  expect(most).toBe(2);
});

describe('a checkpoint stops waiting when pods without an IP are bound to stay so', () => {
  const pod = (name: string, uid: string, ip?: string, deleting = false): k8s.V1Pod => ({
    metadata: { namespace: 'ns', name, uid, ...(deleting ? { deletionTimestamp: new Date(T0) } : {}) },
    spec: { containers: [], nodeName: 'node-1' },
    status: { phase: ip ? 'Running' : 'Pending', ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}) },
  });
  const pool = (records: Record<string, string>): SpiderIPPool => ({
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderIPPool',
    metadata: { name: 'p' },
    spec: { subnet: '10.0.0.0/24', ips: ['10.0.0.2-10.0.0.3'] },
    status: {
      allocatedIPs: JSON.stringify(
        Object.fromEntries(
          Object.entries(records).map(([ip, who]) => [
            ip,
            { pod: `ns/${who.split('@')[0]}`, podUid: who.split('@')[1] },
          ]),
        ),
      ),
    },
  });

  test('pool full, every record held by its alive pod, nothing terminating: bound', () => {
    const pods = [pod('a', 'ua', '10.0.0.2'), pod('b', 'ub', '10.0.0.3'), pod('c', 'uc')];
    expect(boundToStayWithoutIp(pool({ '10.0.0.2': 'a@ua', '10.0.0.3': 'b@ub' }), pods)).toBe(true);
  });

  test('a leaked record (its pod gone) can still be released: not bound', () => {
    const pods = [pod('a', 'ua', '10.0.0.2'), pod('c', 'uc')];
    expect(boundToStayWithoutIp(pool({ '10.0.0.2': 'a@ua', '10.0.0.3': 'gone@ug' }), pods)).toBe(false);
  });

  test('a record whose pod is alive on another IP can still be released: not bound', () => {
    const pods = [pod('a', 'ua', '10.0.0.2'), pod('b', 'ub', '10.0.0.2'), pod('c', 'uc')];
    expect(boundToStayWithoutIp(pool({ '10.0.0.2': 'a@ua', '10.0.0.3': 'b@ub' }), pods)).toBe(false);
  });

  test('a record of an old incarnation counts as kept only when the caller says nobody releases it (W3 without a guard)', () => {
    // b restarted: its new incarnation holds .3 under a new uid, while .2 stays recorded for the old one
    const pods = [pod('b', 'ub-new', '10.0.0.3'), pod('c', 'uc')];
    const records = pool({ '10.0.0.2': 'b@ub-old', '10.0.0.3': 'b@ub-new' });
    expect(boundToStayWithoutIp(records, pods)).toBe(false);
    expect(
      boundToStayWithoutIp(
        records,
        pods,
        (ip, r, p) => ip === '10.0.0.2' && r.podUid === 'ub-old' && p?.metadata?.uid === 'ub-new',
      ),
    ).toBe(true);
  });

  test('a pod terminating (cmdDel to come) or a free IP: not bound', () => {
    const full = pool({ '10.0.0.2': 'a@ua', '10.0.0.3': 'b@ub' });
    expect(
      boundToStayWithoutIp(full, [
        pod('a', 'ua', '10.0.0.2'),
        pod('b', 'ub', '10.0.0.3'),
        pod('c', 'uc'),
        pod('d', 'ud', undefined, true),
      ]),
    ).toBe(false);
    expect(boundToStayWithoutIp(pool({ '10.0.0.2': 'a@ua' }), [pod('a', 'ua', '10.0.0.2'), pod('c', 'uc')])).toBe(
      false,
    );
  });

  test('every pod has an IP: nothing to wait for, not this rule', () => {
    expect(
      boundToStayWithoutIp(pool({ '10.0.0.2': 'a@ua', '10.0.0.3': 'b@ub' }), [
        pod('a', 'ua', '10.0.0.2'),
        pod('b', 'ub', '10.0.0.3'),
      ]),
    ).toBe(false);
  });
});
