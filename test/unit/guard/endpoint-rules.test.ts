// The SpiderEndpoint rules (docs/rules.md#spiderendpoint-rules): LIVE_ENDPOINT_DELETE, ENDPOINT_UID_REWRITE, ENDPOINT_IP_CONFLICT.
import { evaluate, GuardSettings } from '../../../webhook/guard/evaluate';
import { UserMatcher } from '../../../webhook/guard/users';
import { Violation } from '../../../webhook/guard/rule-names';
import {
  AGENT_USER,
  CONTROLLER_USER,
  edited,
  endpoint,
  endpointReview,
  GC_USER,
  GUARD_SETTINGS,
  ippoolAnnotation,
  ippoolsAnnotation,
  Json,
  launcherPod,
  markDeleting,
  NS,
  owner,
  pod,
  pool,
  rec,
  requestOf,
  statefulSet,
  stsPod,
  uid,
  V4_POOL,
  viewOf,
  vmi,
  withoutFinalizer,
} from '../../../testbed/fixtures';

const SETTINGS = GUARD_SETTINGS;
const P4 = V4_POOL;
const P6 = 'v6-pool';
const X = '10.6.168.101';
const Y = '10.6.168.102';
const X6 = 'fd00:10:6::a8:65';
const A = uid('web-1#A');
const B = uid('web-1#B');
const C = uid('api#C');
const D = uid('new#D');
const API = 'api-6d9f7c-x2k8q';
const NEW = 'new-7c8d9-n4m2z';

type Op = 'CREATE' | 'UPDATE' | 'DELETE';

function judge(op: Op, o: { object?: Json; oldObject?: Json; objects: Json[]; user?: string }): Violation[] {
  const r = requestOf(
    endpointReview(op, { object: o.object, oldObject: o.oldObject, user: o.user ?? CONTROLLER_USER }),
  );
  return evaluate(r, viewOf(...o.objects), SETTINGS).violations;
}
const rulesOf = (vs: Violation[]) => vs.map((v) => v.rule).sort();

const apiEndpoint = (podUid: string, ips = [X]) =>
  endpoint({ name: API, podUid, nics: ips.map((ip) => ({ ipv4: `${ip}/16`, ipv4Pool: P4 })) });
const webEndpoint = (podUid: string) =>
  endpoint({
    name: 'web-1',
    podUid,
    type: 'StatefulSet',
    nics: [{ ipv4: `${X}/16`, ipv4Pool: P4, ipv6: `${X6}/64`, ipv6Pool: P6 }],
  });

