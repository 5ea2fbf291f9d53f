// UNCONFIRMED_TERMINATION_RELEASE (docs/rules.md, Pool status rules): a guarded writer may not release the record of a
// pod being deleted whose termination no one confirmed; each way of confirming lets the same release through.
// Judged through guard.evaluate on a snapshot-built view (as `review` does), then through the handler for fresh
// evidence, repair, the Event and the metric.
import { applyPatch, Operation } from 'fast-json-patch';
import { AdmissionHandler } from '../../../webhook/admission/handler';
import { createAdmissionMetrics } from '../../../webhook/admission/metrics';
import { decisionEvents } from '../../../webhook/admission/decision-effects';
import { AdmissionResponse } from '../../../webhook/admission/envelope';
import { MemoryAuditSink } from '../../../webhook/audit/sink';
import { evaluate, GuardSettings } from '../../../webhook/guard/evaluate';
import { buildPolicy, Mode } from '../../../webhook/guard/policy';
import { Violation, violationMessage } from '../../../webhook/guard/rule-names';
import { DEFAULT_GUARDED_USERS, UserMatcher } from '../../../webhook/guard/users';
import { createLogger } from '../../../webhook/log/logger';
import { FreshReader } from '../../../webhook/model/ports';
import { nodeFacts, podFacts } from '../../../webhook/model/object-facts';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { FreshObjects, ObjectRef, emptyFresh } from '../../../webhook/model/view';
import {
  AGENT_USER,
  CONTROLLER_USER,
  DELETED_AT_MS,
  GUARD_SETTINGS,
  Json,
  NS,
  OUT_OF_SERVICE,
  node,
  pod,
  poolStatusReview,
  rec,
  Records,
  requestOf,
  uid,
  v4Pool,
  viewOf,
  withRecords,
} from '../../../testbed/fixtures';

const X = '10.6.168.101';
const Y = '10.6.168.102';
const OLD = 'api-6d9f7c-x2k8q';
const NEW = 'api-6d9f7c-q9w3e';
const A = uid('api-old#A');
const B = uid('api-new#B');
const NOW = DELETED_AT_MS + 3 * 60_000;
const clocked = (holdMaxMs?: number): GuardSettings => ({
  ...GUARD_SETTINGS,
  termination: { holdMaxMs, now: () => NOW },
});

/** The zombie: deleted, containers still running, on worker-1. */
const zombie = (o: Partial<Parameters<typeof pod>[0]> = {}) =>
  pod({ name: OLD, uid: A, ips: [X], deleting: true, nodeName: 'worker-1', ...o });
const unreachable = node({ name: 'worker-1', ready: 'Unknown' });

function release(o: {
  objects: Json[];
  from?: Records;
  to?: Records;
  user?: string;
  settings?: GuardSettings;
}): Violation[] {
  const old = v4Pool(o.from ?? { [X]: rec(`${NS}/${OLD}`, A) });
  const next = withRecords(old, o.to ?? {});
  return evaluate(
    requestOf(poolStatusReview(old, next, o.user ?? CONTROLLER_USER)),
    viewOf(old, ...o.objects),
    o.settings ?? clocked(),
  ).violations;
}
const rulesOf = (vs: Violation[]) => vs.map((v) => v.rule).sort();

describe('UNCONFIRMED_TERMINATION_RELEASE: denied while the termination is unconfirmed', () => {
  it("the GC releases a Terminating pod's record on a node that stopped reporting", () => {
    const vs = release({ objects: [zombie(), unreachable] });
    expect(rulesOf(vs)).toEqual(['UNCONFIRMED_TERMINATION_RELEASE']);
    expect(vs[0]).toMatchObject({
      ip: X,
      record: { pod: `${NS}/${OLD}`, podUid: A },
      livePod: { name: `${NS}/${OLD}`, uid: A, deleting: true },
    });
    const line = violationMessage(vs[0]);
    // which node has not confirmed, since when, and how to end the hold
    expect(line).toMatch(/^UNCONFIRMED_TERMINATION_RELEASE: IP 10\.6\.168\.101/);
    expect(line).toContain('node worker-1 has not confirmed');
    expect(line).toContain('deleted 3m ago');
    expect(line).toContain('Ready Unknown');
    expect(line).toContain('kubectl taint nodes worker-1 node.kubernetes.io/out-of-service=nodeshutdown:NoExecute');
    // fresh evidence: the pod and its Node
    expect(vs[0].evidence).toEqual([
      { kind: 'pod', namespace: NS, name: OLD },
      { kind: 'node', namespace: '', name: 'worker-1' },
    ]);
  });

  it('a snapshot without Nodes judges from the pod alone (the node is assumed to exist)', () => {
    expect(rulesOf(release({ objects: [zombie()] }))).toEqual(['UNCONFIRMED_TERMINATION_RELEASE']);
  });

  it('a Ready node that has not reported the containers terminated holds the IP too (a stuck kill)', () => {
    expect(rulesOf(release({ objects: [zombie(), node({ name: 'worker-1' })] }))).toEqual([
      'UNCONFIRMED_TERMINATION_RELEASE',
    ]);
  });

  it('no container statuses while the pod observes IPs is unconfirmed', () => {
    expect(rulesOf(release({ objects: [zombie({ containers: 'none' }), unreachable] }))).toEqual([
      'UNCONFIRMED_TERMINATION_RELEASE',
    ]);
  });

  it('only the removed records of such pods: other records in the same write are judged as usual', () => {
    const from = { [X]: rec(`${NS}/${OLD}`, A), [Y]: rec(`${NS}/gone`, uid('gone')) };
    const vs = release({ objects: [zombie(), unreachable], from, to: {} });
    expect(vs.map((v) => v.ip)).toEqual([X]);
  });
});

