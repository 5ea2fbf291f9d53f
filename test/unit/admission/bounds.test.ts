// docs/rules.md#bounds and the audit lines' bounds (docs/operations.md#audit-log) at the handler: whatever the request, the response and its audit lines are
// small (message <= 20 violations + 1 line, <= 20 warnings, names <= 256, annotations <= 1 KiB, <= 100 audit lines +
// one admission.truncated), and the answer comes by the deadline, fresh reads included.
import { testHandler } from '../support/handler';
import { createAdmissionMetrics } from '../../../webhook/admission/metrics';
import { DeadlineReached, LazyDeadline } from '../../../webhook/admission/deadline';
import { MemoryAuditSink } from '../../../webhook/audit/sink';
import { Mode } from '../../../webhook/guard/policy';
import { FreshReader } from '../../../webhook/model/ports';
import { FreshObjects, ObjectRef } from '../../../webhook/model/view';
import {
  CONTROLLER_USER,
  Json,
  Records,
  ipv4Range,
  pod,
  poolStatusReview,
  rec,
  requestOf,
  uid,
  v4Pool,
  viewOf,
} from '../../../testbed/fixtures';

function setup(o: { objects: Json[]; mode?: Mode; fresh?: FreshReader; failClosed?: boolean }) {
  const audit = new MemoryAuditSink();
  const metrics = createAdmissionMetrics(undefined, false);
  const view = viewOf(...o.objects);
  const handler = testHandler(view, { mode: o.mode, audit, fresh: o.fresh, metrics, failClosed: o.failClosed });
  return { handler, audit, metrics };
}

/** n live pods, each holding the IP its record names, all released in one write by the controller. */
function massRelease(n: number) {
  const ips = ipv4Range('10.6.1.1', n);
  const records: Records = {};
  const pods = ips.map((ip, i) => {
    records[ip] = rec(`demo/web-${i}`, uid(`web-${i}`));
    return pod({ name: `web-${i}`, uid: uid(`web-${i}`), ips: [ip] });
  });
  const old = v4Pool(records);
  return { objects: [...pods, old], req: requestOf(poolStatusReview(old, v4Pool({}), CONTROLLER_USER)) };
}

async function counter(
  metrics: ReturnType<typeof createAdmissionMetrics>,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('response and audit bounds', () => {
  it('a release of 600 live records: 20 message lines and one "... and at least N more", 100 audit lines and one admission.truncated', async () => {
    const t = massRelease(600);
    const { handler, audit } = setup({ objects: t.objects });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
    const lines = r.status!.message.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines.slice(0, 20).every((l) => l.startsWith('LIVE_IP_RELEASE: '))).toBe(true);
    // looking stopped once the enforced rule had 256 violations: the count is a lower bound
    expect(lines[20]).toBe('... and at least 236 more violations');
    expect(audit.events).toHaveLength(101);
    expect(audit.events.slice(0, 100).every((e) => e.event === 'admission.denied')).toBe(true);
    expect(audit.events[100]).toMatchObject({
      event: 'admission.truncated',
      omitted: 156,
      atLeast: true,
      rule: 'LIVE_IP_RELEASE',
    });
    expect(r.auditAnnotations!.ips.length).toBeLessThanOrEqual(1024);
  });

  it('in warn mode every violation is counted: 19 warnings and a last one saying how many more', async () => {
    const t = massRelease(300);
    const { handler, audit } = setup({ objects: t.objects, mode: 'warn' });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.warnings).toHaveLength(20);
    expect(r.warnings![19]).toBe('... and 281 more violations');
    expect(audit.events.at(-1)).toMatchObject({ event: 'admission.truncated', omitted: 200 });
    expect(audit.events.at(-1)!.atLeast).toBeUndefined();
  });

  it('20 violations fit in the message without a summary line', async () => {
    const t = massRelease(20);
    const r = await setup({ objects: t.objects }).handler.handle('validate', t.req);
    expect(r.status!.message.split('\n')).toHaveLength(20);
  });

  it('a hostile review (256 KiB uid, 200 malformed keys): names cut to 256, audit lines stay small', async () => {
    const huge = 'u'.repeat(256 * 1024);
    const records: Records = { '10.6.168.101': rec('demo/web-0', huge) };
    const hostile: Record<string, unknown> = { ...records };
    for (let i = 0; i < 200; i++)
      hostile[`not-an-ip-${i}-${'k'.repeat(2000)}`] = { pod: `demo/${'p'.repeat(1000)}`, podUid: huge };
    const old = v4Pool(records);
    const next = v4Pool({}, 0);
    (next.status as Json).allocatedIPs = JSON.stringify(hostile);
    const doc = poolStatusReview(old, next, CONTROLLER_USER) as { request: Json };
    doc.request.uid = huge;
    doc.request.name = 'n'.repeat(100_000);
    (doc.request.userInfo as Json).username = `system:serviceaccount:kube-system:spiderpool-controller`;
    const { handler, audit } = setup({ objects: [old, pod({ name: 'web-0', uid: huge, ips: ['10.6.168.101'] })] });
    const r = await handler.handle('validate', requestOf(doc));
    expect(r.allowed).toBe(false);
    expect(r.uid).toBe(huge); // the API server matches the response to its request by uid
    const lines = r.status!.message.split('\n');
    expect(lines.length).toBeLessThanOrEqual(21);
    for (const l of lines) expect(l.length).toBeLessThan(4096);
    for (const v of Object.values(r.auditAnnotations!)) expect(v.length).toBeLessThanOrEqual(1024);
    const bytes = audit.events.reduce((n, e) => n + JSON.stringify(e).length, 0);
    expect(audit.events.length).toBeLessThanOrEqual(101);
    expect(bytes).toBeLessThan(101 * 8 * 1024);
    for (const e of audit.events) {
      expect(e.requestUID.length).toBeLessThanOrEqual(256);
      expect(e.name.length).toBeLessThanOrEqual(256);
      if (e.record) expect(e.record.podUid.length).toBeLessThanOrEqual(256);
    }
  });
});

