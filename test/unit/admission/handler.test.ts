// docs/rules.md#repairs (mutating), docs/rules.md#enforcement-modes (modes, responses, fail-open), docs/operations.md#audit-log
// (audit events) and docs/rules.md#fresh-evidence, through the
// AdmissionHandler that both the HTTPS server and `review` use.
import { Operation, applyPatch } from 'fast-json-patch';
import { AdmissionHandler, HandlerDeps } from '../../../webhook/admission/handler';
import { FreshReader } from '../../../webhook/model/ports';
import { AdmissionResponse } from '../../../webhook/admission/envelope';
import { createLogger } from '../../../webhook/log/logger';
import { MemoryAuditSink } from '../../../webhook/audit/sink';
import { createAdmissionMetrics } from '../../../webhook/admission/metrics';
import { evaluate } from '../../../webhook/guard/evaluate';
import { Mode, buildPolicy } from '../../../webhook/guard/policy';
import { DEFAULT_GUARDED_USERS, UserMatcher } from '../../../webhook/guard/users';
import { parseAllocatedIPs } from '../../../webhook/model/allocations';
import { podFacts, statefulSetFacts } from '../../../webhook/model/object-facts';
import { DEFAULT_STATIC_IP_CONFIG, PodFacts } from '../../../webhook/model/types';
import { ClusterView, FreshObjects, ObjectRef, emptyFresh } from '../../../webhook/model/view';
import {
  AGENT_USER,
  CONTROLLER_USER,
  endpoint,
  endpointReview,
  goAllocatedIPs,
  Json,
  launcherPod,
  NS,
  pod,
  poolStatusReview,
  rec,
  recordsOf,
  requestOf,
  review,
  statefulSet,
  stsPod,
  uid,
  V4_POOL,
  v4Pool,
  viewOf,
  vmi,
  withRecords,
} from '../../../testbed/fixtures';

const POOL = V4_POOL;
const X = '10.6.168.101';
const Y = '10.6.168.102';
const Z = '10.6.168.103';
const C = uid('api#C');
const D = uid('new#D');
const E = uid('other#E');
const API = 'api-6d9f7c-x2k8q';
const NEW = 'new-7c8d9-n4m2z';
const NOW = new Date('2026-11-22T03:04:05.000Z');

interface Setup {
  objects?: Json[];
  view?: ClusterView;
  mode?: Mode;
  ruleModes?: string[];
  exempt?: string[];
  guarded?: string[];
  fresh?: FreshReader;
  synced?: boolean;
  failClosed?: boolean;
}

function setup(s: Setup = {}) {
  const audit = new MemoryAuditSink();
  const metrics = createAdmissionMetrics(undefined, false);
  const view = s.view ?? viewOf(...(s.objects ?? []));
  const deps: HandlerDeps = {
    view: () => view,
    synced: () => s.synced ?? true,
    settings: { staticIp: DEFAULT_STATIC_IP_CONFIG, guardedUsers: new UserMatcher(s.guarded ?? DEFAULT_GUARDED_USERS) },
    policy: buildPolicy(s.mode ?? 'enforce', s.ruleModes ?? [], new UserMatcher(s.exempt ?? [])),
    audit,
    log: createLogger('silent'),
    fresh: s.fresh,
    metrics,
    failClosed: s.failClosed,
    now: () => NOW,
  };
  return { handler: new AdmissionHandler(deps), audit, metrics, view, deps };
}

/** A GC write releasing X (running pod API observes it) and Y (running pod NEW observes it). */
function twoLiveReleases() {
  const old = v4Pool({ [X]: rec(`${NS}/${API}`, C), [Y]: rec(`${NS}/${NEW}`, D) });
  const next = withRecords(old, {});
  const objects = [old, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, ips: [Y] })];
  return { old, next, objects, req: requestOf(poolStatusReview(old, next, CONTROLLER_USER)) };
}

/** An agent write allocating X (observed on running API) to NEW: DOUBLE_ALLOCATION. */
function doubleAllocation() {
  const old = v4Pool({});
  const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) });
  const objects = [old, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })];
  return { old, next, objects, req: requestOf(poolStatusReview(old, next, AGENT_USER)) };
}

function decodePatch(r: AdmissionResponse): Operation[] {
  expect(r.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(r.patch!, 'base64').toString('utf8')) as Operation[];
}

function patched(object: Json, r: AdmissionResponse): Json {
  const copy = JSON.parse(JSON.stringify(object)) as Json;
  return applyPatch(copy, decodePatch(r), true, true).newDocument;
}

async function metricValue(
  metrics: ReturnType<typeof createAdmissionMetrics>,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value ?? 0;
}