describe('UNCONFIRMED_TERMINATION_RELEASE: the legitimate neighbours', () => {
  it.each([
    ['its containers reported terminated', [zombie({ containers: 'terminated' }), unreachable]],
    ['its phase is Failed', [zombie({ phase: 'Failed' }), unreachable]],
    ['no container statuses and no observed IPs', [zombie({ containers: 'none', ips: [] }), unreachable]],
    ['its Node was deleted', [zombie(), node({ name: 'worker-2' })]],
    [
      'its Node is tainted out-of-service',
      [zombie(), node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] })],
    ],
  ])('allowed once termination is confirmed: %s', (_why, objects) => {
    expect(release({ objects: objects as Json[] })).toEqual([]);
  });

  it('allowed past --termination-hold-max; denied within it', () => {
    expect(release({ objects: [zombie(), unreachable], settings: clocked(2 * 60_000) })).toEqual([]);
    expect(rulesOf(release({ objects: [zombie(), unreachable], settings: clocked(5 * 60_000) }))).toEqual([
      'UNCONFIRMED_TERMINATION_RELEASE',
    ]);
  });

  it('the agent (not a guarded writer) releasing at CNI DEL is never judged by it', () => {
    expect(release({ objects: [zombie(), unreachable], user: AGENT_USER })).toEqual([]);
  });

  it("a record of another incarnation (uid) of that name is not this pod's", () => {
    const vs = release({ objects: [zombie({ uid: B }), unreachable] });
    expect(vs.map((v) => v.rule)).not.toContain('UNCONFIRMED_TERMINATION_RELEASE');
  });

  it("a pod gone from the API is not held (POD_GONE is the GC's own job)", () => {
    expect(release({ objects: [unreachable] })).toEqual([]);
  });

  it('never reported with LIVE_IP_RELEASE: where another alive pod observes the IP, only LIVE_IP_RELEASE', () => {
    const vs = release({ objects: [zombie(), unreachable, pod({ name: NEW, uid: B, ips: [X] })] });
    expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
  });
});

// ------------------------------------------------------------------------------------------- through the handler

const ZOMBIE_NODE = 'worker-1';

class FakeReader implements FreshReader {
  readonly refs: ObjectRef[] = [];
  constructor(private readonly answer: { pod?: Json | null; node?: Json | null }) {}
  async read(refs: ObjectRef[]): Promise<FreshObjects> {
    this.refs.push(...refs);
    const out = emptyFresh();
    for (const r of refs) {
      if (r.kind === 'pod' && this.answer.pod !== undefined)
        out.pods.set(`${r.namespace}/${r.name}`, this.answer.pod && podFacts(this.answer.pod));
      if (r.kind === 'node' && this.answer.node !== undefined)
        out.nodes.set(r.name, this.answer.node && nodeFacts(this.answer.node));
    }
    return out;
  }
}

function handlerFor(o: { objects: Json[]; fresh?: FreshReader; mode?: Mode }) {
  const audit = new MemoryAuditSink();
  const metrics = createAdmissionMetrics(undefined, false);
  const view = viewOf(...o.objects);
  const handler = new AdmissionHandler({
    view: () => view,
    synced: () => true,
    settings: {
      staticIp: DEFAULT_STATIC_IP_CONFIG,
      guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS),
      termination: { now: () => NOW },
    },
    policy: buildPolicy(o.mode ?? 'enforce', [], new UserMatcher([])),
    audit,
    log: createLogger('silent'),
    fresh: o.fresh,
    metrics,
  });
  return { handler, audit, metrics };
}

function gcRelease() {
  const old = v4Pool({ [X]: rec(`${NS}/${OLD}`, A), [Y]: rec(`${NS}/${NEW}`, B) });
  const next = withRecords(old, { [Y]: rec(`${NS}/${NEW}`, B) });
  return { old, next, req: requestOf(poolStatusReview(old, next, CONTROLLER_USER)) };
}