describe('LIVE_ENDPOINT_DELETE (guarded writers)', () => {
  it("denies deleting the endpoint of an alive pod with the endpoint's uid (W4: delete by name from a stale cache)", () => {
    const ep = apiEndpoint(C);
    const vs = judge('DELETE', { oldObject: ep, objects: [ep, pod({ name: API, uid: C, ips: [X] })] });
    expect(rulesOf(vs)).toEqual(['LIVE_ENDPOINT_DELETE']);
    expect(vs[0]).toMatchObject({ ip: X, pool: P4, endpoint: `${NS}/${API}`, livePod: { uid: C } });
  });

  it('one violation per listed IP (dual-stack)', () => {
    const ep = webEndpoint(B);
    const vs = judge('DELETE', {
      oldObject: ep,
      objects: [ep, statefulSet({ name: 'web', replicas: 3 }), stsPod('web', 1, { uid: B, ips: [X, X6] })],
    });
    expect(vs.map((v) => `${v.rule} ${v.pool} ${v.ip}`).sort()).toEqual([
      `LIVE_ENDPOINT_DELETE ${P4} ${X}`,
      `LIVE_ENDPOINT_DELETE ${P6} ${X6}`,
    ]);
  });

  it("denies the finalizer-removing UPDATE of a deleting endpoint (judged on oldObject's uid)", () => {
    const deleting = markDeleting(apiEndpoint(C));
    const vs = judge('UPDATE', {
      oldObject: deleting,
      object: withoutFinalizer(deleting),
      objects: [deleting, pod({ name: API, uid: C, ips: [X] })],
    });
    expect(rulesOf(vs)).toEqual(['LIVE_ENDPOINT_DELETE']);
  });

  it('denies stripping the finalizer from an endpoint that is not being deleted, alive pod with its uid (v3: W7)', () => {
    const ep = apiEndpoint(C);
    const vs = judge('UPDATE', {
      oldObject: ep,
      object: withoutFinalizer(ep),
      objects: [ep, pod({ name: API, uid: C, ips: [X] })],
    });
    expect(rulesOf(vs)).toEqual(['LIVE_ENDPOINT_DELETE']);
    expect(vs[0]).toMatchObject({ ip: X, pool: P4, endpoint: `${NS}/${API}`, livePod: { uid: C } });
  });

  it("judges a finalizer strip on oldObject's uid: a strip that also rewrites current.uid away from the live pod is still denied", () => {
    const ep = apiEndpoint(C);
    const next = edited(withoutFinalizer(ep), (o) => (((o.status as Json).current as Json).uid = A));
    const vs = judge('UPDATE', { oldObject: ep, object: next, objects: [ep, pod({ name: API, uid: C, ips: [X] })] });
    expect(rulesOf(vs)).toEqual(['ENDPOINT_UID_REWRITE', 'LIVE_ENDPOINT_DELETE']);
  });

  it('denies stripping the finalizer from the StatefulSet endpoint of a restarting member, not being deleted', () => {
    const ep = webEndpoint(A);
    const vs = judge('UPDATE', {
      oldObject: ep,
      object: withoutFinalizer(ep),
      objects: [ep, statefulSet({ name: 'web', replicas: 3 })],
    });
    expect(rulesOf(vs)).toEqual(['LIVE_ENDPOINT_DELETE', 'LIVE_ENDPOINT_DELETE']);
  });

  it('denies deleting the StatefulSet endpoint of a restarting member (pod absent)', () => {
    const ep = webEndpoint(A);
    const vs = judge('DELETE', { oldObject: ep, objects: [ep, statefulSet({ name: 'web', replicas: 3 })] });
    expect(rulesOf(vs)).toEqual(['LIVE_ENDPOINT_DELETE', 'LIVE_ENDPOINT_DELETE']);
  });

  it('denies deleting the StatefulSet endpoint while the next incarnation is Pending', () => {
    const ep = webEndpoint(A);
    const vs = judge('DELETE', {
      oldObject: ep,
      objects: [ep, statefulSet({ name: 'web', replicas: 3 }), stsPod('web', 1, { uid: B, phase: 'Pending' })],
    });
    expect(new Set(rulesOf(vs))).toEqual(new Set(['LIVE_ENDPOINT_DELETE']));
  });

  it('denies deleting a KubeVirt endpoint (named after the VMI) of a running launcher pod with its uid', () => {
    const ep = endpoint({
      name: 'vm1',
      podUid: A,
      type: 'VirtualMachineInstance',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
    });
    const vs = judge('DELETE', {
      oldObject: ep,
      objects: [ep, vmi({ name: 'vm1' }), launcherPod('vm1', { uid: A, ips: [X] })],
    });
    expect(rulesOf(vs)).toEqual(['LIVE_ENDPOINT_DELETE']);
  });

  it('denies deleting a KubeVirt endpoint while its VMI is restarting', () => {
    const ep = endpoint({
      name: 'vm1',
      podUid: A,
      type: 'VirtualMachineInstance',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
    });
    expect(rulesOf(judge('DELETE', { oldObject: ep, objects: [ep, vmi({ name: 'vm1' })] }))).toEqual([
      'LIVE_ENDPOINT_DELETE',
    ]);
  });

  describe('legitimate removals', () => {
    it('the same delete by a writer that is not guarded (k8s garbage collector, agent)', () => {
      const ep = apiEndpoint(C);
      for (const user of [GC_USER, AGENT_USER]) {
        expect(judge('DELETE', { oldObject: ep, objects: [ep, pod({ name: API, uid: C, ips: [X] })], user })).toEqual(
          [],
        );
      }
    });
    it("the endpoint's uid is an old incarnation's (the pod of that name has another uid)", () => {
      const ep = apiEndpoint(A);
      expect(judge('DELETE', { oldObject: ep, objects: [ep, pod({ name: API, uid: C, ips: [Y] })] })).toEqual([]);
    });
    it('the pod is terminating (cmdDel removes the finalizer)', () => {
      const deleting = markDeleting(apiEndpoint(C));
      const objects = [deleting, pod({ name: API, uid: C, ips: [X], deleting: true })];
      expect(judge('UPDATE', { oldObject: deleting, object: withoutFinalizer(deleting), objects })).toEqual([]);
      expect(
        judge('UPDATE', { oldObject: deleting, object: withoutFinalizer(deleting), objects, user: AGENT_USER }),
      ).toEqual([]);
    });
    it('the endpoint of a completed Job pod (symptom 3)', () => {
      const ep = endpoint({ name: 'batch-x7k2p', podUid: C, type: 'Job', nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
      const job = pod({
        name: 'batch-x7k2p',
        uid: C,
        ips: [X],
        phase: 'Succeeded',
        restartPolicy: 'Never',
        owners: [owner.job('batch')],
      });
      expect(judge('DELETE', { oldObject: ep, objects: [ep, job] })).toEqual([]);
    });
    it("a scaled-down StatefulSet's endpoint", () => {
      const ep = webEndpoint(A);
      expect(judge('DELETE', { oldObject: ep, objects: [ep, statefulSet({ name: 'web', replicas: 1 })] })).toEqual([]);
    });
    it('the endpoint of a StatefulSet that left the IPAM (pod runs with a new uid and other IPs)', () => {
      const ep = webEndpoint(A);
      const objects = [
        ep,
        statefulSet({ name: 'web', replicas: 3 }),
        stsPod('web', 1, { uid: B, ips: ['10.244.2.9'] }),
      ];
      expect(judge('DELETE', { oldObject: ep, objects })).toEqual([]);
      const deleting = markDeleting(ep);
      expect(judge('UPDATE', { oldObject: deleting, object: withoutFinalizer(deleting), objects })).toEqual([]);
    });
    it('a stateless endpoint whose name matches a StatefulSet member is only judged by its uid', () => {
      const ep = endpoint({ name: 'web-1', podUid: A, type: 'Deployment', nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
      expect(judge('DELETE', { oldObject: ep, objects: [ep, statefulSet({ name: 'web', replicas: 3 })] })).toEqual([]);
    });
    it('stripping the finalizer from an endpoint that is not being deleted, when its pod is gone or has another uid', () => {
      const ep = apiEndpoint(A);
      expect(judge('UPDATE', { oldObject: ep, object: withoutFinalizer(ep), objects: [ep] })).toEqual([]);
      expect(
        judge('UPDATE', {
          oldObject: ep,
          object: withoutFinalizer(ep),
          objects: [ep, pod({ name: API, uid: C, phase: 'Pending' })],
        }),
      ).toEqual([]);
      expect(
        judge('UPDATE', {
          oldObject: ep,
          object: withoutFinalizer(ep),
          objects: [ep, pod({ name: API, uid: C, ips: [Y] })],
        }),
      ).toEqual([]);
    });
    it('an UPDATE of an endpoint that is not being deleted and keeps the finalizer is no removal', () => {
      const ep = apiEndpoint(C);
      const next = edited(ep, (o) => ((o.status as Json).ownerControllerName = 'api2'));
      expect(
        judge('UPDATE', { oldObject: ep, object: next, objects: [ep, pod({ name: API, uid: C, ips: [X] })] }),
      ).toEqual([]);
    });
    it('an UPDATE of a deleting endpoint that keeps the finalizer is no removal', () => {
      const deleting = markDeleting(apiEndpoint(C));
      const next = edited(deleting, (o) => ((o.status as Json).ownerControllerName = 'api2'));
      expect(
        judge('UPDATE', {
          oldObject: deleting,
          object: next,
          objects: [deleting, pod({ name: API, uid: C, ips: [X] })],
        }),
      ).toEqual([]);
    });
  });
});

describe('LIVE_ENDPOINT_DELETE v2: a member restarts only for the pools its next incarnation will use (docs/rules.md#restarting)', () => {
  // Both Spiderpool identities guarded, as when --guarded-users names the agent too: the agent deletes the old
  // endpoint of a StatefulSet member moved to another pool (releaseStsOutdatedIPIfNeed) on the new pod's ADD.
  const BOTH: GuardSettings = { ...SETTINGS, guardedUsers: new UserMatcher([CONTROLLER_USER, AGENT_USER]) };
  const sts = statefulSet({ name: 'web', replicas: 3 });
  const v4Endpoint = endpoint({
    name: 'web-1',
    podUid: A,
    type: 'StatefulSet',
    nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
  });
  const next = (annotations: Record<string, string>) => stsPod('web', 1, { uid: B, phase: 'Pending', annotations });
  const asAgent = (op: Op, o: { object?: Json; oldObject?: Json; objects: Json[] }) =>
    evaluate(
      requestOf(endpointReview(op, { object: o.object, oldObject: o.oldObject, user: AGENT_USER })),
      viewOf(...o.objects),
      BOTH,
    ).violations;

  it('allows the agent to delete the old endpoint when the new pod names another pool, and to drop its finalizer', () => {
    const objects = [v4Endpoint, sts, next(ippoolAnnotation({ ipv4: ['new-v4'] }))];
    expect(asAgent('DELETE', { oldObject: v4Endpoint, objects })).toEqual([]);
    const deleting = markDeleting(v4Endpoint);
    expect(
      asAgent('UPDATE', {
        oldObject: deleting,
        object: withoutFinalizer(deleting),
        objects: [deleting, ...objects.slice(1)],
      }),
    ).toEqual([]);
  });

  it('allows it when no pod exists and the StatefulSet template names other pools (ippools)', () => {
    const moved = statefulSet({
      name: 'web',
      replicas: 3,
      templateAnnotations: ippoolsAnnotation([{ interface: 'eth0', ipv4: ['new-v4'] }]),
    });
    expect(asAgent('DELETE', { oldObject: v4Endpoint, objects: [v4Endpoint, moved] })).toEqual([]);
  });

  it('denies it when the new pod keeps this pool, has no annotation, or a malformed one', () => {
    for (const annotations of [ippoolAnnotation({ ipv4: [P4] }), {}, { 'ipam.spidernet.io/ippool': 'not json' }]) {
      const vs = asAgent('DELETE', { oldObject: v4Endpoint, objects: [v4Endpoint, sts, next(annotations)] });
      expect(vs.map((v) => `${v.rule} ${v.pool} ${v.ip}`)).toEqual([`LIVE_ENDPOINT_DELETE ${P4} ${X}`]);
    }
  });

  it('dual-stack moved only in IPv4: the IPv6 IP the next incarnation reuses is still protected, alone', () => {
    const ep = webEndpoint(A);
    const vs = asAgent('DELETE', {
      oldObject: ep,
      objects: [ep, sts, next(ippoolAnnotation({ ipv4: ['new-v4'], ipv6: [P6] }))],
    });
    expect(vs.map((v) => `${v.rule} ${v.pool} ${v.ip}`)).toEqual([`LIVE_ENDPOINT_DELETE ${P6} ${X6}`]);
    expect(
      asAgent('DELETE', {
        oldObject: ep,
        objects: [ep, sts, next(ippoolAnnotation({ ipv4: ['new-v4'], ipv6: ['new-v6'] }))],
      }),
    ).toEqual([]);
  });

  it('the alive-pod branch is unchanged: the endpoint of the running pod with its uid stays protected whatever the annotation', () => {
    const running = stsPod('web', 1, { uid: A, ips: [X], annotations: ippoolAnnotation({ ipv4: ['new-v4'] }) });
    expect(rulesOf(asAgent('DELETE', { oldObject: v4Endpoint, objects: [v4Endpoint, sts, running] }))).toEqual([
      'LIVE_ENDPOINT_DELETE',
    ]);
  });

  it('KubeVirt: the annotation does not release a restarting VMI endpoint', () => {
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
    expect(rulesOf(asAgent('DELETE', { oldObject: ep, objects: [ep, vmi({ name: 'vm1' }), launcher] }))).toEqual([
      'LIVE_ENDPOINT_DELETE',
    ]);
  });
});

describe('ENDPOINT_UID_REWRITE (all writers)', () => {
  const sts = statefulSet({ name: 'web', replicas: 3 });
  const setUid = (o: Json, podUid: string) => edited(o, (n) => (((n.status as Json).current as Json).uid = podUid));

  it('allows the static-IP endpoint refresh to the live pod uid (A5)', () => {
    const old = webEndpoint(A);
    expect(
      judge('UPDATE', {
        oldObject: old,
        object: setUid(old, B),
        objects: [old, sts, stsPod('web', 1, { uid: B, phase: 'Pending' })],
        user: AGENT_USER,
      }),
    ).toEqual([]);
  });

  it("denies setting a uid that is not the live pod's, for any writer", () => {
    const old = webEndpoint(A);
    for (const user of [AGENT_USER, CONTROLLER_USER]) {
      const vs = judge('UPDATE', {
        oldObject: old,
        object: setUid(old, D),
        objects: [old, sts, stsPod('web', 1, { uid: B, phase: 'Pending' })],
        user,
      });
      expect(new Set(rulesOf(vs))).toEqual(new Set(['ENDPOINT_UID_REWRITE']));
      expect(vs[0].livePod?.uid).toBe(B);
    }
  });

  it('denies setting a uid when no pod of that name exists', () => {
    const old = webEndpoint(A);
    expect(
      new Set(
        rulesOf(judge('UPDATE', { oldObject: old, object: setUid(old, B), objects: [old, sts], user: AGENT_USER })),
      ),
    ).toEqual(new Set(['ENDPOINT_UID_REWRITE']));
  });

  it('an UPDATE that keeps the uid (multi-NIC append, A3) is not a rewrite', () => {
    const old = apiEndpoint(C);
    const next = apiEndpoint(C, [X, Y]);
    expect(
      judge('UPDATE', {
        oldObject: old,
        object: next,
        objects: [old, pod({ name: API, uid: C, phase: 'Pending' })],
        user: AGENT_USER,
      }),
    ).toEqual([]);
  });

  it('KubeVirt: the uid of a launcher pod of the VMI is the live uid', () => {
    const old = endpoint({
      name: 'vm1',
      podUid: A,
      type: 'VirtualMachineInstance',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }],
    });
    const objects = [old, vmi({ name: 'vm1' }), launcherPod('vm1', { uid: B, phase: 'Pending' })];
    expect(judge('UPDATE', { oldObject: old, object: setUid(old, B), objects, user: AGENT_USER })).toEqual([]);
    expect(rulesOf(judge('UPDATE', { oldObject: old, object: setUid(old, D), objects, user: AGENT_USER }))).toEqual([
      'ENDPOINT_UID_REWRITE',
    ]);
  });
});

describe('ENDPOINT_IP_CONFLICT (all writers)', () => {
  const p4 = pool({
    name: P4,
    subnet: '10.6.0.0/16',
    records: { [X]: rec(`${NS}/${API}`, C), [Y]: rec(`${NS}/${NEW}`, D) },
  });
  const newEndpoint = (ips: string[], podUid = D) =>
    endpoint({
      name: NEW,
      podUid,
      nics: ips.map((ip, i) => ({ interface: `net${i}`, ipv4: `${ip}/16`, ipv4Pool: P4 })),
    });

  it('allows creating an endpoint whose IPs its pool records for its own pod', () => {
    expect(
      judge('CREATE', {
        object: newEndpoint([Y]),
        objects: [p4, pod({ name: NEW, uid: D, phase: 'Pending' })],
        user: AGENT_USER,
      }),
    ).toEqual([]);
  });

  it('denies creating an endpoint listing an IP its pool records for another alive pod with the recorded uid', () => {
    const vs = judge('CREATE', {
      object: newEndpoint([Y, X]),
      objects: [p4, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D, phase: 'Pending' })],
      user: AGENT_USER,
    });
    expect(rulesOf(vs)).toEqual(['ENDPOINT_IP_CONFLICT']);
    expect(vs[0]).toMatchObject({
      ip: X,
      pool: P4,
      endpoint: `${NS}/${NEW}`,
      record: rec(`${NS}/${API}`, C),
      livePod: { uid: C },
    });
  });

  it('denies an UPDATE that adds such an IP (multi-NIC append)', () => {
    const old = newEndpoint([Y]);
    const vs = judge('UPDATE', {
      oldObject: old,
      object: newEndpoint([Y, X]),
      objects: [p4, old, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D })],
    });
    expect(rulesOf(vs)).toEqual(['ENDPOINT_IP_CONFLICT']);
  });

  it('an UPDATE only judges the (pool, IP) pairs it adds', () => {
    const old = newEndpoint([X]);
    const next = edited(old, (o) => (((o.status as Json).current as Json).node = 'worker-2'));
    expect(
      judge('UPDATE', {
        oldObject: old,
        object: next,
        objects: [p4, old, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D })],
      }),
    ).toEqual([]);
  });

  it.each([
    ['the recorded pod is completed', pod({ name: API, uid: C, ips: [X], phase: 'Succeeded', restartPolicy: 'Never' })],
    ['the recorded pod is terminating', pod({ name: API, uid: C, ips: [X], deleting: true })],
    ['the pod of the recorded name has another uid', pod({ name: API, uid: B, ips: ['10.6.168.109'] })],
    ['the recorded pod is gone', undefined],
  ])('allows listing an IP recorded for another pod when %s', (_what, holder) => {
    const objects = [p4, pod({ name: NEW, uid: D, phase: 'Pending' }), ...(holder ? [holder] : [])];
    expect(judge('CREATE', { object: newEndpoint([X]), objects, user: AGENT_USER })).toEqual([]);
  });

  it('KubeVirt live migration: an endpoint of one launcher pod listing an IP recorded for the other launcher of its VMI', () => {
    const rv = pool({ name: P4, subnet: '10.6.0.0/16', records: { [X]: rec(`${NS}/virt-launcher-vm1-src`, C) } });
    const src = launcherPod('vm1', { uid: C, ips: [X], suffix: 'src' });
    const dst = launcherPod('vm1', { uid: D, ips: [X], suffix: 'dst' });
    const ep = endpoint({ name: 'virt-launcher-vm1-dst', podUid: D, nics: [{ ipv4: `${X}/16`, ipv4Pool: P4 }] });
    expect(judge('CREATE', { object: ep, objects: [rv, vmi({ name: 'vm1' }), src, dst], user: AGENT_USER })).toEqual(
      [],
    );
    // twin: the record's pod is a launcher of another VMI
    const other = launcherPod('vm2', { uid: C, ips: [X], suffix: 'src' });
    const rv2 = pool({ name: P4, subnet: '10.6.0.0/16', records: { [X]: rec(`${NS}/virt-launcher-vm2-src`, C) } });
    expect(
      rulesOf(
        judge('CREATE', {
          object: ep,
          objects: [rv2, vmi({ name: 'vm1' }), vmi({ name: 'vm2' }), other, dst],
          user: AGENT_USER,
        }),
      ),
    ).toEqual(['ENDPOINT_IP_CONFLICT']);
  });

  it('allows listing an IP that is recorded in another pool only', () => {
    const other = endpoint({ name: NEW, podUid: D, nics: [{ ipv4: `${X}/16`, ipv4Pool: 'other-pool' }] });
    expect(
      judge('CREATE', {
        object: other,
        objects: [p4, pod({ name: API, uid: C, ips: [X] }), pod({ name: NEW, uid: D })],
        user: AGENT_USER,
      }),
    ).toEqual([]);
  });
});
