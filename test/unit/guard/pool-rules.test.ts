// The pool status rules (docs/rules.md#pool-status-rules): for every rule a denied write and the legitimate writes
// next to it. Judged through guard.evaluate on a snapshot-built view, as `review` and the server do.
import { evaluate, GuardSettings } from '../../../webhook/guard/evaluate';
import { Violation, violationMessage } from '../../../webhook/guard/rule-names';
import { UserMatcher } from '../../../webhook/guard/users';
import { ClusterView } from '../../../webhook/model/view';
import {
  AGENT_USER,
  CONTROLLER_USER,
  endpoint,
  GUARD_SETTINGS,
  ippoolAnnotation,
  ippoolsAnnotation,
  Json,
  launcherPod,
  NS,
  owner,
  pod,
  pool,
  poolStatusReview,
  rec,
  Records,
  requestOf,
  review,
  statefulSet,
  stsPod,
  uid,
  V4_POOL,
  v4Pool,
  viewOf,
  vm,
  vmi,
  withRecords,
} from '../../../testbed/fixtures';

const SETTINGS = GUARD_SETTINGS;

const P4 = V4_POOL;
const P6 = 'v6-pool';
const X = '10.6.168.101';
const Y = '10.6.168.102';
const Z = '10.6.168.103';
const X6 = 'fd00:10:6::a8:65';

const A = uid('web-1#A');
const B = uid('web-1#B');
const C = uid('api-6d9f7c-x2k8q#C');
const D = uid('new-7c8d9-n4m2z#D');
const API = 'api-6d9f7c-x2k8q';
const NEW = 'new-7c8d9-n4m2z';

function v6Pool(records: Records): Json {
  return pool({
    name: P6,
    subnet: 'fd00:10:6::/64',
    ips: ['fd00:10:6::a8:65-fd00:10:6::a8:6e'],
    records,
    totalIPCount: 10,
  });
}

/** Violations of a status write from `from` to `to` records, by `user`, against a view of `objects` (plus the old pool). */
function statusWrite(o: {
  from: Records;
  to: Records;
  objects: Json[];
  user?: string;
  v6?: boolean;
  settings?: GuardSettings;
  raw?: unknown;
}): Violation[] {
  const old = o.v6 ? v6Pool(o.from) : v4Pool(o.from);
  const next = 'raw' in o ? withRecords(old, {}, { allocatedIPs: o.raw }) : withRecords(old, o.to);
  const view = viewOf(old, ...o.objects);
  return evaluate(requestOf(poolStatusReview(old, next, o.user ?? CONTROLLER_USER)), view, o.settings ?? SETTINGS)
    .violations;
}

const rulesOf = (vs: Violation[]) => vs.map((v) => v.rule).sort();

describe('MALFORMED_ALLOCATIONS (all writers)', () => {
  const base = { [X]: rec(`${NS}/${API}`, C) };
  const objects = [pod({ name: API, uid: C, ips: [X] })];

  it.each([
    ['the empty string', ''],
    ['truncated JSON', `{"${X}":{"pod":"${NS}/${API}","podUid":"${C}"`],
    ['a JSON array', '[]'],
  ])('denies a new value that is %s', (_what, raw) => {
    for (const user of [AGENT_USER, CONTROLLER_USER]) {
      const vs = statusWrite({ from: base, to: {}, objects, user, raw });
      expect(vs.filter((v) => v.rule === 'MALFORMED_ALLOCATIONS')).toHaveLength(1);
    }
  });

  it.each([
    ['a non-canonical key', { 'fd00:10:6:0:0:0:a8:66': rec(`${NS}/${NEW}`, D) }, true],
    ['an upper-case IPv6 key', { 'FD00:10:6::A8:66': rec(`${NS}/${NEW}`, D) }, true],
    ['a key outside the subnet', { '10.9.0.1': rec(`${NS}/${NEW}`, D) }, false],
    ['a key of the wrong family', { 'fd00:10:6::a8:66': rec(`${NS}/${NEW}`, D) }, false],
    ['a key with a prefix', { '10.6.168.102/16': rec(`${NS}/${NEW}`, D) }, false],
    ['a record without podUid', { [Y]: { pod: `${NS}/${NEW}` } }, false],
    ['a record whose pod is not ns/name', { [Y]: { pod: NEW, podUid: D } }, false],
  ])('denies %s, reporting the key', (_what, bad, v6) => {
    const good = v6 ? { [X6]: rec(`${NS}/${API}`, C) } : base;
    const to = { ...good, ...(bad as Records) };
    const vs = statusWrite({
      from: good,
      to,
      objects: [pod({ name: API, uid: C, ips: [X, X6] }), pod({ name: NEW, uid: D, phase: 'Pending' })],
      user: AGENT_USER,
      v6,
    });
    expect(rulesOf(vs)).toEqual(['MALFORMED_ALLOCATIONS']);
    expect(vs[0].ip).toBe(Object.keys(bad)[0]);
    expect(vs[0].pool).toBe(v6 ? P6 : P4);
  });

  it('well-formed entries next to a malformed one are still judged by the other rules', () => {
    // the agent writes a malformed key and, in the same write, hands X (held by API) to NEW
    const vs = statusWrite({
      from: {},
      to: { [X]: rec(`${NS}/${NEW}`, D), '10.06.168.9': rec(`${NS}/${NEW}`, D) },
      objects: [pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })],
      user: AGENT_USER,
    });
    expect(rulesOf(vs)).toEqual(['DOUBLE_ALLOCATION', 'MALFORMED_ALLOCATIONS']);
  });

  it('allows the release of the last record, which drops the field (absent = no records)', () => {
    const vs = statusWrite({
      from: base,
      to: {},
      objects: [pod({ name: API, uid: C, ips: [X], deleting: true })],
      user: AGENT_USER,
    });
    expect(vs).toEqual([]);
  });

  it('allows allocatedIPs: null', () => {
    expect(statusWrite({ from: {}, to: {}, objects: [], raw: null })).toEqual([]);
  });

  it('allows an IPv6 pool whose keys are canonical', () => {
    const vs = statusWrite({
      from: {},
      to: { [X6]: rec(`${NS}/${NEW}`, D) },
      objects: [pod({ name: NEW, uid: D, phase: 'Pending' })],
      user: AGENT_USER,
      v6: true,
    });
    expect(vs).toEqual([]);
  });
});

