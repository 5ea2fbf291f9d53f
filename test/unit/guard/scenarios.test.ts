// The bug interleavings of docs/architecture.md#gc-races, replayed write by write against the guard: the harmful writes are denied,
// the IPAM's legitimate writes around them pass.
import { evaluate } from '../../../webhook/guard/evaluate';
import { RuleName } from '../../../webhook/guard/rule-names';
import {
  AGENT_USER,
  CONTROLLER_USER,
  edited,
  endpoint,
  endpointReview,
  GUARD_SETTINGS,
  Json,
  markDeleting,
  NS,
  owner,
  pod,
  poolStatusReview,
  rec,
  Records,
  requestOf,
  statefulSet,
  stsPod,
  uid,
  V4_POOL,
  v4Pool,
  viewOf,
  withoutFinalizer,
  withRecords,
} from '../../../testbed/fixtures';

const SETTINGS = GUARD_SETTINGS;
const POOL = V4_POOL;
const X = '10.6.168.101';
const Y = '10.6.168.102';

/** The cluster as the API server has it; writes are judged against it. */
class Cluster {
  constructor(
    public poolObject: Json,
    public objects: Json[],
  ) {}
  private view() {
    return viewOf(this.poolObject, ...this.objects);
  }
  /** Rules violated by a pool status write to `records`. */
  poolWrite(records: Records, user: string): RuleName[] {
    const next = withRecords(this.poolObject, records);
    return evaluate(requestOf(poolStatusReview(this.poolObject, next, user)), this.view(), SETTINGS)
      .violations.map((v) => v.rule)
      .sort();
  }
  endpointWrite(op: 'CREATE' | 'UPDATE' | 'DELETE', o: { object?: Json; oldObject?: Json }, user: string): RuleName[] {
    return [
      ...new Set(
        evaluate(requestOf(endpointReview(op, { ...o, user })), this.view(), SETTINGS).violations.map((v) => v.rule),
      ),
    ].sort();
  }
}

const stsEndpoint = (name: string, podUid: string, ip: string) =>
  endpoint({ name, podUid, type: 'StatefulSet', nics: [{ ipv4: `${ip}/16`, ipv4Pool: POOL }] });

describe('symptom 1: StatefulSet fast scale-down/up (W1/W2, #3751, G00011)', () => {
  const A = uid('web-2#A');
  const B = uid('web-2#B');

  it("variant 2a: cmdDel ran while scaled down, B got a new IP Y; the stale trace entry must not release Y nor drop B's endpoint", () => {
    // step 1: web 3→1, web-2 (A, X) terminating, ordinal invalid; its kubelet stopped the container (then cmdDel runs)
    const scaledDown = statefulSet({ name: 'web', replicas: 1 });
    const epA = stsEndpoint('web-2', A, X);
    let c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-2`, A) }), [
      scaledDown,
      stsPod('web', 2, { uid: A, ips: [X], deleting: true, containers: 'terminated' }),
      epA,
    ]);
    // step 2a: cmdDel (agent) deletes the invalid sts endpoint, then releases X — legitimate
    expect(c.endpointWrite('DELETE', { oldObject: epA }, AGENT_USER)).toEqual([]);
    expect(c.poolWrite({}, AGENT_USER)).toEqual([]);
    // the same removals by a correct GC (trace entry with uid A while A terminates, sts scaled down) also pass
    expect(c.endpointWrite('DELETE', { oldObject: epA }, CONTROLLER_USER)).toEqual([]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual([]);
    // sts 1→3; web-2 recreated as B: standard allocation of Y, endpoint created — legitimate
    const scaledUp = statefulSet({ name: 'web', replicas: 3 });
    c = new Cluster(v4Pool({}), [scaledUp, stsPod('web', 2, { uid: B, phase: 'Pending' })]);
    expect(c.poolWrite({ [Y]: rec(`${NS}/web-2`, B) }, AGENT_USER)).toEqual([]);
    const epB = stsEndpoint('web-2', B, Y);
    expect(c.endpointWrite('CREATE', { object: epB }, AGENT_USER)).toEqual([]);
    // step 3: B runs with Y; the pre-fix executor releases Y with uid B and deletes endpoint web-2 — denied
    c = new Cluster(v4Pool({ [Y]: rec(`${NS}/web-2`, B) }), [scaledUp, stsPod('web', 2, { uid: B, ips: [Y] }), epB]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['LIVE_IP_RELEASE']);
    expect(c.endpointWrite('DELETE', { oldObject: epB }, CONTROLLER_USER)).toEqual(['LIVE_ENDPOINT_DELETE']);
    // step 4: had the release passed, the next allocation of Y to another pod is itself a double allocation
    const other = pod({ name: 'api-6d9f7c-x2k8q', uid: uid('api'), phase: 'Pending' });
    c = new Cluster(v4Pool({}), [scaledUp, stsPod('web', 2, { uid: B, ips: [Y] }), epB, other]);
    expect(c.poolWrite({ [Y]: rec(`${NS}/api-6d9f7c-x2k8q`, uid('api')) }, AGENT_USER)).toEqual(['DOUBLE_ALLOCATION']);
  });

  it('variant 2b: cmdDel ran after the scale-up (valid, no-op), B reused X via uid refresh; the stale entry must not release X', () => {
    const scaledUp = statefulSet({ name: 'web', replicas: 3 });
    const epA = stsEndpoint('web-2', A, X);
    // B's cmdAdd: A4 rewrites X's uid A→B, A5 refreshes the endpoint — legitimate
    let c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-2`, A) }), [
      scaledUp,
      stsPod('web', 2, { uid: B, phase: 'Pending' }),
      epA,
    ]);
    expect(c.poolWrite({ [X]: rec(`${NS}/web-2`, B) }, AGENT_USER)).toEqual([]);
    const epB = edited(epA, (o) => (((o.status as Json).current as Json).uid = B));
    expect(c.endpointWrite('UPDATE', { oldObject: epA, object: epB }, AGENT_USER)).toEqual([]);
    // before B shows X: the release is denied (B alive with the recorded uid; and web-2 is restarting)
    c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-2`, B) }), [
      scaledUp,
      stsPod('web', 2, { uid: B, phase: 'Pending' }),
      epB,
    ]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['LIVE_IP_RELEASE', 'STATIC_IP_RELEASE']);
    // once B runs with X
    c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-2`, B) }), [scaledUp, stsPod('web', 2, { uid: B, ips: [X] }), epB]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['LIVE_IP_RELEASE']);
    expect(c.endpointWrite('DELETE', { oldObject: epB }, CONTROLLER_USER)).toEqual(['LIVE_ENDPOINT_DELETE']);
    const deleting = markDeleting(epB);
    expect(
      c.endpointWrite('UPDATE', { oldObject: deleting, object: withoutFinalizer(deleting) }, CONTROLLER_USER),
    ).toEqual(['LIVE_ENDPOINT_DELETE']);
  });
});