describe('decision deadline', () => {
  /** A fresh reader whose reads hang until their signal aborts them (an API server that stopped answering). */
  class HangingReader implements FreshReader {
    aborted = 0;
    read(_refs: ObjectRef[], signal?: AbortSignal): Promise<FreshObjects> {
      return new Promise((_, reject) =>
        signal?.addEventListener('abort', () => {
          this.aborted++;
          reject(signal.reason as Error);
        }),
      );
    }
  }

  it('fresh reads still running at the deadline: fail-open with cause deadline, counted, reads aborted, nothing audited', async () => {
    const t = massRelease(2);
    const reader = new HangingReader();
    const { handler, audit, metrics } = setup({ objects: t.objects, fresh: reader });
    const r = await handler.handle('validate', t.req, { budgetMs: 30 });
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /^spiderpool-guard: decision deadline of 30 ms reached; write allowed unchecked \(fail-open\)$/,
      ),
    ]);
    expect(
      await counter(metrics, 'spiderpool_guard_admission_errors_total', { webhook: 'validate', cause: 'deadline' }),
    ).toBe(1);
    await new Promise((res) => setImmediate(res));
    expect(reader.aborted).toBe(1);
    expect(audit.events).toEqual([]);
    expect(
      await counter(metrics, 'spiderpool_guard_admission_requests_total', { webhook: 'validate', result: 'denied' }),
    ).toBe(0);
  });

  it('fail-closed: the deadline denies with code 500', async () => {
    const t = massRelease(1);
    const r = await setup({ objects: t.objects, fresh: new HangingReader(), failClosed: true }).handler.handle(
      'validate',
      t.req,
      { budgetMs: 10 },
    );
    expect(r.allowed).toBe(false);
    expect(r.status).toMatchObject({
      code: 500,
      message: expect.stringContaining('decision deadline of 10 ms reached (fail-closed)'),
    });
  });

  it('a decision that needs no fresh read answers normally within the budget', async () => {
    const t = massRelease(1);
    const r = await setup({ objects: t.objects }).handler.handle('validate', t.req, { budgetMs: 1000 });
    expect(r.allowed).toBe(false);
  });

  it('a decision that never waits arms no timer: the deadline is armed by the first wait', async () => {
    const t = massRelease(1);
    const { handler } = setup({ objects: t.objects });
    const timers = jest.spyOn(global, 'setTimeout');
    try {
      expect((await handler.handle('validate', t.req, { budgetMs: 1000 })).allowed).toBe(false);
      expect(timers).not.toHaveBeenCalled();
    } finally {
      timers.mockRestore();
    }
  });

  it('armed late, the deadline keeps the budget counted from its start', async () => {
    const clock = new LazyDeadline(300);
    expect(clock.aborted).toBe(false);
    await new Promise((res) => setTimeout(res, 200));
    const armed = Date.now();
    const reason = await new Promise((res) => clock.signal.addEventListener('abort', () => res(clock.signal.reason)));
    expect(Date.now() - armed).toBeLessThan(200); // ~100 ms left, not the whole 300
    expect(reason).toBeInstanceOf(DeadlineReached);
    expect(clock.aborted).toBe(true);
    await expect(clock.expired).rejects.toBeInstanceOf(DeadlineReached);
  });
});

test('a budget already spent when judging would start: answered deadline at once, nothing evaluated or audited', async () => {
  const t = massRelease(3);
  const { handler, audit, metrics } = setup({ objects: t.objects });
  const r = await handler.handle('validate', t.req, { budgetMs: 0 });
  expect(r.allowed).toBe(true);
  expect(r.warnings).toEqual([
    'spiderpool-guard: decision deadline reached before judging; write allowed unchecked (fail-open)',
  ]);
  expect(audit.events).toEqual([]);
  expect(
    await counter(metrics, 'spiderpool_guard_admission_errors_total', { webhook: 'validate', cause: 'deadline' }),
  ).toBe(1);
});