describe('MALFORMED_ALLOCATIONS v2: entries the write leaves untouched are not judged (docs/rules.md#malformed_allocations)', () => {
  const good = { [X]: rec(`${NS}/${API}`, C) };
  const objects = [pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })];
  // Spiderpool's strict form (incremental path) and a value outside it (general parser): both must decide alike.
  const malformedEntries: [string, Records][] = [
    ['a pod without namespace (strict form)', { [Z]: rec(NEW, D) }],
    ['a record without podUid (not the strict form)', { [Z]: { pod: `${NS}/${NEW}` } as never }],
    ['a key with a leading zero', { '10.6.168.0104': rec(`${NS}/${NEW}`, D) }],
  ];

  describe.each(malformedEntries)('a pool already holding %s', (_what, bad) => {
    const from = { ...good, ...bad };
    const badKey = Object.keys(bad)[0];

    it('accepts an allocation next to it, by the agent', () => {
      expect(statusWrite({ from, to: { ...from, [Y]: rec(`${NS}/${NEW}`, D) }, objects, user: AGENT_USER })).toEqual(
        [],
      );
    });

    it("accepts the controller's release of a record of a gone pod next to it", () => {
      expect(statusWrite({ from, to: bad, objects: [pod({ name: NEW, uid: D, phase: 'Pending' })] })).toEqual([]);
    });

    it('accepts a write that removes it', () => {
      expect(statusWrite({ from, to: good, objects, user: AGENT_USER })).toEqual([]);
    });

    it('accepts a write that changes nothing (a count fix)', () => {
      expect(statusWrite({ from, to: from, objects, user: AGENT_USER })).toEqual([]);
    });

    it('still judges the well-formed entries: the release of a running pod is denied, the malformed entry is not reported', () => {
      const vs = statusWrite({ from, to: bad, objects });
      expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
      expect(vs[0].ip).toBe(X);
    });

    it('denies a write that adds another malformed entry, reporting only that one', () => {
      const vs = statusWrite({
        from,
        to: { ...from, '10.6.168.0105': rec(`${NS}/${NEW}`, D) },
        objects,
        user: AGENT_USER,
      });
      expect(rulesOf(vs)).toEqual(['MALFORMED_ALLOCATIONS']);
      expect(vs[0].ip).toBe('10.6.168.0105');
    });

    it('denies a write that changes it and leaves it malformed', () => {
      const vs = statusWrite({
        from,
        to: { ...good, [badKey]: { pod: 'still-no-namespace', podUid: uid('other') } },
        objects,
        user: AGENT_USER,
      });
      expect(rulesOf(vs)).toEqual(['MALFORMED_ALLOCATIONS']);
      expect(vs[0].ip).toBe(badKey);
    });
  });

  it('a malformed entry replaced by a well-formed record is an allocation, judged as one', () => {
    const from = { ...good, [Y]: rec(NEW, D) };
    expect(statusWrite({ from, to: { ...good, [Y]: rec(`${NS}/${NEW}`, D) }, objects, user: AGENT_USER })).toEqual([]);
    // handing that IP to a pod that does not exist is a STALE_ALLOCATION, as for any added record
    expect(
      rulesOf(
        statusWrite({ from, to: { ...good, [Y]: rec(`${NS}/ghost-1`, uid('ghost')) }, objects, user: AGENT_USER }),
      ),
    ).toEqual(['STALE_ALLOCATION']);
  });

  it('same value, other spelling (fields reordered, whitespace): still untouched', () => {
    const from = { ...good, [Z]: { pod: `${NS}/${NEW}` } as never };
    const raw = JSON.stringify(
      {
        [X]: { podUid: C, pod: `${NS}/${API}` },
        [Z]: { pod: `${NS}/${NEW}` },
        [Y]: { pod: `${NS}/${NEW}`, podUid: D },
      },
      null,
      1,
    );
    expect(statusWrite({ from, to: {}, raw, objects, user: AGENT_USER })).toEqual([]);
  });

  it('a new value that is not a JSON object is judged even when the old one was not either', () => {
    const old = withRecords(v4Pool({}), {}, { allocatedIPs: '' });
    const next = withRecords(old, {}, { allocatedIPs: '' });
    const vs = evaluate(requestOf(poolStatusReview(old, next, AGENT_USER)), viewOf(old), SETTINGS).violations;
    expect(rulesOf(vs)).toEqual(['MALFORMED_ALLOCATIONS']);
  });
});