describe('W2: trace expiry releases while the same-name pod is starting (PR root cause 1)', () => {
  it("the redundant release of a valid member's record, before the uid refresh, is denied", () => {
    const A = uid('web-0#A');
    const B = uid('web-0#B');
    const c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-0`, A) }), [
      statefulSet({ name: 'web', replicas: 3 }),
      stsPod('web', 0, { uid: B, phase: 'Pending' }),
      stsEndpoint('web-0', A, X),
    ]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['STATIC_IP_RELEASE']);
  });

  it("for a stateless pod, releasing the starting pod's fresh record is denied", () => {
    const D = uid('job-a#D');
    const c = new Cluster(v4Pool({ [X]: rec(`${NS}/job-a`, D) }), [
      pod({ name: 'job-a', uid: D, phase: 'Pending', owners: [owner.job('job')] }),
    ]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['LIVE_IP_RELEASE']);
  });
});

describe("#2442 / #2526: scanAll releases a restarting StatefulSet pod's IP (record uid ≠ new pod uid)", () => {
  const A = uid('db-0#A');
  const B = uid('db-0#B');
  const sts = statefulSet({ name: 'db', replicas: 1 });
  const ep = stsEndpoint('db-0', A, X);

  it('denied while the new incarnation is Pending', () => {
    const c = new Cluster(v4Pool({ [X]: rec(`${NS}/db-0`, A) }), [
      sts,
      stsPod('db', 0, { uid: B, phase: 'Pending' }),
      ep,
    ]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['STATIC_IP_RELEASE']);
  });

  it('denied once the new incarnation runs with X (record not yet refreshed)', () => {
    const c = new Cluster(v4Pool({ [X]: rec(`${NS}/db-0`, A) }), [sts, stsPod('db', 0, { uid: B, ips: [X] }), ep]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual(['LIVE_IP_RELEASE']);
  });

  it('the follow-up that made the conflict — X handed to a Deployment pod while db-0 runs with it — is denied', () => {
    const dep = pod({
      name: 'api-6d9f7c-x2k8q',
      uid: uid('api'),
      phase: 'Pending',
      owners: [owner.replicaSet('api-6d9f7c')],
    });
    const c = new Cluster(v4Pool({}), [sts, stsPod('db', 0, { uid: B, ips: [X] }), ep, dep]);
    expect(c.poolWrite({ [X]: rec(`${NS}/api-6d9f7c-x2k8q`, uid('api')) }, AGENT_USER)).toEqual(['DOUBLE_ALLOCATION']);
  });

  it('… and while db-0 is still Pending, its endpoint claims X', () => {
    const dep = pod({ name: 'api-6d9f7c-x2k8q', uid: uid('api'), phase: 'Pending' });
    const epB = stsEndpoint('db-0', B, X);
    const c = new Cluster(v4Pool({}), [sts, stsPod('db', 0, { uid: B, phase: 'Pending' }), epB, dep]);
    expect(c.poolWrite({ [X]: rec(`${NS}/api-6d9f7c-x2k8q`, uid('api')) }, AGENT_USER)).toEqual(['DOUBLE_ALLOCATION']);
  });
});

describe('symptom 2: the StatefulSet stops using Spiderpool (#3817, G00010)', () => {
  it('releasing the old records and dropping the old endpoints passes', () => {
    const sts = statefulSet({ name: 'web', replicas: 2 });
    const A0 = uid('web-0#A');
    const A1 = uid('web-1#A');
    const ep0 = stsEndpoint('web-0', A0, X);
    const ep1 = stsEndpoint('web-1', A1, Y);
    const c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-0`, A0), [Y]: rec(`${NS}/web-1`, A1) }), [
      sts,
      stsPod('web', 0, { uid: uid('web-0#B'), ips: ['10.244.1.10'] }),
      stsPod('web', 1, { uid: uid('web-1#B'), ips: ['10.244.2.11'] }),
      ep0,
      ep1,
    ]);
    expect(c.poolWrite({ [Y]: rec(`${NS}/web-1`, A1) }, CONTROLLER_USER)).toEqual([]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual([]);
    expect(c.endpointWrite('DELETE', { oldObject: ep0 }, CONTROLLER_USER)).toEqual([]);
    const deleting = markDeleting(ep1);
    expect(
      c.endpointWrite('UPDATE', { oldObject: deleting, object: withoutFinalizer(deleting) }, CONTROLLER_USER),
    ).toEqual([]);
  });
});