async function held(metrics: ReturnType<typeof createAdmissionMetrics>, outcome: string): Promise<number> {
  const m = await metrics.registry.getSingleMetric('spiderpool_guard_held_releases_total')!.get();
  return m.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe('UNCONFIRMED_TERMINATION_RELEASE behind the handler', () => {
  const objects = () => [gcRelease().old, zombie(), unreachable, pod({ name: NEW, uid: B, ips: [Y] })];

  it('the pod and its Node are re-read before denying; the denial stands when both still call for it', async () => {
    const reader = new FakeReader({ pod: zombie(), node: unreachable });
    const { handler, metrics } = handlerFor({ objects: objects(), fresh: reader });
    const r = await handler.handle('validate', gcRelease().req);
    expect(r.allowed).toBe(false);
    expect(r.status!.message).toContain('UNCONFIRMED_TERMINATION_RELEASE');
    expect(reader.refs).toEqual(
      expect.arrayContaining([
        { kind: 'pod', namespace: NS, name: OLD },
        { kind: 'node', namespace: '', name: ZOMBIE_NODE },
      ]),
    );
    expect(await held(metrics, 'denied')).toBe(1);
  });

  it.each([
    [
      'the Node re-read carries the out-of-service taint',
      { node: node({ name: ZOMBIE_NODE, ready: 'Unknown', taints: [OUT_OF_SERVICE] }) },
    ],
    ['the Node re-read is gone', { node: null }],
    ['the pod re-read reports its containers terminated', { pod: zombie({ containers: 'terminated' }) }],
    ['the pod re-read is gone', { pod: null }],
  ])('allowed when the fresh state confirms: %s', async (_why, answer) => {
    const { handler, metrics } = handlerFor({ objects: objects(), fresh: new FakeReader(answer) });
    expect((await handler.handle('validate', gcRelease().req)).allowed).toBe(true);
    expect(await held(metrics, 'denied')).toBe(0);
  });

  it('repair mode restores the record (and only that one) instead of denying', async () => {
    const { handler, metrics } = handlerFor({ objects: objects(), mode: 'repair' });
    const t = gcRelease();
    const r: AdmissionResponse = await handler.handle('mutate', t.req);
    const ops = JSON.parse(Buffer.from(r.patch!, 'base64').toString('utf8')) as Operation[];
    const after = applyPatch(JSON.parse(JSON.stringify(t.next)) as Json, ops, true, true).newDocument as {
      status: { allocatedIPs: string; allocatedIPCount: number };
    };
    expect(JSON.parse(after.status.allocatedIPs)).toEqual({
      [X]: { pod: `${NS}/${OLD}`, podUid: A },
      [Y]: { pod: `${NS}/${NEW}`, podUid: B },
    });
    expect(after.status.allocatedIPCount).toBe(2);
    expect(r.auditAnnotations?.rule).toBe('UNCONFIRMED_TERMINATION_RELEASE');
    expect(await held(metrics, 'repaired')).toBe(1);
    // the validating webhook then sees the repaired write: nothing to deny
    expect(
      (await handler.handle('validate', requestOf(poolStatusReview(t.old, after as unknown as Json, CONTROLLER_USER))))
        .allowed,
    ).toBe(true);
  });

  it('warn mode allows with a warning naming the node', async () => {
    const r = await handlerFor({ objects: objects(), mode: 'warn' }).handler.handle('validate', gcRelease().req);
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual([expect.stringContaining('node worker-1 has not confirmed')]);
  });

  it('audit mode allows silently and audits', async () => {
    const { handler, audit } = handlerFor({ objects: objects(), mode: 'audit' });
    const r = await handler.handle('validate', gcRelease().req);
    expect(r).toMatchObject({ allowed: true });
    expect(r.warnings).toBeUndefined();
    expect(audit.events).toEqual([
      expect.objectContaining({ event: 'admission.audited', rule: 'UNCONFIRMED_TERMINATION_RELEASE', ip: X }),
    ]);
  });

  it('the Event goes on the terminating pod and says which node has not confirmed and how to end the hold', () => {
    const [v] = release({ objects: [zombie(), unreachable] });
    const events = decisionEvents(requestOf(poolStatusReview(v4Pool({}), v4Pool({}), CONTROLLER_USER)), [
      { violation: v, mode: 'enforce', outcome: 'denied', exempt: false, message: violationMessage(v) },
    ]);
    expect(events).toEqual([
      expect.objectContaining({
        namespace: NS,
        involvedObject: expect.objectContaining({ kind: 'Pod', name: OLD, uid: A }),
        reason: 'UNCONFIRMED_TERMINATION_RELEASE',
        type: 'Warning',
      }),
    ]);
    expect(events[0].message).toContain('node worker-1 has not confirmed');
    expect(events[0].message).toContain('the Node worker-1 is deleted');
    expect(events[0].message).toContain('node.kubernetes.io/out-of-service=nodeshutdown:NoExecute');
  });
});