describe('LIVE_IP_RELEASE (guarded writers)', () => {
  const record = { [X]: rec(`${NS}/${API}`, C) };

  it('denies the GC releasing the record of a running pod that observes the IP', () => {
    const vs = statusWrite({ from: record, to: {}, objects: [pod({ name: API, uid: C, ips: [X] })] });
    expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
    expect(vs[0]).toMatchObject({
      ip: X,
      pool: P4,
      record: rec(`${NS}/${API}`, C),
      livePod: { name: `${NS}/${API}`, uid: C, observedIPs: [X] },
    });
  });

  it('denies releasing a record whose pod is alive with the recorded uid even before it observes the IP (Pending)', () => {
    const vs = statusWrite({ from: record, to: {}, objects: [pod({ name: API, uid: C, phase: 'Pending' })] });
    expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
    expect(vs[0].livePod?.uid).toBe(C);
  });

  it('denies releasing an IP another alive pod observes (record for a pod that is gone)', () => {
    const vs = statusWrite({
      from: { [X]: rec(`${NS}/gone-1`, A) },
      to: {},
      objects: [pod({ name: API, uid: C, ips: [X] })],
    });
    expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
    expect(vs[0].livePod?.name).toBe(`${NS}/${API}`);
  });

  it('denies releasing an IP observed only on a secondary NIC (multus network-status)', () => {
    const p = pod({
      name: API,
      uid: uid('other'),
      ips: ['10.244.1.7'],
      multus: [
        { interface: 'eth0', ips: ['10.244.1.7'] },
        { interface: 'net1', ips: [`${X}/16`] },
      ],
    });
    const vs = statusWrite({ from: { [X]: rec(`${NS}/gone-1`, A) }, to: {}, objects: [p] });
    expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
  });

  it('compares IPv6 canonically: the pod shows the key expanded and upper-case', () => {
    const p = pod({ name: API, uid: uid('other'), ips: ['10.6.168.109', 'FD00:10:6:0:0:0:A8:65'] });
    const vs = statusWrite({ from: { [X6]: rec(`${NS}/gone-1`, A) }, to: {}, objects: [p], v6: true });
    expect(rulesOf(vs)).toEqual(['LIVE_IP_RELEASE']);
    expect(vs[0].ip).toBe(X6);
  });

  it('dual-stack: releasing both IPs of a running pod is denied in each pool', () => {
    const p = pod({ name: API, uid: C, ips: [X, X6] });
    expect(rulesOf(statusWrite({ from: record, to: {}, objects: [p] }))).toEqual(['LIVE_IP_RELEASE']);
    expect(rulesOf(statusWrite({ from: { [X6]: rec(`${NS}/${API}`, C) }, to: {}, objects: [p], v6: true }))).toEqual([
      'LIVE_IP_RELEASE',
    ]);
  });

  it('reports every released live IP, not just the first', () => {
    const from = { [X]: rec(`${NS}/${API}`, C), [Y]: rec(`${NS}/web-0`, uid('web-0')) };
    const vs = statusWrite({
      from,
      to: {},
      objects: [pod({ name: API, uid: C, ips: [X] }), pod({ name: 'web-0', uid: uid('web-0'), ips: [Y] })],
    });
    expect(vs.map((v) => v.ip).sort()).toEqual([X, Y]);
  });

  describe('legitimate releases', () => {
    it('cmdDel by the agent (not guarded), even of a running pod (A10 conflict release)', () => {
      expect(
        statusWrite({ from: record, to: {}, objects: [pod({ name: API, uid: C, ips: [X] })], user: AGENT_USER }),
      ).toEqual([]);
    });

    it('cmdDel of a terminating pod by the agent', () => {
      expect(
        statusWrite({
          from: record,
          to: {},
          objects: [pod({ name: API, uid: C, ips: [X], deleting: true })],
          user: AGENT_USER,
        }),
      ).toEqual([]);
    });

    it('release of a terminating pod by the controller (the pod is deleting, its containers reported terminated)', () => {
      expect(
        statusWrite({
          from: record,
          to: {},
          objects: [pod({ name: API, uid: C, ips: [X], deleting: true, containers: 'terminated' })],
        }),
      ).toEqual([]);
    });

    it('GC release of a completed Job pod (Succeeded, podIPs kept)', () => {
      const job = pod({
        name: 'batch-x7k2p',
        uid: C,
        ips: [X],
        phase: 'Succeeded',
        restartPolicy: 'Never',
        owners: [owner.job('batch')],
      });
      expect(statusWrite({ from: { [X]: rec(`${NS}/batch-x7k2p`, C) }, to: {}, objects: [job] })).toEqual([]);
    });

    it('GC release of an evicted pod', () => {
      const evicted = pod({ name: API, uid: C, ips: [X], phase: 'Failed', reason: 'Evicted' });
      expect(statusWrite({ from: record, to: {}, objects: [evicted] })).toEqual([]);
    });

    it('GC release of a record whose pod is gone', () => {
      expect(statusWrite({ from: record, to: {}, objects: [] })).toEqual([]);
    });

    it('GC release of a record whose pod name now has another uid and other IPs', () => {
      expect(statusWrite({ from: record, to: {}, objects: [pod({ name: API, uid: D, ips: [Z] })] })).toEqual([]);
    });

    it('a hostNetwork pod on the node IP is not an observer', () => {
      const host = pod({ name: 'node-exporter-abcde', uid: D, ips: [X], hostNetwork: true });
      expect(statusWrite({ from: { [X]: rec(`${NS}/gone-1`, A) }, to: {}, objects: [host] })).toEqual([]);
    });

    it('a key handed to another pod in the same write: the new owner observing the IP is not a conflict (docs/rules.md#double_allocation)', () => {
      const vs = statusWrite({
        from: { [X]: rec(`${NS}/gone-1`, A) },
        to: { [X]: rec(`${NS}/${NEW}`, D) },
        objects: [pod({ name: NEW, uid: D, ips: [X] })],
      });
      expect(vs).toEqual([]);
    });

    it('a KubeVirt record handed to a VMI whose launcher pod observes the IP is not a conflict either (docs/rules.md#double_allocation)', () => {
      const vs = statusWrite({
        from: { [X]: rec(`${NS}/gone-1`, A) },
        to: { [X]: rec(`${NS}/vm1`, D) },
        objects: [vmi({ name: 'vm1' }), launcherPod('vm1', { uid: D, ips: [X] })],
      });
      expect(vs).toEqual([]);
    });

    it('a key handed to another pod while the old owner still runs with it is denied', () => {
      const vs = statusWrite({
        from: record,
        to: { [X]: rec(`${NS}/${NEW}`, D) },
        objects: [pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })],
      });
      expect(rulesOf(vs)).toEqual(['DOUBLE_ALLOCATION', 'LIVE_IP_RELEASE']);
    });
  });

  describe('guarded writers are chosen by glob', () => {
    const objects = [pod({ name: API, uid: C, ips: [X] })];
    it('the default glob matches the controller in any namespace', () => {
      const user = 'system:serviceaccount:spiderpool:spiderpool-controller';
      expect(rulesOf(statusWrite({ from: record, to: {}, objects, user }))).toEqual(['LIVE_IP_RELEASE']);
    });
    it('the default glob does not match a look-alike', () => {
      const user = 'system:serviceaccount:kube-system:spiderpool-controller-x';
      expect(statusWrite({ from: record, to: {}, objects, user })).toEqual([]);
    });
    it('a custom glob can guard the agent; `*` spans ":"', () => {
      const settings = { ...SETTINGS, guardedUsers: new UserMatcher(['system:*-agent']) };
      expect(rulesOf(statusWrite({ from: record, to: {}, objects, user: AGENT_USER, settings }))).toEqual([
        'LIVE_IP_RELEASE',
      ]);
      expect(statusWrite({ from: record, to: {}, objects, user: CONTROLLER_USER, settings })).toEqual([]);
    });
    it('an empty guarded list guards nobody', () => {
      const settings = { ...SETTINGS, guardedUsers: new UserMatcher([]) };
      expect(statusWrite({ from: record, to: {}, objects, settings })).toEqual([]);
    });
    it('glob metacharacters other than * are literal', () => {
      const settings = { ...SETTINGS, guardedUsers: new UserMatcher(['system:serviceaccount:kube.system:*']) };
      expect(statusWrite({ from: record, to: {}, objects, settings })).toEqual([]);
    });
  });
});