describe('symptom 3: completed Job (#3869, W5)', () => {
  const C = uid('batch#C');
  const job = pod({
    name: 'batch-x7k2p',
    uid: C,
    ips: [X],
    phase: 'Succeeded',
    restartPolicy: 'OnFailure',
    owners: [owner.job('batch')],
  });
  const ep = endpoint({
    name: 'batch-x7k2p',
    podUid: C,
    type: 'Job',
    ownerName: 'batch',
    nics: [{ ipv4: `${X}/16`, ipv4Pool: POOL }],
  });

  it("cmdDel's release, the endpoint clean-up and the next allocation of the IP all pass", () => {
    let c = new Cluster(v4Pool({ [X]: rec(`${NS}/batch-x7k2p`, C) }), [job, ep]);
    expect(c.poolWrite({}, AGENT_USER)).toEqual([]);
    expect(c.poolWrite({}, CONTROLLER_USER)).toEqual([]);
    c = new Cluster(v4Pool({}), [job, ep]);
    expect(c.endpointWrite('DELETE', { oldObject: ep }, CONTROLLER_USER)).toEqual([]);
    const next = pod({ name: 'api-6d9f7c-x2k8q', uid: uid('api'), phase: 'Pending' });
    c = new Cluster(v4Pool({}), [job, ep, next]);
    expect(c.poolWrite({ [X]: rec(`${NS}/api-6d9f7c-x2k8q`, uid('api')) }, AGENT_USER)).toEqual([]);
  });
});

describe('W4: scanAll drops an endpoint by name from a stale cache', () => {
  it('the stored endpoint already belongs to the live incarnation: denied', () => {
    const B = uid('web-0#B');
    const stored = stsEndpoint('web-0', B, X);
    const c = new Cluster(v4Pool({ [X]: rec(`${NS}/web-0`, B) }), [
      statefulSet({ name: 'web', replicas: 1 }),
      stsPod('web', 0, { uid: B, ips: [X] }),
      stored,
    ]);
    expect(c.endpointWrite('DELETE', { oldObject: stored }, CONTROLLER_USER)).toEqual(['LIVE_ENDPOINT_DELETE']);
  });

  it('a same-name stateless pod recreated (#3699): deleting its live endpoint is denied, the truly stale one passes', () => {
    const A = uid('trainer-0#A');
    const B = uid('trainer-0#B');
    const live = pod({
      name: 'trainer-0',
      uid: B,
      ips: [Y],
      owners: [{ apiVersion: 'kubeflow.org/v1', kind: 'PyTorchJob', name: 'trainer' }],
    });
    const storedLive = endpoint({
      name: 'trainer-0',
      podUid: B,
      type: 'PyTorchJob',
      nics: [{ ipv4: `${Y}/16`, ipv4Pool: POOL }],
    });
    const storedStale = endpoint({
      name: 'trainer-0',
      podUid: A,
      type: 'PyTorchJob',
      nics: [{ ipv4: `${X}/16`, ipv4Pool: POOL }],
    });
    const c = new Cluster(v4Pool({ [Y]: rec(`${NS}/trainer-0`, B) }), [live]);
    expect(c.endpointWrite('DELETE', { oldObject: storedLive }, CONTROLLER_USER)).toEqual(['LIVE_ENDPOINT_DELETE']);
    expect(c.endpointWrite('DELETE', { oldObject: storedStale }, CONTROLLER_USER)).toEqual([]);
  });
});