describe('enforce (docs/rules.md#enforcement-modes)', () => {
  it('denies with 403 Forbidden, one line per violation beginning with "RULE: ", with IP, pool, record and live pod', async () => {
    const t = twoLiveReleases();
    const { handler } = setup({ objects: t.objects });
    const r = await handler.handle('validate', t.req);
    expect(r.uid).toBe(t.req.uid);
    expect(r.allowed).toBe(false);
    expect(r.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    const lines = r.status!.message.split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^LIVE_IP_RELEASE: /);
    const lineX = lines.find((l) => l.includes(X))!;
    expect(lineX).toContain(POOL);
    expect(lineX).toContain(`${NS}/${API}`);
    expect(lineX).toContain(C);
    expect(lineX).toContain(`[${X}]`);
    expect(r.warnings).toBeUndefined();
    expect(r.patch).toBeUndefined();
  });

  it('keeps one line per violation when the written strings contain line breaks', async () => {
    const old = v4Pool({});
    const next = withRecords(
      old,
      {},
      {
        allocatedIPs: JSON.stringify({
          '10.6.168.1\nLIVE_IP_RELEASE: forged': rec(`${NS}/${NEW}`, D),
          [Y]: rec(`${NS}/x\ny`, D),
        }),
        allocatedIPCount: 2,
      },
    );
    const r = await setup({ objects: [old] }).handler.handle(
      'validate',
      requestOf(poolStatusReview(old, next, AGENT_USER)),
    );
    expect(r.allowed).toBe(false);
    const lines = r.status!.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(['MALFORMED_ALLOCATIONS', 'STALE_ALLOCATION']);
  });

  it('sets auditAnnotations: distinct rules and the IPs, joined by ","', async () => {
    const t = twoLiveReleases();
    const r = await setup({ objects: t.objects }).handler.handle('validate', t.req);
    expect(r.auditAnnotations?.rule).toBe('LIVE_IP_RELEASE');
    expect(r.auditAnnotations?.ips.split(',').sort()).toEqual([X, Y]);
  });

  it('writes one audit event per violation with the fields of docs/operations.md#audit-log', async () => {
    const t = twoLiveReleases();
    const { handler, audit } = setup({ objects: t.objects });
    await handler.handle('validate', t.req);
    expect(audit.events).toHaveLength(2);
    const e = audit.events.find((ev) => ev.ip === X)!;
    expect(e).toMatchObject({
      time: NOW.toISOString(),
      event: 'admission.denied',
      rule: 'LIVE_IP_RELEASE',
      mode: 'enforce',
      requestUID: t.req.uid,
      operation: 'UPDATE',
      resource: {
        group: 'spiderpool.spidernet.io',
        version: 'v2beta1',
        resource: 'spiderippools',
        subResource: 'status',
      },
      name: POOL,
      user: CONTROLLER_USER,
      ip: X,
      pool: POOL,
      record: { pod: `${NS}/${API}`, podUid: C },
      livePod: { name: `${NS}/${API}`, uid: C, phase: 'Running', observedIPs: [X], deleting: false },
    });
    expect(e.groups.length).toBeGreaterThan(0);
    expect(e.message).toMatch(/^LIVE_IP_RELEASE: /);
    expect(typeof e.namespace).toBe('string');
  });

  it('reports every violation of a request, of several rules', async () => {
    // GC releases X of a running pod, and in the same write allocates Z for a pod that does not exist
    const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
    const next = withRecords(old, { [Z]: rec(`${NS}/ghost-0`, E) });
    const { handler } = setup({ objects: [old, pod({ name: API, uid: C, ips: [X] })] });
    const r = await handler.handle('validate', requestOf(poolStatusReview(old, next)));
    const rules = r.status!.message.split('\n').map((l) => l.split(':')[0]);
    expect(rules.sort()).toEqual(['LIVE_IP_RELEASE', 'STALE_ALLOCATION']);
    expect(r.auditAnnotations!.rule.split(',').sort()).toEqual(['LIVE_IP_RELEASE', 'STALE_ALLOCATION']);
    expect(r.auditAnnotations!.ips.split(',').sort()).toEqual([X, Z]);
  });

  it('a write without violations is allowed without annotations or events', async () => {
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) });
    const { handler, audit } = setup({ objects: [old, pod({ name: NEW, uid: D, phase: 'Pending' })] });
    const r = await handler.handle('validate', requestOf(poolStatusReview(old, next, AGENT_USER)));
    expect(r).toEqual({ uid: expect.any(String), allowed: true });
    expect(audit.events).toEqual([]);
  });

  it('a request the guard does not judge is allowed untouched', async () => {
    const p = pod({ name: API, uid: C, ips: [X] });
    const { handler, audit } = setup({ objects: [p] });
    const r = await handler.handle('validate', requestOf(review({ operation: 'DELETE', target: 'pod', oldObject: p })));
    expect(r).toEqual({ uid: expect.any(String), allowed: true });
    const main = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
    const r2 = await handler.handle(
      'validate',
      requestOf(review({ operation: 'UPDATE', target: 'pool', oldObject: main, object: withRecords(main, {}) })),
    );
    expect(r2.allowed).toBe(true);
    expect(r2.auditAnnotations).toBeUndefined();
    expect(audit.events).toEqual([]);
  });
});