describe('STATIC_IP_RELEASE (guarded writers)', () => {
  const sts = statefulSet({ name: 'web', replicas: 3 });
  const stsEndpoint = (podUid: string, ip = X, poolName = P4) =>
    endpoint({ name: 'web-1', podUid, type: 'StatefulSet', nics: [{ ipv4: `${ip}/16`, ipv4Pool: poolName }] });
  const record = { [X]: rec(`${NS}/web-1`, A) };

  it('denies releasing the IP of a valid member whose pod is absent between incarnations', () => {
    const vs = statusWrite({ from: record, to: {}, objects: [sts, stsEndpoint(A)] });
    expect(rulesOf(vs)).toEqual(['STATIC_IP_RELEASE']);
    expect(vs[0]).toMatchObject({ ip: X, pool: P4, endpoint: `${NS}/web-1`, record: rec(`${NS}/web-1`, A) });
  });

  it('denies it while the old incarnation is terminating (restart by pod delete)', () => {
    const vs = statusWrite({
      from: record,
      to: {},
      objects: [sts, stsEndpoint(A), stsPod('web', 1, { uid: A, ips: [X], deleting: true, containers: 'terminated' })],
    });
    expect(rulesOf(vs)).toEqual(['STATIC_IP_RELEASE']);
    // while its node has not confirmed the old incarnation stopped, UNCONFIRMED_TERMINATION_RELEASE holds it as well
    const unconfirmed = statusWrite({
      from: record,
      to: {},
      objects: [sts, stsEndpoint(A), stsPod('web', 1, { uid: A, ips: [X], deleting: true })],
    });
    expect(rulesOf(unconfirmed)).toEqual(['STATIC_IP_RELEASE', 'UNCONFIRMED_TERMINATION_RELEASE']);
  });

  it('denies it while the next incarnation is Pending without IPs', () => {
    const vs = statusWrite({
      from: record,
      to: {},
      objects: [sts, stsEndpoint(A), stsPod('web', 1, { uid: B, phase: 'Pending' })],
    });
    expect(rulesOf(vs)).toEqual(['STATIC_IP_RELEASE']);
  });

  it('honours spec.ordinals.start', () => {
    const shifted = statefulSet({ name: 'web', replicas: 2, ordinalsStart: 1 });
    expect(rulesOf(statusWrite({ from: record, to: {}, objects: [shifted, stsEndpoint(A)] }))).toEqual([
      'STATIC_IP_RELEASE',
    ]);
    const beyond = statefulSet({ name: 'web', replicas: 2, ordinalsStart: 2 });
    expect(statusWrite({ from: record, to: {}, objects: [beyond, stsEndpoint(A)] })).toEqual([]);
  });

  it('denies releasing a KubeVirt record (named after the VMI) while the VMI lives and no launcher pod runs', () => {
    const ep = endpoint({
      name: 'vm1',
      podUid: A,
      type: 'VirtualMachineInstance',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
    });
    const vs = statusWrite({ from: { [X]: rec(`${NS}/vm1`, A) }, to: {}, objects: [vmi({ name: 'vm1' }), ep] });
    expect(rulesOf(vs)).toEqual(['STATIC_IP_RELEASE']);
  });

  it('denies releasing a KubeVirt record of a stopped VM (VMI gone, VM lives)', () => {
    const ep = endpoint({
      name: 'vm1',
      podUid: A,
      type: 'VirtualMachineInstance',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
    });
    expect(
      rulesOf(statusWrite({ from: { [X]: rec(`${NS}/vm1`, A) }, to: {}, objects: [vm({ name: 'vm1' }), ep] })),
    ).toEqual(['STATIC_IP_RELEASE']);
  });

  describe('legitimate releases', () => {
    it('the endpoint lists the IP in another pool', () => {
      expect(statusWrite({ from: record, to: {}, objects: [sts, stsEndpoint(A, X, 'other-pool')] })).toEqual([]);
    });
    it('the endpoint lists another IP', () => {
      expect(statusWrite({ from: record, to: {}, objects: [sts, stsEndpoint(A, Z)] })).toEqual([]);
    });
    it('there is no endpoint', () => {
      expect(statusWrite({ from: record, to: {}, objects: [sts] })).toEqual([]);
    });
    it('a scaled-down StatefulSet: the ordinal is outside replicas', () => {
      const scaled = statefulSet({ name: 'web', replicas: 1 });
      expect(statusWrite({ from: record, to: {}, objects: [scaled, stsEndpoint(A)] })).toEqual([]);
    });
    it('the StatefulSet was deleted', () => {
      expect(statusWrite({ from: record, to: {}, objects: [stsEndpoint(A)] })).toEqual([]);
    });
    it('the StatefulSet left the IPAM: its pod exists with a new uid and other IPs (symptom 2)', () => {
      const vs = statusWrite({
        from: record,
        to: {},
        objects: [sts, stsEndpoint(A), stsPod('web', 1, { uid: B, ips: ['10.244.2.9'] })],
      });
      expect(vs).toEqual([]);
    });
    it('the VMI is being deleted and no VM controls it', () => {
      const ep = endpoint({
        name: 'vm1',
        podUid: A,
        type: 'VirtualMachineInstance',
        nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
      });
      const dying = vmi({ name: 'vm1', deleting: true, controlledByVm: false });
      expect(statusWrite({ from: { [X]: rec(`${NS}/vm1`, A) }, to: {}, objects: [dying, ep] })).toEqual([]);
    });
    it('the agent (not guarded) releasing a restarting member is not judged by this rule', () => {
      expect(statusWrite({ from: record, to: {}, objects: [sts, stsEndpoint(A)], user: AGENT_USER })).toEqual([]);
    });
    it('a Kruise StatefulSet pod is stateless for Spiderpool even with a same-named apps/v1 set absent', () => {
      const kruise = pod({ name: 'web-1', uid: B, phase: 'Pending', owners: [owner.kruiseStatefulSet('web')] });
      expect(statusWrite({ from: record, to: {}, objects: [stsEndpoint(A), kruise] })).toEqual([]);
    });
  });
});

