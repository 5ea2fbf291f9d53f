import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { Action, actionKey } from '../../../webhook/reconciler/actions';
import { plan } from '../../../webhook/reconciler/plan';
import { reconcilerUser } from '../../../webhook/reconciler/selfcheck';
import { endpoint, pod, pool, statefulSet, view, vmi } from '../support/reconciler-builders';

const opts = { staticIp: DEFAULT_STATIC_IP_CONFIG, user: reconcilerUser('kube-system') };
type V = ReturnType<typeof view>;
const planOf = (v: V) => plan(v, opts);
const summary = (actions: Action[]) =>
  actions.map((a) => `${a.action}/${a.reason} ${a.ip ?? a.endpoint?.name ?? a.pool}`);

describe('plan: COMPLETED_POD', () => {
  it('releases the record and deletes the endpoint of a completed Job pod', () => {
    const v = view(
      pod({
        name: 'job-x',
        uid: 'uj',
        phase: 'Succeeded',
        restartPolicy: 'Never',
        ips: ['10.6.0.60'],
        owner: 'job:job',
      }),
      endpoint({ name: 'job-x', uid: 'uj', ips: [['10.6.0.60', 'p']], type: 'Job' }),
      pool({ name: 'p', records: { '10.6.0.60': ['demo/job-x', 'uj'] } }),
    );
    const p = planOf(v);
    expect(summary(p.actions)).toEqual([
      'RELEASE_IP/COMPLETED_POD 10.6.0.60',
      'DELETE_ENDPOINT/COMPLETED_POD demo/job-x',
    ]);
    expect(p.actions[0].record).toEqual({ pod: 'demo/job-x', podUid: 'uj' });
    expect(p.blocked).toEqual([]);
  });

  it('deletes the endpoint left after the release (the seed Job case) without a remaining record', () => {
    const v = view(
      pod({
        name: 'job-x',
        uid: 'uj',
        phase: 'Succeeded',
        restartPolicy: 'Never',
        ips: ['10.6.0.60'],
        owner: 'job:job',
      }),
      endpoint({ name: 'job-x', uid: 'uj', ips: [['10.6.0.60', 'p']], type: 'Job', finalizers: [] }),
      pool({ name: 'p' }),
    );
    expect(summary(planOf(v).actions)).toEqual(['DELETE_ENDPOINT/COMPLETED_POD demo/job-x']);
  });

  it('covers evicted pods; leaves Succeeded pods with restartPolicy Always (alive) and Failed/OnFailure pods alone', () => {
    const v = view(
      pod({ name: 'ev', uid: 'ue', phase: 'Failed', reason: 'Evicted', owner: 'rs:x' }),
      pod({ name: 'al', uid: 'ua', phase: 'Succeeded', restartPolicy: 'Always' }),
      pod({ name: 'of', uid: 'uo', phase: 'Failed', restartPolicy: 'OnFailure' }),
      pool({
        name: 'p',
        records: { '10.6.0.1': ['demo/ev', 'ue'], '10.6.0.2': ['demo/al', 'ua'], '10.6.0.3': ['demo/of', 'uo'] },
      }),
    );
    expect(summary(planOf(v).actions)).toEqual(['RELEASE_IP/COMPLETED_POD 10.6.0.1']);
  });

  it('never acts on a terminating pod (deleting, not yet terminal)', () => {
    const v = view(
      pod({ name: 't', uid: 'ut', phase: 'Running', deleting: true, ips: [] }),
      endpoint({ name: 't', uid: 'ut', ips: [['10.6.0.5', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.5': ['demo/t', 'ut'] } }),
    );
    expect(planOf(v).actions).toEqual([]);
  });

  it('acts on a completed pod that is also being deleted', () => {
    const v = view(
      pod({ name: 'j', uid: 'uj', phase: 'Succeeded', restartPolicy: 'Never', deleting: true }),
      pool({ name: 'p', records: { '10.6.0.5': ['demo/j', 'uj'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual(['RELEASE_IP/COMPLETED_POD 10.6.0.5']);
  });
});

describe('plan: POD_GONE / INVALID_STATIC_MEMBER', () => {
  it('POD_GONE for a record and an endpoint of a non-static pod that does not exist', () => {
    const v = view(
      endpoint({ name: 'api-1', uid: 'u1', ips: [['10.6.0.9', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.9': ['demo/api-1', 'u1'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual(['RELEASE_IP/POD_GONE 10.6.0.9', 'DELETE_ENDPOINT/POD_GONE demo/api-1']);
  });

  it('INVALID_STATIC_MEMBER wins when the endpoint is static-typed or a StatefulSet owns the name (scaled down)', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      endpoint({ name: 'web-2', uid: 'u2', ips: [['10.6.0.12', 'p']], type: 'StatefulSet' }),
      endpoint({ name: 'vm9', uid: 'u9', ips: [['10.6.0.19', 'p']], type: 'VirtualMachineInstance' }),
      pool({
        name: 'p',
        records: {
          '10.6.0.12': ['demo/web-2', 'u2'],
          '10.6.0.19': ['demo/vm9', 'u9'],
          '10.6.0.13': ['demo/web-3', 'u3'],
        },
      }),
    );
    expect(summary(planOf(v).actions)).toEqual([
      'RELEASE_IP/INVALID_STATIC_MEMBER 10.6.0.12',
      'RELEASE_IP/INVALID_STATIC_MEMBER 10.6.0.13',
      'RELEASE_IP/INVALID_STATIC_MEMBER 10.6.0.19',
      'DELETE_ENDPOINT/INVALID_STATIC_MEMBER demo/vm9',
      'DELETE_ENDPOINT/INVALID_STATIC_MEMBER demo/web-2',
    ]);
  });

  it('INVALID_STATIC_MEMBER when the owner StatefulSet is deleted (endpoint type says StatefulSet)', () => {
    const v = view(
      endpoint({ name: 'db-0', uid: 'u0', ips: [['10.6.0.14', 'p']], type: 'StatefulSet' }),
      pool({ name: 'p', records: { '10.6.0.14': ['demo/db-0', 'u0'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual([
      'RELEASE_IP/INVALID_STATIC_MEMBER 10.6.0.14',
      'DELETE_ENDPOINT/INVALID_STATIC_MEMBER demo/db-0',
    ]);
  });

  it('INVALID_STATIC_MEMBER for a scaled-down member whose pod failed (not alive)', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      pod({ name: 'web-1', uid: 'u1', phase: 'Failed', reason: 'Evicted', owner: 'sts:web' }),
      endpoint({ name: 'web-1', uid: 'u1', ips: [['10.6.0.15', 'p']], type: 'StatefulSet' }),
      pool({ name: 'p', records: { '10.6.0.15': ['demo/web-1', 'u1'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual([
      'RELEASE_IP/INVALID_STATIC_MEMBER 10.6.0.15',
      'DELETE_ENDPOINT/INVALID_STATIC_MEMBER demo/web-1',
    ]);
  });

  it('KubeVirt: VMI gone and no VM → invalid; VMI alive → kept', () => {
    const v = view(
      vmi({ name: 'alive' }),
      endpoint({ name: 'alive', uid: 'ua', ips: [['10.6.0.30', 'p']], type: 'VirtualMachineInstance' }),
      endpoint({ name: 'dead', uid: 'ud', ips: [['10.6.0.31', 'p']], type: 'VirtualMachineInstance' }),
      pool({ name: 'p', records: { '10.6.0.30': ['demo/alive', 'ua'], '10.6.0.31': ['demo/dead', 'ud'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual([
      'RELEASE_IP/INVALID_STATIC_MEMBER 10.6.0.31',
      'DELETE_ENDPOINT/INVALID_STATIC_MEMBER demo/dead',
    ]);
  });
});

describe('plan: STATIC_LEFT_IPAM', () => {
  it('releases the old record and deletes the old endpoint of an sts that stopped using Spiderpool', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      pod({ name: 'web-0', uid: 'new', ips: ['192.168.1.5'], owner: 'sts:web' }),
      pool({ name: 'p', records: { '10.6.0.11': ['demo/web-0', 'old'] } }),
      endpoint({ name: 'web-0', uid: 'old', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
    );
    expect(summary(planOf(v).actions)).toEqual([
      'RELEASE_IP/STATIC_LEFT_IPAM 10.6.0.11',
      'DELETE_ENDPOINT/STATIC_LEFT_IPAM demo/web-0',
    ]);
  });

  it('keeps the endpoint when its uid is the pod’s, and when the pod observes one of its IPs', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 2 }),
      pod({ name: 'web-0', uid: 'u0', ips: ['192.168.1.5'], owner: 'sts:web' }),
      endpoint({ name: 'web-0', uid: 'u0', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
      pod({ name: 'web-1', uid: 'new1', ips: ['10.6.0.12'], owner: 'sts:web' }),
      endpoint({
        name: 'web-1',
        uid: 'old1',
        ips: [
          ['10.6.0.12', 'p'],
          ['10.6.0.13', 'p'],
        ],
        type: 'StatefulSet',
      }),
      pool({ name: 'p', records: { '10.6.0.12': ['demo/web-1', 'new1'] } }),
    );
    expect(planOf(v).actions.filter((a) => a.action === 'DELETE_ENDPOINT')).toEqual([]);
  });

  it('never touches a restarting static member (new pod without IPs, or being deleted)', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 3 }),
      pod({ name: 'web-0', uid: 'new0', phase: 'Pending', owner: 'sts:web' }),
      pod({ name: 'web-1', uid: 'new1', phase: 'Running', owner: 'sts:web' }),
      pod({ name: 'web-2', uid: 'u2', phase: 'Running', deleting: true, ips: ['10.6.0.22'], owner: 'sts:web' }),
      endpoint({ name: 'web-0', uid: 'old0', ips: [['10.6.0.20', 'p']], type: 'StatefulSet' }),
      endpoint({ name: 'web-1', uid: 'old1', ips: [['10.6.0.21', 'p']], type: 'StatefulSet' }),
      endpoint({ name: 'web-2', uid: 'u2', ips: [['10.6.0.22', 'p']], type: 'StatefulSet' }),
      pool({
        name: 'p',
        records: {
          '10.6.0.20': ['demo/web-0', 'old0'],
          '10.6.0.21': ['demo/web-1', 'old1'],
          '10.6.0.22': ['demo/web-2', 'u2'],
        },
      }),
    );
    const p = planOf(v);
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([]);
  });
});

describe('plan: UID_MISMATCH', () => {
  it('releases a non-static record whose name now has another uid that does not observe the IP', () => {
    const v = view(
      pod({ name: 'api-1', uid: 'new', ips: ['10.6.0.50'] }),
      endpoint({ name: 'api-1', uid: 'new', ips: [['10.6.0.50', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.10': ['demo/api-1', 'old'], '10.6.0.50': ['demo/api-1', 'new'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual(['RELEASE_IP/UID_MISMATCH 10.6.0.10']);
  });

  it('does not release when the new pod observes the IP', () => {
    const v = view(
      pod({ name: 'a', uid: 'new', ips: ['10.6.0.10'] }),
      pool({ name: 'p', records: { '10.6.0.10': ['demo/a', 'old'] } }),
    );
    expect(planOf(v).actions.filter((a) => a.action === 'RELEASE_IP')).toEqual([]);
  });

  it("releases the record of an earlier pod while the pod now named so is Pending (not the Pending pod's own)", () => {
    const v = view(
      pod({ name: 'b', uid: 'newb', phase: 'Pending' }),
      pool({ name: 'p', records: { '10.6.0.11': ['demo/b', 'oldb'] } }),
    );
    expect(summary(planOf(v).actions)).toEqual(['RELEASE_IP/UID_MISMATCH 10.6.0.11']);
  });
});

describe('plan: BLOCKING_ENDPOINT → RELEASE_IP + DELETE_ENDPOINT UID_MISMATCH', () => {
  // trainer-0 was deleted and recreated under its name: the earlier pod's endpoint (uid "old") and record stay, and
  // Spiderpool before v1.0.4 refuses the Pending successor's allocation while that endpoint exists.
  const blocked = (successor: Parameters<typeof pod>[0], ep: Partial<Parameters<typeof endpoint>[0]> = {}) =>
    view(
      pod(successor),
      endpoint({ name: 'trainer-0', uid: 'old', ips: [['10.6.0.30', 'p']], type: 'Pod', ...ep }),
      pool({ name: 'p', records: { '10.6.0.30': ['demo/trainer-0', 'old'] } }),
    );

  it("releases the earlier pod's record first, then deletes its endpoint, in one pass; the guard allows both", () => {
    const p = planOf(blocked({ name: 'trainer-0', uid: 'new', phase: 'Pending' }));
    expect(p.findings.map((f) => f.finding)).toEqual(['RECORD_UID_MISMATCH', 'BLOCKING_ENDPOINT']);
    expect(summary(p.actions)).toEqual([
      'RELEASE_IP/UID_MISMATCH 10.6.0.30',
      'DELETE_ENDPOINT/UID_MISMATCH demo/trainer-0',
    ]);
    expect(p.actions[1]).toMatchObject({ endpoint: { podUid: 'old' }, pods: [{ name: 'demo/trainer-0', uid: 'new' }] });
    expect(p.blocked).toEqual([]);
  });

  it("deletes an endpoint already being deleted (Kubernetes' garbage collector, held by the finalizer) once nothing is recorded", () => {
    const v = view(
      pod({ name: 'trainer-0', uid: 'new', phase: 'Pending' }),
      endpoint({ name: 'trainer-0', uid: 'old', ips: [['10.6.0.30', 'p']], type: 'Pod', deleting: true }),
      pool({ name: 'p' }),
    );
    expect(summary(planOf(v).actions)).toEqual(['DELETE_ENDPOINT/UID_MISMATCH demo/trainer-0']);
  });

  it('also for a successor that runs without any of its IPs (another IPAM, hostNetwork)', () => {
    expect(summary(planOf(blocked({ name: 'trainer-0', uid: 'new', ips: ['192.168.7.20'] })).actions)).toEqual([
      'RELEASE_IP/UID_MISMATCH 10.6.0.30',
      'DELETE_ENDPOINT/UID_MISMATCH demo/trainer-0',
    ]);
  });

  describe('twins left alone', () => {
    it("the endpoint whose current.uid is the live pod's, Pending or Running, with or without IPs", () => {
      for (const live of [{ phase: 'Pending' as const }, { phase: 'Running' as const }, { ips: ['10.6.0.30'] }]) {
        const p = planOf(blocked({ name: 'trainer-0', uid: 'old', ...live }));
        expect(p.findings.map((f) => f.finding)).not.toContain('BLOCKING_ENDPOINT');
        expect(p.actions).toEqual([]);
      }
    });

    it("a static endpoint (StatefulSet member restarting; KubeVirt), whatever the pod's uid", () => {
      const sts = view(
        statefulSet({ name: 'web', replicas: 3 }),
        pod({ name: 'web-1', uid: 'new', phase: 'Pending', owner: 'sts:web' }),
        endpoint({ name: 'web-1', uid: 'old', ips: [['10.6.0.31', 'p']], type: 'StatefulSet' }),
        pool({ name: 'p', records: { '10.6.0.31': ['demo/web-1', 'old'] } }),
      );
      expect(planOf(sts).findings.map((f) => f.finding)).not.toContain('BLOCKING_ENDPOINT');
      expect(planOf(sts).actions).toEqual([]);
      const kv = view(
        vmi({ name: 'vm1' }),
        pod({ name: 'virt-launcher-vm1-x', uid: 'new', phase: 'Pending', owner: 'vmi:vm1' }),
        endpoint({ name: 'vm1', uid: 'old', ips: [['10.6.0.32', 'p']], type: 'VirtualMachineInstance' }),
        pool({ name: 'p', records: { '10.6.0.32': ['demo/vm1', 'old'] } }),
      );
      expect(planOf(kv).findings.map((f) => f.finding)).not.toContain('BLOCKING_ENDPOINT');
      expect(planOf(kv).actions).toEqual([]);
    });

    it("a successor that observes one of the endpoint's IPs (not blocked: something else is going on)", () => {
      const p = planOf(blocked({ name: 'trainer-0', uid: 'new', ips: ['10.6.0.30'] }));
      expect(p.findings.map((f) => f.finding)).not.toContain('BLOCKING_ENDPOINT');
      expect(p.actions.filter((a) => a.action === 'DELETE_ENDPOINT')).toEqual([]);
    });

    it("a successor that is terminating (cmdDel and Spiderpool's GC own it) or completed (never allocates again)", () => {
      const terminating = planOf(blocked({ name: 'trainer-0', uid: 'new', phase: 'Running', deleting: true }));
      expect(terminating.findings.map((f) => f.finding)).not.toContain('BLOCKING_ENDPOINT');
      expect(terminating.actions).toEqual([]);
      const done = planOf(blocked({ name: 'trainer-0', uid: 'new', phase: 'Succeeded', restartPolicy: 'Never' }));
      expect(done.findings.map((f) => f.finding)).not.toContain('BLOCKING_ENDPOINT');
      expect(done.actions.filter((a) => a.action === 'DELETE_ENDPOINT')).toEqual([]);
    });

    it("the Pending pod's own endpoint and record (its uid) while an IP it lists is unobserved", () => {
      const v = view(
        pod({ name: 'trainer-0', uid: 'new', phase: 'Pending' }),
        endpoint({ name: 'trainer-0', uid: 'new', ips: [['10.6.0.33', 'p']], type: 'Pod' }),
        pool({ name: 'p', records: { '10.6.0.33': ['demo/trainer-0', 'new'] } }),
      );
      expect(planOf(v).actions).toEqual([]);
    });
  });
});

describe('plan: never acted on', () => {
  it('an IP observed on an alive pod is never released (conflict reported, not acted on)', () => {
    const v = view(
      pod({ name: 'other', uid: 'uo', ips: ['10.6.0.9'] }),
      endpoint({ name: 'other', uid: 'uo', ips: [['10.6.0.9', 'q']] }),
      pool({ name: 'p', records: { '10.6.0.9': ['demo/gone', 'ug'] } }),
      pool({ name: 'q', records: { '10.6.0.9': ['demo/other', 'uo'] } }),
    );
    expect(planOf(v).actions.filter((a) => a.action === 'RELEASE_IP')).toEqual([]);
  });

  it('an IP conflict between two alive pods yields no action', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.20'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.20'] }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.20', 'p']] }),
      endpoint({ name: 'b', uid: 'ub', ips: [['10.6.0.20', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.20': ['demo/b', 'ub'] } }),
    );
    const p = planOf(v);
    expect(p.findings.map((f) => f.finding)).toContain('IP_CONFLICT');
    expect(p.actions).toEqual([]);
  });

  it('alive pods’ records and endpoints are never acted on, even when the pod has no IPs yet', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', phase: 'Running' }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.21', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.21': ['demo/a', 'ua'] } }),
    );
    expect(planOf(v).actions).toEqual([]);
  });

  it('a pending pod is never acted on: its own record and endpoint (with its uid) stay', () => {
    const v = view(
      pod({ name: 'j', uid: 'new', phase: 'Pending' }),
      endpoint({ name: 'j', uid: 'new', ips: [['10.6.0.23', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.23': ['demo/j', 'new'] } }),
    );
    expect(planOf(v).actions).toEqual([]);
  });
});

describe('plan: RESTORE_RECORD', () => {
  it('restores the missing record of an alive pod', () => {
    const v = view(
      pod({ name: 'web-0', uid: 'u0', ips: ['10.6.0.10'], owner: 'sts:web' }),
      statefulSet({ name: 'web', replicas: 1 }),
      endpoint({ name: 'web-0', uid: 'u0', ips: [['10.6.0.10', 'p']], type: 'StatefulSet' }),
      pool({ name: 'p', records: {} }),
    );
    const p = planOf(v);
    expect(summary(p.actions)).toEqual(['RESTORE_RECORD/MISSING_RECORD 10.6.0.10']);
    expect(p.actions[0].record).toEqual({ pod: 'demo/web-0', podUid: 'u0' });
  });

  it('does not restore when another alive pod observes the IP', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.10'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.10'] }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.10', 'p']] }),
      pool({ name: 'p', records: {} }),
    );
    expect(planOf(v).actions).toEqual([]);
  });

  it('restores a KubeVirt record under the VMI name', () => {
    const v = view(
      vmi({ name: 'vm1' }),
      pod({ name: 'virt-launcher-vm1-x', uid: 'ul', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      endpoint({ name: 'vm1', uid: 'ul', ips: [['10.6.0.80', 'p']], type: 'VirtualMachineInstance' }),
      pool({ name: 'p' }),
    );
    expect(planOf(v).actions.map((a) => a.record)).toEqual([{ pod: 'demo/vm1', podUid: 'ul' }]);
  });
});

describe('plan: FIX_COUNT', () => {
  it('fixes the count of a pool the pass does not otherwise write', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.1'] }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.1', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.1': ['demo/a', 'ua'] }, count: 5 }),
    );
    const p = planOf(v);
    expect(summary(p.actions)).toEqual(['FIX_COUNT/COUNT_MISMATCH p']);
    expect(p.actions[0]).toMatchObject({ allocatedIPCount: 5, records: 1 });
  });

  it('is skipped for a pool the pass already writes (computed on the state before the writes)', () => {
    const v = view(pool({ name: 'p', records: { '10.6.0.1': ['demo/gone', 'ug'] }, count: 5 }));
    expect(summary(planOf(v).actions)).toEqual(['RELEASE_IP/POD_GONE 10.6.0.1']);
  });

  it('never plans writes to a malformed pool', () => {
    const v = view(pool({ name: 'bad', raw: '{"10.6.0.1":{"pod":"demo/gone","podUid":"u"},"nope":1}', count: 5 }));
    expect(planOf(v).actions).toEqual([]);
  });
});

describe('plan: self-check and identity', () => {
  it('every planned write passes the guard as a guarded writer', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      pod({ name: 'web-0', uid: 'new', ips: ['192.168.1.5'], owner: 'sts:web' }),
      endpoint({ name: 'web-0', uid: 'old', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
      pod({ name: 'job-x', uid: 'uj', phase: 'Succeeded', restartPolicy: 'Never', owner: 'job:j' }),
      endpoint({ name: 'job-x', uid: 'uj', ips: [['10.6.0.60', 'p']], type: 'Job' }),
      pool({
        name: 'p',
        records: {
          '10.6.0.11': ['demo/web-0', 'old'],
          '10.6.0.60': ['demo/job-x', 'uj'],
          '10.6.0.70': ['demo/gone', 'g'],
        },
        count: 1,
      }),
    );
    const p = planOf(v);
    expect(p.blocked).toEqual([]);
    expect(p.actions).toHaveLength(5);
  });

  it("the seed-7 state (a restarting member's endpoint lists a released IP): nothing planned for that IP, nothing blocked", () => {
    const v = view(
      statefulSet({ name: 'sts-a', replicas: 4 }),
      pod({ name: 'sts-a-1', uid: 'u1b', phase: 'Pending', owner: 'sts:sts-a' }),
      endpoint({ name: 'sts-a-1', uid: 'u1a', ips: [['10.6.0.5', 'p']], type: 'StatefulSet' }),
      pod({ name: 'api-x', uid: 'ux', phase: 'Pending', owner: 'rs:api' }),
      pool({ name: 'p', records: {}, count: 0 }),
    );
    const p = planOf(v);
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([]);
  });

  it("a RESTORE_RECORD of an IP a restarting member's endpoint also lists is held back by DOUBLE_ALLOCATION, never written", () => {
    const v = view(
      pod({ name: 'api-x', uid: 'ux', ips: ['10.6.0.5'], owner: 'rs:api' }),
      endpoint({ name: 'api-x', uid: 'ux', ips: [['10.6.0.5', 'p']] }),
      statefulSet({ name: 'sts-a', replicas: 4 }),
      endpoint({ name: 'sts-a-1', uid: 'u1a', ips: [['10.6.0.5', 'p']], type: 'StatefulSet' }),
      pool({ name: 'p', records: {}, count: 0 }),
    );
    const p = planOf(v);
    expect(p.actions).toEqual([]);
    expect(p.blocked.map((b) => `${b.action.action} ${b.action.ip}`)).toEqual(['RESTORE_RECORD 10.6.0.5']);
    expect(p.blocked[0].violations).toEqual([
      expect.stringMatching(/^DOUBLE_ALLOCATION: .*restarting static member demo\/sts-a-1/),
    ]);
  });

  it('action keys change with the uid they are about', () => {
    const mk = (uid: string) =>
      planOf(view(pool({ name: 'p', records: { '10.6.0.1': ['demo/gone', uid] } }))).actions[0];
    expect(actionKey(mk('a'))).toBe(actionKey(mk('a')));
    expect(actionKey(mk('a'))).not.toBe(actionKey(mk('b')));
  });
});