describe('warn and audit modes (docs/rules.md#enforcement-modes)', () => {
  it('warn: allowed, one warning per violation with the same text as a denial line', async () => {
    const t = twoLiveReleases();
    const denied = await setup({ objects: t.objects }).handler.handle('validate', t.req);
    const { handler, audit } = setup({ objects: t.objects, mode: 'warn' });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.status).toBeUndefined();
    expect(r.warnings?.sort()).toEqual(denied.status!.message.split('\n').sort());
    expect(r.auditAnnotations?.rule).toBe('LIVE_IP_RELEASE');
    expect(audit.events.map((e) => [e.event, e.mode])).toEqual([
      ['admission.warned', 'warn'],
      ['admission.warned', 'warn'],
    ]);
  });

  it('audit: allowed silently, only the audit log and auditAnnotations record it', async () => {
    const t = twoLiveReleases();
    const { handler, audit } = setup({ objects: t.objects, mode: 'audit' });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.status).toBeUndefined();
    expect(r.warnings).toBeUndefined();
    expect(r.auditAnnotations?.ips.split(',').sort()).toEqual([X, Y]);
    expect(audit.events.map((e) => e.event)).toEqual(['admission.audited', 'admission.audited']);
  });

  it('a per-rule mode overrides the global one; warn violations go to warnings even in a denied response (docs/rules.md#enforcement-modes)', async () => {
    // DOUBLE_ALLOCATION (enforced) and STALE_ALLOCATION (warned) in one write
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, E) });
    const objects = [old, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })];
    const { handler, audit } = setup({ objects, ruleModes: ['STALE_ALLOCATION=warn'] });
    const r = await handler.handle('validate', requestOf(poolStatusReview(old, next, AGENT_USER)));
    expect(r.allowed).toBe(false);
    expect(r.status!.message.split('\n')).toEqual([expect.stringMatching(/^DOUBLE_ALLOCATION: /)]);
    expect(r.warnings).toEqual([expect.stringMatching(/^STALE_ALLOCATION: /)]);
    expect(r.auditAnnotations!.rule.split(',').sort()).toEqual(['DOUBLE_ALLOCATION', 'STALE_ALLOCATION']);
    expect(audit.events.map((e) => `${e.rule}:${e.event}`).sort()).toEqual([
      'DOUBLE_ALLOCATION:admission.denied',
      'STALE_ALLOCATION:admission.warned',
    ]);
  });

  it('a per-rule enforce under a global warn denies', async () => {
    const t = doubleAllocation();
    const r = await setup({
      objects: t.objects,
      mode: 'warn',
      ruleModes: ['DOUBLE_ALLOCATION=enforce'],
    }).handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
  });
});

describe('exempt users (docs/rules.md#guarded-and-exempt-writers)', () => {
  it('are never denied; what would have been denied is audited', async () => {
    const t = twoLiveReleases();
    const { handler, audit } = setup({ objects: t.objects, exempt: ['system:serviceaccount:kube-system:*'] });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.status).toBeUndefined();
    expect(r.warnings).toBeUndefined();
    expect(r.auditAnnotations?.rule).toBe('LIVE_IP_RELEASE');
    expect(audit.events).toHaveLength(2);
    for (const e of audit.events)
      expect(e).toMatchObject({ event: 'admission.audited', exempt: true, mode: 'enforce' });
  });

  it('an exempt glob that does not match changes nothing', async () => {
    const t = twoLiveReleases();
    const r = await setup({
      objects: t.objects,
      exempt: ['system:serviceaccount:kube-system:spiderpool-agent'],
    }).handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
  });
});

describe('repair mode on the validating path (docs/rules.md#repairs)', () => {
  it('--mode repair: a repairable rule acts as enforce', async () => {
    const t = twoLiveReleases();
    const { handler, audit } = setup({ objects: t.objects, mode: 'repair' });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
    expect(r.status?.code).toBe(403);
    expect(audit.events.every((e) => e.mode === 'repair' && e.event === 'admission.denied')).toBe(true);
  });

  it('--mode repair: a rule without repair is enforced', async () => {
    const t = doubleAllocation();
    const { handler, audit } = setup({ objects: t.objects, mode: 'repair' });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
    expect(audit.events.map((e) => [e.rule, e.mode])).toEqual([['DOUBLE_ALLOCATION', 'enforce']]);
  });

  it('--mode repair with a per-rule warn keeps the warn', async () => {
    const t = doubleAllocation();
    const r = await setup({ objects: t.objects, mode: 'repair', ruleModes: ['DOUBLE_ALLOCATION=warn'] }).handler.handle(
      'validate',
      t.req,
    );
    expect(r.allowed).toBe(true);
    expect(r.warnings).toHaveLength(1);
  });
});