describe('STATIC_IP_RELEASE v2: restarting only for the pools the next incarnation will use (docs/rules.md#restarting)', () => {
  const sts = statefulSet({ name: 'web', replicas: 3 });
  const stsEndpoint = endpoint({
    name: 'web-1',
    podUid: A,
    type: 'StatefulSet',
    nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
  });
  const record = { [X]: rec(`${NS}/web-1`, A) };
  const release = (...objects: Json[]) =>
    rulesOf(statusWrite({ from: record, to: {}, objects: [stsEndpoint, ...objects] }));
  const next = (annotations: Record<string, string>) => stsPod('web', 1, { uid: B, phase: 'Pending', annotations });
  const moved = (annotations: Record<string, string>) =>
    statefulSet({ name: 'web', replicas: 3, templateAnnotations: annotations });

  describe('allowed: the next incarnation names other pools', () => {
    it.each([
      ['ippool {"ipv4":[new]}', ippoolAnnotation({ ipv4: ['new-v4'] })],
      ['ippool naming other v4 and v6 pools', ippoolAnnotation({ ipv4: ['new-v4', 'spare-v4'], ipv6: ['new-v6'] })],
      [
        'ippools (multi-NIC) naming other pools on each NIC',
        ippoolsAnnotation([
          { interface: 'eth0', ipv4: ['new-v4'] },
          { interface: 'net1', ipv4: ['net1-v4'] },
        ]),
      ],
      [
        'ippools and ippool, ippools first (it takes precedence)',
        { ...ippoolsAnnotation([{ interface: 'eth0', ipv4: ['new-v4'] }]), ...ippoolAnnotation({ ipv4: [P4] }) },
      ],
    ])('on its pod (Pending, no IPs yet): %s', (_what, annotations) => {
      expect(release(sts, next(annotations))).toEqual([]);
    });

    it('on the StatefulSet pod template when no pod of that name exists', () => {
      expect(release(moved(ippoolAnnotation({ ipv4: ['new-v4'] })))).toEqual([]);
    });
  });

  describe('denied: the member still restarts into this pool, or nothing says otherwise', () => {
    it.each([
      ['names this pool', ippoolAnnotation({ ipv4: [P4] })],
      ['names this pool among others', ippoolAnnotation({ ipv4: ['new-v4', P4] })],
      [
        'names it on one NIC of ippools',
        ippoolsAnnotation([
          { interface: 'eth0', ipv4: ['new-v4'] },
          { interface: 'net1', ipv4: [P4] },
        ]),
      ],
      ['is malformed JSON (read as no annotation)', { 'ipam.spidernet.io/ippool': '{"ipv4":["new-v4"' }],
      ['has the wrong shape (read as no annotation)', { 'ipam.spidernet.io/ippool': '{"ipv4":"new-v4"}' }],
      [
        'ippools is malformed, ippool names another pool (Spiderpool fails on ippools: no annotation)',
        { 'ipam.spidernet.io/ippools': '[{', ...ippoolAnnotation({ ipv4: ['new-v4'] }) },
      ],
      ['names no pool at all', ippoolAnnotation({})],
      [
        'comes with a subnet annotation (pools chosen through SpiderSubnet)',
        { ...ippoolAnnotation({ ipv4: ['new-v4'] }), 'ipam.spidernet.io/subnet': '{"ipv4":["subnet-v4"]}' },
      ],
    ])('the annotation of its next pod %s', (_what, annotations) => {
      expect(release(sts, next(annotations))).toEqual(['STATIC_IP_RELEASE']);
    });

    it('the pod template names other pools but a pod of that name exists without annotation (the pod is read first)', () => {
      expect(
        release(moved(ippoolAnnotation({ ipv4: ['new-v4'] })), stsPod('web', 1, { uid: B, phase: 'Pending' })),
      ).toEqual(['STATIC_IP_RELEASE']);
    });

    it('the old incarnation, terminating, still carries the annotation naming this pool', () => {
      const old = stsPod('web', 1, {
        uid: A,
        ips: [X],
        deleting: true,
        containers: 'terminated',
        annotations: ippoolAnnotation({ ipv4: [P4] }),
      });
      expect(release(moved(ippoolAnnotation({ ipv4: ['new-v4'] })), old)).toEqual(['STATIC_IP_RELEASE']);
    });

    it('the pod template names this pool', () => {
      expect(release(moved(ippoolAnnotation({ ipv4: [P4] })))).toEqual(['STATIC_IP_RELEASE']);
    });

    it('KubeVirt: annotations do not matter (the next launcher pod reuses the endpoint IPs whatever they say)', () => {
      const ep = endpoint({
        name: 'vm1',
        podUid: A,
        type: 'VirtualMachineInstance',
        nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
      });
      const launcher = launcherPod('vm1', {
        uid: B,
        phase: 'Pending',
        annotations: ippoolAnnotation({ ipv4: ['new-v4'] }),
      });
      const vs = statusWrite({
        from: { [X]: rec(`${NS}/vm1`, A) },
        to: {},
        objects: [vmi({ name: 'vm1' }), ep, launcher],
      });
      expect(rulesOf(vs)).toEqual(['STATIC_IP_RELEASE']);
    });
  });

  it('the fresh re-read of the pod and the StatefulSet is part of the evidence', () => {
    const vs = statusWrite({
      from: record,
      to: {},
      objects: [stsEndpoint, sts, next(ippoolAnnotation({ ipv4: [P4] }))],
    });
    expect(vs[0].evidence).toEqual(
      expect.arrayContaining([
        { kind: 'pod', namespace: NS, name: 'web-1' },
        { kind: 'statefulSet', namespace: NS, name: 'web' },
      ]),
    );
  });
});

describe('STALE_UID_REWRITE (all writers)', () => {
  const sts = statefulSet({ name: 'web', replicas: 3 });
  const record = { [X]: rec(`${NS}/web-1`, A) };

  it('allows the static-IP UID refresh to the live pod uid (A4), before the pod has IPs', () => {
    const vs = statusWrite({
      from: record,
      to: { [X]: rec(`${NS}/web-1`, B) },
      objects: [sts, stsPod('web', 1, { uid: B, phase: 'Pending' })],
      user: AGENT_USER,
    });
    expect(vs).toEqual([]);
  });

  it("denies a rewrite to a uid that is not the live pod's", () => {
    for (const user of [AGENT_USER, CONTROLLER_USER]) {
      const vs = statusWrite({
        from: record,
        to: { [X]: rec(`${NS}/web-1`, D) },
        objects: [sts, stsPod('web', 1, { uid: B, phase: 'Pending' })],
        user,
      });
      expect(rulesOf(vs)).toEqual(['STALE_UID_REWRITE']);
      expect(vs[0]).toMatchObject({ ip: X, record: rec(`${NS}/web-1`, D), livePod: { uid: B } });
    }
  });

  it('denies a rewrite back to the uid of a gone incarnation (stale cache)', () => {
    const vs = statusWrite({
      from: { [X]: rec(`${NS}/web-1`, B) },
      to: record,
      objects: [sts, stsPod('web', 1, { uid: B, ips: [X] })],
      user: AGENT_USER,
    });
    expect(rulesOf(vs)).toEqual(['STALE_UID_REWRITE']);
  });

  it('denies a rewrite when no pod of that name exists', () => {
    const vs = statusWrite({ from: record, to: { [X]: rec(`${NS}/web-1`, B) }, objects: [sts], user: AGENT_USER });
    expect(rulesOf(vs)).toEqual(['STALE_UID_REWRITE']);
    expect(vs[0].livePod).toBeUndefined();
  });

  it('KubeVirt: a rewrite to the uid of a launcher pod of the VMI is allowed, another uid is not', () => {
    const objects = [vmi({ name: 'vm1' }), launcherPod('vm1', { uid: B, phase: 'Pending' })];
    expect(
      statusWrite({ from: { [X]: rec(`${NS}/vm1`, A) }, to: { [X]: rec(`${NS}/vm1`, B) }, objects, user: AGENT_USER }),
    ).toEqual([]);
    expect(
      rulesOf(
        statusWrite({
          from: { [X]: rec(`${NS}/vm1`, A) },
          to: { [X]: rec(`${NS}/vm1`, D) },
          objects,
          user: AGENT_USER,
        }),
      ),
    ).toEqual(['STALE_UID_REWRITE']);
  });
});