describe('mutating webhook (docs/rules.md#repairs)', () => {
  it('fixes allocatedIPCount with a base64 JSONPatch that applies cleanly (COUNT_MISMATCH)', async () => {
    const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
    const next = withRecords(
      old,
      { [X]: rec(`${NS}/${API}`, C), [Y]: rec(`${NS}/${NEW}`, D) },
      { allocatedIPCount: 7 },
    );
    const { handler, audit } = setup({
      objects: [old, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })],
    });
    const req = requestOf(poolStatusReview(old, next, AGENT_USER));
    const r = await handler.handle('mutate', req);
    expect(r.allowed).toBe(true);
    expect(r.uid).toBe(req.uid);
    const out = patched(next, r);
    const status = out.status as Json;
    expect(status.allocatedIPCount).toBe(2);
    expect(Object.keys(recordsOf(out))).toHaveLength(status.allocatedIPCount as number);
    expect(status.allocatedIPs).toBe((next.status as Json).allocatedIPs);
    expect(status.totalIPCount).toBe(10);
    expect(out.metadata).toEqual(next.metadata);
    expect(out.spec).toEqual(next.spec);
    expect(r.auditAnnotations?.rule).toBe('COUNT_MISMATCH');
    expect(audit.events).toEqual([
      expect.objectContaining({ event: 'admission.repaired', rule: 'COUNT_MISMATCH', pool: POOL, user: AGENT_USER }),
    ]);
  });

  it('sets a missing count when records exist', async () => {
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) }, { allocatedIPCount: null });
    const r = await setup({ objects: [old, pod({ name: NEW, uid: D })] }).handler.handle(
      'mutate',
      requestOf(poolStatusReview(old, next, AGENT_USER)),
    );
    expect((patched(next, r).status as Json).allocatedIPCount).toBe(1);
  });

  it('leaves a consistent write alone: no patch', async () => {
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) });
    const { handler, audit } = setup({ objects: [old, pod({ name: NEW, uid: D })] });
    const r = await handler.handle('mutate', requestOf(poolStatusReview(old, next, AGENT_USER)));
    expect(r).toEqual({ uid: expect.any(String), allowed: true });
    expect(audit.events).toEqual([]);
  });

  it('a release of the last record (field dropped, count 0) needs no patch', async () => {
    const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
    const next = withRecords(old, {});
    const r = await setup({ objects: [old] }).handler.handle(
      'mutate',
      requestOf(poolStatusReview(old, next, AGENT_USER)),
    );
    expect(r.patch).toBeUndefined();
  });

  it('never denies and never warns, whatever the validating rules say', async () => {
    for (const mode of ['enforce', 'warn', 'audit'] as const) {
      const t = doubleAllocation();
      const r = await setup({ objects: t.objects, mode }).handler.handle('mutate', t.req);
      expect(r).toEqual({ uid: t.req.uid, allowed: true });
    }
    const t = twoLiveReleases();
    const r = await setup({ objects: t.objects }).handler.handle('mutate', t.req);
    expect(r).toEqual({ uid: t.req.uid, allowed: true });
  });

  it('endpoint requests pass the mutating path untouched', async () => {
    const ep = endpoint({ name: API, podUid: C, nics: [{ ipv4: `${X}/16`, ipv4Pool: POOL }] });
    const r = await setup({ objects: [ep, pod({ name: API, uid: C, ips: [X] })] }).handler.handle(
      'mutate',
      requestOf(endpointReview('DELETE', { oldObject: ep })),
    );
    expect(r).toEqual({ uid: expect.any(String), allowed: true });
  });

  describe('repair mode', () => {
    it('restores the released records of running pods, keeps the legitimate release, and the repaired write validates', async () => {
      // GC releases X (API running with it) and Z (pod gone): X is restored, Z stays released
      const old = v4Pool({ [X]: rec(`${NS}/${API}`, C), [Z]: rec(`${NS}/gone-1`, E) });
      const next = withRecords(old, {});
      const objects = [old, pod({ name: API, uid: C, ips: [X] })];
      const { handler, audit } = setup({ objects, mode: 'repair' });
      const req = requestOf(poolStatusReview(old, next));
      const r = await handler.handle('mutate', req);
      expect(r.allowed).toBe(true);
      expect(r.warnings).toBeUndefined();
      const out = patched(next, r);
      expect(recordsOf(out)).toEqual({ [X]: rec(`${NS}/${API}`, C) });
      expect((out.status as Json).allocatedIPs).toBe(goAllocatedIPs({ [X]: rec(`${NS}/${API}`, C) }));
      expect((out.status as Json).allocatedIPCount).toBe(1);
      expect(r.auditAnnotations).toEqual({ rule: 'LIVE_IP_RELEASE', ips: X });
      expect(audit.events).toEqual([
        expect.objectContaining({ event: 'admission.repaired', rule: 'LIVE_IP_RELEASE', mode: 'repair', ip: X }),
      ]);
      // the API server then runs the validating webhook on the repaired object
      const after = await handler.handle('validate', requestOf(poolStatusReview(old, out)));
      expect(after.allowed).toBe(true);
    });

    it('restores a record with the uid of the live pod that holds the IP', async () => {
      // record X still names the old incarnation A of web-1; the new incarnation B runs with X
      const A = uid('web-1#A');
      const B = uid('web-1#B');
      const old = v4Pool({ [X]: rec(`${NS}/web-1`, A) });
      const next = withRecords(old, {});
      const objects = [old, statefulSet({ name: 'web', replicas: 3 }), stsPod('web', 1, { uid: B, ips: [X] })];
      const { handler } = setup({ objects, mode: 'repair' });
      const r = await handler.handle('mutate', requestOf(poolStatusReview(old, next)));
      const out = patched(next, r);
      expect(recordsOf(out)).toEqual({ [X]: rec(`${NS}/web-1`, B) });
      expect(await handler.handle('validate', requestOf(poolStatusReview(old, out)))).toMatchObject({ allowed: true });
    });

    it("restores a restarting StatefulSet member's record (STATIC_IP_RELEASE) as it was", async () => {
      const A = uid('web-1#A');
      const old = v4Pool({ [X]: rec(`${NS}/web-1`, A) });
      const next = withRecords(old, {});
      const ep = endpoint({
        name: 'web-1',
        podUid: A,
        type: 'StatefulSet',
        nics: [{ ipv4: `${X}/16`, ipv4Pool: POOL }],
      });
      const { handler } = setup({
        objects: [old, statefulSet({ name: 'web', replicas: 3 }), ep],
        ruleModes: ['STATIC_IP_RELEASE=repair'],
      });
      const r = await handler.handle('mutate', requestOf(poolStatusReview(old, next)));
      expect(recordsOf(patched(next, r))).toEqual({ [X]: rec(`${NS}/web-1`, A) });
      expect(r.auditAnnotations?.rule).toBe('STATIC_IP_RELEASE');
    });

    it('undoes a stale uid rewrite of a guarded writer', async () => {
      const A = uid('web-1#A');
      const B = uid('web-1#B');
      const old = v4Pool({ [X]: rec(`${NS}/web-1`, B), [Y]: rec(`${NS}/${API}`, C) });
      const next = withRecords(old, { [X]: rec(`${NS}/web-1`, A), [Y]: rec(`${NS}/${API}`, C) });
      const objects = [
        old,
        statefulSet({ name: 'web', replicas: 3 }),
        stsPod('web', 1, { uid: B, ips: [X] }),
        pod({ name: API, uid: C, ips: [Y] }),
      ];
      const { handler } = setup({ objects, ruleModes: ['STALE_UID_REWRITE=repair'] });
      const r = await handler.handle('mutate', requestOf(poolStatusReview(old, next)));
      const out = patched(next, r);
      expect(recordsOf(out)).toEqual(recordsOf(old));
      expect((out.status as Json).allocatedIPCount).toBe(2);
      expect(r.auditAnnotations).toEqual({ rule: 'STALE_UID_REWRITE', ips: X });
    });

    it('also fixes a wrong count in the same patch', async () => {
      const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
      const next = withRecords(old, {}, { allocatedIPCount: 5 });
      const r = await setup({ objects: [old, pod({ name: API, uid: C, ips: [X] })], mode: 'repair' }).handler.handle(
        'mutate',
        requestOf(poolStatusReview(old, next)),
      );
      const out = patched(next, r);
      expect(Object.keys(recordsOf(out))).toEqual([X]);
      expect((out.status as Json).allocatedIPCount).toBe(1);
      expect(r.auditAnnotations!.rule.split(',').sort()).toEqual(['COUNT_MISMATCH', 'LIVE_IP_RELEASE']);
    });

    it('does not repair writers that are not guarded, nor exempt users; the validating path then decides', async () => {
      const A = uid('web-1#A');
      const B = uid('web-1#B');
      const old = v4Pool({ [X]: rec(`${NS}/web-1`, B) });
      const next = withRecords(old, { [X]: rec(`${NS}/web-1`, A) });
      const objects = [old, statefulSet({ name: 'web', replicas: 3 }), stsPod('web', 1, { uid: B, ips: [X] })];
      const { handler } = setup({ objects, mode: 'repair' });
      const req = requestOf(poolStatusReview(old, next, AGENT_USER));
      expect(await handler.handle('mutate', req)).toEqual({ uid: req.uid, allowed: true });
      expect(await handler.handle('validate', req)).toMatchObject({ allowed: false, status: { code: 403 } });

      const t = twoLiveReleases();
      const ex = setup({ objects: t.objects, mode: 'repair', exempt: [CONTROLLER_USER] });
      expect(await ex.handler.handle('mutate', t.req)).toEqual({ uid: t.req.uid, allowed: true });
    });

    it('does nothing for rules in enforce mode', async () => {
      const t = twoLiveReleases();
      const r = await setup({ objects: t.objects, ruleModes: ['STALE_UID_REWRITE=repair'] }).handler.handle(
        'mutate',
        t.req,
      );
      expect(r.patch).toBeUndefined();
    });
  });
});