describe('DOUBLE_ALLOCATION (all writers)', () => {
  const newPod = pod({ name: NEW, uid: D, phase: 'Pending' });

  it('allows an ordinary allocation of a free IP', () => {
    expect(statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod], user: AGENT_USER })).toEqual(
      [],
    );
  });

  it('denies allocating an IP an alive pod observes', () => {
    const vs = statusWrite({
      from: {},
      to: { [X]: rec(`${NS}/${NEW}`, D) },
      objects: [newPod, pod({ name: API, uid: C, ips: [X] })],
      user: AGENT_USER,
    });
    expect(rulesOf(vs)).toEqual(['DOUBLE_ALLOCATION']);
    expect(vs[0]).toMatchObject({ ip: X, record: rec(`${NS}/${NEW}`, D), livePod: { name: `${NS}/${API}`, uid: C } });
  });

  it('denies allocating an IP an alive pod observes on a secondary NIC only', () => {
    const holder = pod({ name: API, uid: C, ips: ['10.244.1.7'], multus: [{ interface: 'net1', ips: [`${X}/16`] }] });
    expect(
      rulesOf(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod, holder], user: AGENT_USER }),
      ),
    ).toEqual(['DOUBLE_ALLOCATION']);
  });

  it('compares IPv6 canonically (key compressed, pod IP expanded)', () => {
    const holder = pod({ name: API, uid: C, ips: ['fd00:10:6:0:0:0:a8:65'] });
    const vs = statusWrite({
      from: {},
      to: { [X6]: rec(`${NS}/${NEW}`, D) },
      objects: [newPod, holder],
      user: AGENT_USER,
      v6: true,
    });
    expect(rulesOf(vs)).toEqual(['DOUBLE_ALLOCATION']);
  });

  it('denies allocating an IP another endpoint lists in this pool for its alive pod (pod has no IPs yet)', () => {
    const holder = pod({ name: API, uid: C, phase: 'Pending' });
    const ep = endpoint({ name: API, podUid: C, nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
    const vs = statusWrite({
      from: {},
      to: { [X]: rec(`${NS}/${NEW}`, D) },
      objects: [newPod, holder, ep],
      user: AGENT_USER,
    });
    expect(rulesOf(vs)).toEqual(['DOUBLE_ALLOCATION']);
    expect(vs[0].endpoint).toBe(`${NS}/${API}`);
  });

  describe('legitimate allocations', () => {
    it('the IP is still shown by a completed Job pod whose endpoint lingers (symptom 3)', () => {
      const job = pod({
        name: 'batch-x7k2p',
        uid: C,
        ips: [X],
        phase: 'Succeeded',
        restartPolicy: 'Never',
        owners: [owner.job('batch')],
      });
      const ep = endpoint({ name: 'batch-x7k2p', podUid: C, type: 'Job', nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod, job, ep], user: AGENT_USER }),
      ).toEqual([]);
    });
    it('the IP is shown by a terminating pod', () => {
      const dying = pod({ name: API, uid: C, ips: [X], deleting: true });
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod, dying], user: AGENT_USER }),
      ).toEqual([]);
    });
    it('another endpoint lists the IP in another pool', () => {
      const holder = pod({ name: API, uid: C, phase: 'Pending' });
      const ep = endpoint({ name: API, podUid: C, nics: [{ ipv4: `${X}/16`, ipv4Pool: 'other-pool' }] });
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod, holder, ep], user: AGENT_USER }),
      ).toEqual([]);
    });
    it("another endpoint lists the IP but its uid is not its pod's (stale endpoint)", () => {
      const holder = pod({ name: API, uid: B, phase: 'Running', ips: [Z] });
      const ep = endpoint({ name: API, podUid: C, nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod, holder, ep], user: AGENT_USER }),
      ).toEqual([]);
    });
    it("the record's own pod already shows the IP (retried cmdAdd) and its own endpoint lists it", () => {
      const self = pod({ name: NEW, uid: D, ips: [X] });
      const ep = endpoint({ name: NEW, podUid: D, nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [self, ep], user: AGENT_USER }),
      ).toEqual([]);
    });
    it('dual-stack: v4 and v6 allocations for one pod, one write per pool', () => {
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [newPod], user: AGENT_USER }),
      ).toEqual([]);
      expect(
        statusWrite({ from: {}, to: { [X6]: rec(`${NS}/${NEW}`, D) }, objects: [newPod], user: AGENT_USER, v6: true }),
      ).toEqual([]);
    });
    it('a KubeVirt allocation: the VMI\'s own launcher pod showing the IP is not "another pod"', () => {
      const objects = [vmi({ name: 'vm1' }), launcherPod('vm1', { uid: D, ips: [X] })];
      expect(statusWrite({ from: {}, to: { [X]: rec(`${NS}/vm1`, D) }, objects, user: AGENT_USER })).toEqual([]);
    });
    it('KubeVirt live migration: a record for one launcher pod while the other launcher of the same VMI shows the IP', () => {
      const src = launcherPod('vm1', { uid: D, ips: [X], suffix: 'src' });
      const dst = launcherPod('vm1', { uid: B, ips: [X], suffix: 'dst' });
      const objects = [vmi({ name: 'vm1' }), src, dst];
      expect(
        statusWrite({ from: {}, to: { [X]: rec(`${NS}/virt-launcher-vm1-dst`, B) }, objects, user: AGENT_USER }),
      ).toEqual([]);
      // twin: a launcher pod of another VMI showing the IP is another pod
      const other = launcherPod('vm2', { uid: C, ips: [X], suffix: 'zzz' });
      expect(
        rulesOf(
          statusWrite({
            from: {},
            to: { [X]: rec(`${NS}/virt-launcher-vm1-dst`, B) },
            objects: [vmi({ name: 'vm1' }), vmi({ name: 'vm2' }), dst, other],
            user: AGENT_USER,
          }),
        ),
      ).toEqual(['DOUBLE_ALLOCATION']);
    });
  });
});