describe('fail-open and errors (docs/rules.md#fail-open-and-fail-closed)', () => {
  it('caches not synced: allowed with a warning naming the cause, counted in metrics', async () => {
    const t = twoLiveReleases();
    const { handler, metrics, audit } = setup({ objects: t.objects, synced: false });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual([expect.stringMatching(/not synced/)]);
    expect(audit.events).toEqual([]);
    expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'unsynced' })).toBe(1);
  });

  it('caches stale (a watch down past the limit): fail-open with cause stale-cache, naming the resources, counted', async () => {
    const t = twoLiveReleases();
    const { handler, metrics, audit, deps } = setup({ objects: t.objects, synced: false });
    deps.staleCaches = () => ['pods', 'spiderendpoints'];
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual([expect.stringMatching(/caches stale .*pods, spiderendpoints.*fail-open/)]);
    expect(audit.events).toEqual([]);
    expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'stale-cache' })).toBe(1);
    expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'unsynced' })).toBe(0);
  });

  it('caches stale with --fail-closed: refused, naming the cause', async () => {
    const t = twoLiveReleases();
    const { handler, deps } = setup({ objects: t.objects, failClosed: true });
    deps.staleCaches = () => ['spiderippools'];
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
    expect(r.status?.message).toMatch(/caches stale .*spiderippools.*fail-closed/);
  });

  it('the fail-closed switch refuses instead', async () => {
    const t = twoLiveReleases();
    const r = await setup({ objects: t.objects, synced: false, failClosed: true }).handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
    expect(r.status?.message).toMatch(/not synced/);
  });

  it('an exception inside evaluation never escapes handle(): fail-open with the cause', async () => {
    const t = twoLiveReleases();
    const broken = viewOf(...t.objects);
    broken.podsObserving = () => {
      throw new Error('index corrupted');
    };
    const { handler, metrics } = setup({ view: broken });
    const r = await handler.handle('validate', t.req);
    expect(r).toMatchObject({ uid: t.req.uid, allowed: true });
    expect(r.warnings?.[0]).toMatch(/internal error: index corrupted/);
    expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'internal' })).toBe(1);
    const m = await setup({ view: broken }).handler.handle('mutate', t.req);
    expect(m.allowed).toBe(true);
  });

  it('an exception with fail-closed is a refusal, still not a throw', async () => {
    const t = twoLiveReleases();
    const { deps } = setup({ objects: t.objects, failClosed: true });
    const r = await new AdmissionHandler({
      ...deps,
      view: () => {
        throw new Error('no view');
      },
    }).handle('validate', t.req);
    expect(r.allowed).toBe(false);
    expect(r.status?.message).toMatch(/no view/);
  });

  it('a request object the rules cannot read is answered, not thrown', async () => {
    const req = requestOf(
      review({
        operation: 'UPDATE',
        target: 'poolStatus',
        object: { status: 'garbage' } as Json,
        oldObject: { spec: 7 } as Json,
      }),
    );
    const r = await setup().handler.handle('validate', req);
    expect(r).toEqual({ uid: req.uid, allowed: true });
  });
});

describe('fresh evidence (docs/rules.md#fresh-evidence)', () => {
  class FakeReader implements FreshReader {
    readonly calls: ObjectRef[][] = [];
    constructor(private readonly answer: (ref: ObjectRef) => PodFacts | null | undefined) {}
    async read(refs: ObjectRef[]): Promise<FreshObjects> {
      this.calls.push(refs);
      const out = emptyFresh();
      for (const r of refs) {
        if (r.kind !== 'pod') continue;
        const a = this.answer(r);
        if (a !== undefined) out.pods.set(`${r.namespace}/${r.name}`, a);
      }
      return out;
    }
    podRefs(): string[] {
      return this.calls
        .flat()
        .filter((r) => r.kind === 'pod')
        .map((r) => `${r.namespace}/${r.name}`);
    }
  }

  it('the pod re-read is gone: the denial is dropped', async () => {
    const t = twoLiveReleases();
    const reader = new FakeReader(() => null);
    const { handler, audit } = setup({ objects: t.objects, fresh: reader });
    const r = await handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.auditAnnotations).toBeUndefined();
    expect(audit.events).toEqual([]);
    expect(reader.podRefs()).toEqual(expect.arrayContaining([`${NS}/${API}`, `${NS}/${NEW}`]));
  });

  it('the re-read pod still holds the IP: the denial stands', async () => {
    const t = twoLiveReleases();
    const reader = new FakeReader((r) => (r.name === API ? podFacts(pod({ name: API, uid: C, ips: [X] })) : null));
    const r = await setup({ objects: t.objects, fresh: reader }).handler.handle('validate', t.req);
    expect(r.allowed).toBe(false);
    expect(r.status!.message.split('\n')).toEqual([expect.stringContaining(X)]);
  });

  it('the re-read pod is terminating (its containers stopped): the denial is dropped', async () => {
    const t = twoLiveReleases();
    const reader = new FakeReader((r) =>
      podFacts(
        pod({
          name: r.name,
          uid: r.name === API ? C : D,
          ips: [r.name === API ? X : Y],
          deleting: true,
          containers: 'terminated',
        }),
      ),
    );
    expect((await setup({ objects: t.objects, fresh: reader }).handler.handle('validate', t.req)).allowed).toBe(true);
  });

  it('no read happens for an allowed write, nor for a warn-only violation', async () => {
    const reader = new FakeReader(() => null);
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) });
    await setup({ objects: [old, pod({ name: NEW, uid: D })], fresh: reader }).handler.handle(
      'validate',
      requestOf(poolStatusReview(old, next, AGENT_USER)),
    );
    const t = twoLiveReleases();
    await setup({ objects: t.objects, fresh: reader, mode: 'warn' }).handler.handle('validate', t.req);
    expect(reader.calls).toEqual([]);
  });

  it('a cache miss leads to a live read before concluding the pod does not exist (STALE_ALLOCATION)', async () => {
    // the pod was just created: the informer has not seen it yet, the API server has
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) });
    const reader = new FakeReader((r) =>
      r.name === NEW ? podFacts(pod({ name: NEW, uid: D, phase: 'Pending' })) : null,
    );
    const r = await setup({ objects: [old], fresh: reader }).handler.handle(
      'validate',
      requestOf(poolStatusReview(old, next, AGENT_USER)),
    );
    expect(reader.podRefs()).toContain(`${NS}/${NEW}`);
    expect(r.allowed).toBe(true);
  });

  // docs/rules.md#fresh-evidence: a needed object missing from the cache is read live before concluding it does not exist — here the
  // miss would otherwise let the release through.
  it("a cache miss of the record's pod is read live before a release is allowed", async () => {
    // GC releases X recorded for API; the guard's cache has not seen API, the API server has it running with X
    const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
    const next = withRecords(old, {});
    const reader = new FakeReader((r) => (r.name === API ? podFacts(pod({ name: API, uid: C, ips: [X] })) : null));
    const r = await setup({ objects: [old], fresh: reader }).handler.handle(
      'validate',
      requestOf(poolStatusReview(old, next)),
    );
    expect(reader.podRefs()).toContain(`${NS}/${API}`);
    expect(r.allowed).toBe(false);
  });

  it('KubeVirt: a launcher pod the cache lacks is listed live before STALE_ALLOCATION (docs/rules.md#pods-of-a-name)', async () => {
    // the record is named after the VMI; its new launcher pod is on the API server but not yet in the cache
    const old = v4Pool({});
    const next = withRecords(old, { [X]: rec(`${NS}/vm9`, 'uid-new') });
    const launcher = podFacts(launcherPod('vm9', { uid: 'uid-new', phase: 'Pending' }));
    const calls: ObjectRef[][] = [];
    const reader: FreshReader = {
      read: async (refs) => {
        calls.push(refs);
        const out = emptyFresh();
        for (const r of refs)
          if (r.kind === 'vmiPods' && r.name === 'vm9') out.vmiPods.set(`${r.namespace}/${r.name}`, [launcher]);
        return out;
      },
    };
    const r = await setup({ objects: [old, vmi({ name: 'vm9' })], fresh: reader }).handler.handle(
      'validate',
      requestOf(poolStatusReview(old, next, AGENT_USER)),
    );
    expect(calls.flat()).toContainEqual({ kind: 'vmiPods', namespace: NS, name: 'vm9' });
    expect(r.allowed).toBe(true);
    // without the live list, the same write is denied from the stale cache
    const stale = await setup({
      objects: [old, vmi({ name: 'vm9' })],
      fresh: new FakeReader(() => undefined),
    }).handler.handle('validate', requestOf(poolStatusReview(old, next, AGENT_USER)));
    expect(stale.status?.message).toMatch(/^STALE_ALLOCATION: /);
  });

  it('one round reads each object once', async () => {
    const t = twoLiveReleases();
    const reader = new FakeReader(() => null);
    await setup({ objects: t.objects, fresh: reader }).handler.handle('validate', t.req);
    const keys = reader.calls.flat().map((r) => `${r.kind}:${r.namespace}/${r.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('a failing re-read fails open with the cause', async () => {
    const t = twoLiveReleases();
    const reader: FreshReader = {
      read: () => Promise.reject(new Error('apiserver unavailable')),
    };
    const r = await setup({ objects: t.objects, fresh: reader }).handler.handle('validate', t.req);
    expect(r.allowed).toBe(true);
    expect(r.warnings?.[0]).toMatch(/apiserver unavailable/);
  });

  describe('the API server stops answering while a decision waits on its re-read (the outage e2e, SIGSTOP under load)', () => {
    /** A re-read that fails once the caches have gone stale: the probe noticed the silence while the read waited. */
    function staleDuringRead(failure: () => Promise<FreshObjects>) {
      const t = twoLiveReleases();
      let stale: string[] = [];
      const reader: FreshReader = {
        read: () => {
          stale = ['pods', 'spiderendpoints'];
          return failure();
        },
      };
      return { t, reader, staleCaches: () => stale };
    }

    it('the read fails after the caches went stale: fail-open naming the stale caches (cause stale-cache), not the read', async () => {
      const { t, reader, staleCaches } = staleDuringRead(() => Promise.reject(new Error('The operation was aborted')));
      const { handler, deps, metrics } = setup({ objects: t.objects, fresh: reader });
      deps.staleCaches = staleCaches;
      const r = await handler.handle('validate', t.req);
      expect(r.allowed).toBe(true);
      expect(r.warnings).toEqual([
        expect.stringMatching(
          /^spiderpool-guard: caches stale \(API server watch down\): pods, spiderendpoints; meanwhile internal error: fresh read before denial failed: The operation was aborted; .*fail-open/,
        ),
      ]);
      expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'stale-cache' })).toBe(1);
      expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'internal' })).toBe(0);
    });

    it('with --fail-closed: refused naming the stale caches', async () => {
      const { t, reader, staleCaches } = staleDuringRead(() => Promise.reject(new Error('The operation was aborted')));
      const { handler, deps } = setup({ objects: t.objects, fresh: reader, failClosed: true });
      deps.staleCaches = staleCaches;
      const r = await handler.handle('validate', t.req);
      expect(r.allowed).toBe(false);
      expect(r.status?.message).toMatch(/^spiderpool-guard: caches stale .*pods, spiderendpoints.*\(fail-closed\)$/);
    });

    it('the deadline comes first while the read hangs and the caches went stale: the answer names the stale caches', async () => {
      const { t, reader, staleCaches } = staleDuringRead(() => new Promise<FreshObjects>(() => {}));
      const { handler, deps, metrics } = setup({ objects: t.objects, fresh: reader, failClosed: true });
      deps.staleCaches = staleCaches;
      const r = await handler.handle('validate', t.req, { budgetMs: 50 });
      expect(r.allowed).toBe(false);
      expect(r.status?.message).toMatch(
        /caches stale .*; meanwhile decision deadline of 50 ms reached \(fail-closed\)$/,
      );
      expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'stale-cache' })).toBe(1);
      expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'deadline' })).toBe(0);
    });

    it('the caches are still current when the read fails: the read failure is the cause (internal)', async () => {
      const t = twoLiveReleases();
      const reader: FreshReader = { read: () => Promise.reject(new Error('HTTP 500: etcdserver: leader changed')) };
      const { handler, deps, metrics } = setup({ objects: t.objects, fresh: reader });
      deps.staleCaches = () => [];
      const r = await handler.handle('validate', t.req);
      expect(r.warnings).toEqual([
        expect.stringMatching(
          /^spiderpool-guard: internal error: fresh read before denial failed: HTTP 500: etcdserver: leader changed; write allowed unchecked \(fail-open\)$/,
        ),
      ]);
      expect(await metricValue(metrics, 'spiderpool_guard_admission_errors_total', { cause: 'internal' })).toBe(1);
    });
  });

  it('exempt users cause no reads', async () => {
    const t = twoLiveReleases();
    const reader = new FakeReader(() => null);
    await setup({ objects: t.objects, fresh: reader, exempt: [CONTROLLER_USER] }).handler.handle('validate', t.req);
    expect(reader.calls).toEqual([]);
  });

  describe("DOUBLE_ALLOCATION of a restarting static member's IP rests on a fresh StatefulSet (bench b2, seed 7)", () => {
    // The cache still shows sts-a at 4 replicas and sts-a-1's endpoint listing X; the agent allocates X to NEW.
    const seed7 = () => {
      const old = v4Pool({});
      const next = withRecords(old, { [X]: rec(`${NS}/${NEW}`, D) });
      const ep = endpoint({
        name: 'sts-a-1',
        podUid: C,
        type: 'StatefulSet',
        nics: [{ ipv4: `${X}/16`, ipv4Pool: POOL }],
      });
      const objects = [
        old,
        statefulSet({ name: 'sts-a', replicas: 4 }),
        ep,
        stsPod('sts-a', 1, { uid: E, phase: 'Pending' }),
        pod({ name: NEW, uid: D, phase: 'Pending' }),
      ];
      return { objects, req: requestOf(poolStatusReview(old, next, AGENT_USER)) };
    };
    /** Answers StatefulSet reads with `replicas` and leaves every other object as cached. */
    const statefulSetReader = (replicas: number) => {
      const calls: ObjectRef[] = [];
      const reader: FreshReader = {
        read: async (refs) => {
          calls.push(...refs);
          const out = emptyFresh();
          for (const r of refs) {
            if (r.kind === 'statefulSet')
              out.statefulSets.set(
                `${r.namespace}/${r.name}`,
                statefulSetFacts(statefulSet({ name: r.name, replicas })),
              );
          }
          return out;
        },
      };
      return { reader, calls };
    };

    it('the set is still 4 on the fresh read: denied, naming the IP, pool, member and endpoint', async () => {
      const t = seed7();
      const { reader, calls } = statefulSetReader(4);
      const r = await setup({ objects: t.objects, fresh: reader }).handler.handle('validate', t.req);
      expect(r.allowed).toBe(false);
      expect(r.status!.message).toMatch(/^DOUBLE_ALLOCATION: /);
      for (const part of [
        `IP ${X}`,
        `pool ${POOL}`,
        `endpoint ${NS}/sts-a-1`,
        `restarting static member ${NS}/sts-a-1`,
      ])
        expect(r.status!.message).toContain(part);
      expect(calls).toEqual(
        expect.arrayContaining([
          { kind: 'pod', namespace: NS, name: 'sts-a-1' },
          { kind: 'statefulSet', namespace: NS, name: 'sts-a' },
          { kind: 'endpoint', namespace: NS, name: 'sts-a-1' },
        ]),
      );
    });

    it('the fresh read shows the set scaled down to 1: the member is not valid, the allocation is allowed', async () => {
      const t = seed7();
      const r = await setup({ objects: t.objects, fresh: statefulSetReader(1).reader }).handler.handle(
        'validate',
        t.req,
      );
      expect(r.allowed).toBe(true);
    });
  });

  it('the repair path re-reads too: a pod that is gone is not restored', async () => {
    const t = twoLiveReleases();
    const reader = new FakeReader(() => null);
    const r = await setup({ objects: t.objects, fresh: reader, mode: 'repair' }).handler.handle('mutate', t.req);
    expect(r.patch).toBeUndefined();
    expect(reader.calls.length).toBeGreaterThan(0);
  });

  it('a read that brings nothing back (KubeVirt not served: the reader skips its objects) ends the rounds: the write is evaluated once', async () => {
    // the GC releases the record of a pod that is gone: its pod and KubeVirt lookups miss the cache on every review
    const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
    const req = requestOf(poolStatusReview(old, withRecords(old, {})));
    const lookups = async (fresh?: FreshReader) => {
      const s = setup({ objects: [old], fresh });
      const vm = jest.spyOn(s.view, 'vm');
      const r = await s.handler.handle('validate', req);
      return { allowed: r.allowed, evaluations: vm.mock.calls.length };
    };
    const reader = new FakeReader(() => undefined);
    const once = await lookups();
    expect(await lookups(reader)).toEqual(once);
    expect(once).toEqual({ allowed: true, evaluations: 1 });
    expect(reader.calls).toHaveLength(1);
  });
});

describe('evaluate is pure: judging twice gives the same answer', () => {
  it('same violations from the same request and view', () => {
    const t = twoLiveReleases();
    const view = viewOf(...t.objects);
    const settings = { staticIp: DEFAULT_STATIC_IP_CONFIG, guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS) };
    expect(evaluate(t.req, view, settings).violations).toEqual(evaluate(t.req, view, settings).violations);
    expect(
      parseAllocatedIPs((t.next.status as Json).allocatedIPs, { subnet: '10.6.0.0/16', family: 4 }).records.size,
    ).toBe(0);
  });
});