describe("DOUBLE_ALLOCATION: an IP a restarting static member's endpoint lists in this pool (bench b2, guarded seed 7)", () => {
  // sts-a flapped 3 -> 1 -> 4: the GC released sts-a-1's record while the ordinal was outside the set; its endpoint
  // (kept) still lists the IP; the next incarnation is Pending without IPs. A Deployment pod's agent allocating that IP
  // by first fit would leave every cmdAdd of sts-a-1 failing with "data broken".
  const sts = (replicas: number, templateAnnotations?: Record<string, string>) =>
    statefulSet({ name: 'sts-a', replicas, templateAnnotations });
  const memberEndpoint = (poolName = P4) =>
    endpoint({ name: 'sts-a-1', podUid: A, type: 'StatefulSet', nics: [{ ipv4: `${X}/16`, ipv4Pool: poolName }] });
  const nextIncarnation = (annotations?: Record<string, string>) =>
    stsPod('sts-a', 1, { uid: B, phase: 'Pending', annotations });
  const deployPod = pod({ name: NEW, uid: D, phase: 'Pending', owners: [owner.replicaSet('new-7c8d9')] });
  const allocate = (...objects: Json[]) =>
    statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [deployPod, ...objects], user: AGENT_USER });

  it("denies the Deployment pod's allocation after the set grew back (the seed-7 sequence)", () => {
    const vs = allocate(sts(4), memberEndpoint(), nextIncarnation());
    expect(rulesOf(vs)).toEqual(['DOUBLE_ALLOCATION']);
    expect(vs[0]).toMatchObject({ ip: X, pool: P4, endpoint: `${NS}/sts-a-1`, record: rec(`${NS}/${NEW}`, D) });
    const message = violationMessage(vs[0]);
    expect(message).toContain(`IP ${X}`);
    expect(message).toContain(`pool ${P4}`);
    expect(message).toContain(`endpoint ${NS}/sts-a-1`);
    expect(message).toContain(`restarting static member ${NS}/sts-a-1`);
    // no alive pod holds the IP: nothing for heal-on-denial to restore
    expect(vs[0].livePod).toBeUndefined();
  });

  it('denies it while no pod of the member exists yet, and while the old incarnation is terminating', () => {
    expect(rulesOf(allocate(sts(4), memberEndpoint()))).toEqual(['DOUBLE_ALLOCATION']);
    const dying = stsPod('sts-a', 1, { uid: A, ips: [X], deleting: true });
    expect(rulesOf(allocate(sts(4), memberEndpoint(), dying))).toEqual(['DOUBLE_ALLOCATION']);
  });

  it("denies a KubeVirt VMI's IP while the VM lives and no launcher pod runs", () => {
    const ep = endpoint({
      name: 'vm1',
      podUid: A,
      type: 'VirtualMachineInstance',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
    });
    expect(rulesOf(allocate(vm({ name: 'vm1' }), ep))).toEqual(['DOUBLE_ALLOCATION']);
  });

  it('the pod, the StatefulSet and the endpoint of the member are the evidence re-read before denying', () => {
    const vs = allocate(sts(4), memberEndpoint(), nextIncarnation());
    expect(vs[0].evidence).toEqual(
      expect.arrayContaining([
        { kind: 'pod', namespace: NS, name: 'sts-a-1' },
        { kind: 'statefulSet', namespace: NS, name: 'sts-a' },
        { kind: 'endpoint', namespace: NS, name: 'sts-a-1' },
      ]),
    );
  });

  describe('legitimate allocations next to it', () => {
    it("the member's own next incarnation re-adds its record (agent static reuse)", () => {
      const own = statusWrite({
        from: {},
        to: { [X]: rec(`${NS}/sts-a-1`, B) },
        objects: [sts(4), memberEndpoint(), nextIncarnation()],
        user: AGENT_USER,
      });
      expect(own).toEqual([]);
    });
    it('the set is scaled down: the ordinal is outside replicas', () => {
      expect(allocate(sts(1), memberEndpoint())).toEqual([]);
    });
    it('the StatefulSet is gone', () => {
      expect(allocate(memberEndpoint())).toEqual([]);
    });
    it('the next incarnation uses another pool (v2 annotation on its pod): not restarting for this pool', () => {
      expect(allocate(sts(4), memberEndpoint(), nextIncarnation(ippoolAnnotation({ ipv4: ['new-v4'] })))).toEqual([]);
    });
    it('the next incarnation uses another pool (v2 annotation on the pod template, no pod yet)', () => {
      expect(allocate(sts(4, ippoolAnnotation({ ipv4: ['new-v4'] })), memberEndpoint())).toEqual([]);
    });
    it('the endpoint lists the IP in another pool', () => {
      expect(allocate(sts(4), memberEndpoint('other-pool'), nextIncarnation())).toEqual([]);
    });
    it('the member runs again with IPs: it is not restarting (its IPs are judged by the alive-pod clauses)', () => {
      expect(allocate(sts(4), memberEndpoint(), stsPod('sts-a', 1, { uid: B, ips: [Z] }))).toEqual([]);
    });
  });
});

describe('STALE_ALLOCATION (all writers)', () => {
  it('denies an allocation for a pod that does not exist', () => {
    const vs = statusWrite({ from: {}, to: { [X]: rec(`${NS}/${NEW}`, D) }, objects: [], user: AGENT_USER });
    expect(rulesOf(vs)).toEqual(['STALE_ALLOCATION']);
    expect(vs[0].livePod).toBeUndefined();
  });

  it("denies an allocation for a uid that is not the live pod's", () => {
    const vs = statusWrite({
      from: {},
      to: { [X]: rec(`${NS}/${NEW}`, C) },
      objects: [pod({ name: NEW, uid: D, phase: 'Pending' })],
      user: AGENT_USER,
    });
    expect(rulesOf(vs)).toEqual(['STALE_ALLOCATION']);
    expect(vs[0].livePod?.uid).toBe(D);
  });

  it('allows an allocation for the Pending pod of that uid', () => {
    expect(
      statusWrite({
        from: {},
        to: { [X]: rec(`${NS}/${NEW}`, D) },
        objects: [pod({ name: NEW, uid: D, phase: 'Pending' })],
        user: AGENT_USER,
      }),
    ).toEqual([]);
  });

  it("KubeVirt: a record named after the VMI with its launcher pod's uid is allowed; another uid is not", () => {
    const objects = [vmi({ name: 'vm1' }), launcherPod('vm1', { uid: D, phase: 'Pending' })];
    expect(statusWrite({ from: {}, to: { [X]: rec(`${NS}/vm1`, D) }, objects, user: AGENT_USER })).toEqual([]);
    expect(rulesOf(statusWrite({ from: {}, to: { [X]: rec(`${NS}/vm1`, C) }, objects, user: AGENT_USER }))).toEqual([
      'STALE_ALLOCATION',
    ]);
  });

  it('KubeVirt: a pod of another VMI does not count', () => {
    const objects = [vmi({ name: 'vm1' }), launcherPod('vm2', { uid: D, phase: 'Pending' })];
    expect(rulesOf(statusWrite({ from: {}, to: { [X]: rec(`${NS}/vm1`, D) }, objects, user: AGENT_USER }))).toEqual([
      'STALE_ALLOCATION',
    ]);
  });
});

describe('what is judged (docs/rules.md#what-is-intercepted)', () => {
  const old = v4Pool({ [X]: rec(`${NS}/${API}`, C) });
  const next = withRecords(old, {});
  const view: ClusterView = viewOf(old, pod({ name: API, uid: C, ips: [X] }));

  it('a write to the main spiderippools resource is not judged', () => {
    const r = requestOf(review({ operation: 'UPDATE', target: 'pool', oldObject: old, object: next }));
    expect(evaluate(r, view, SETTINGS)).toMatchObject({ target: undefined, violations: [] });
  });

  it('a status write by the controller is judged', () => {
    expect(evaluate(requestOf(poolStatusReview(old, next)), view, SETTINGS).violations).toHaveLength(1);
  });

  it('pod writes are not judged', () => {
    const p = pod({ name: API, uid: C, ips: [X] });
    expect(
      evaluate(requestOf(review({ operation: 'DELETE', target: 'pod', oldObject: p })), view, SETTINGS).violations,
    ).toEqual([]);
  });
});
