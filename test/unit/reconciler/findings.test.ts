import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { Finding, FindingName, findingKey } from '../../../webhook/reconciler/finding-types';
import { MALFORMED_LISTED, findings, hasErrors } from '../../../webhook/reconciler/findings';
import { plan } from '../../../webhook/reconciler/plan';
import { endpoint, pod, pool, statefulSet, view, vmi } from '../support/reconciler-builders';

const cfg = DEFAULT_STATIC_IP_CONFIG;
const names = (fs: Finding[]) => fs.map((f) => f.finding);
const only = <N extends FindingName>(fs: Finding[], name: N) =>
  fs.filter((f): f is Finding & { finding: N } => f.finding === name);

describe('findings: a consistent cluster', () => {
  it('reports nothing for a running pod with record, endpoint and count in agreement', () => {
    const v = view(
      pod({ name: 'api-1', uid: 'u1', ips: ['10.6.0.10'], owner: 'rs:api' }),
      pool({ name: 'p', records: { '10.6.0.10': ['demo/api-1', 'u1'] } }),
      endpoint({ name: 'api-1', uid: 'u1', ips: [['10.6.0.10', 'p']] }),
    );
    expect(findings(v, cfg)).toEqual([]);
  });

  it('reports nothing for a restarting StatefulSet member (pod absent, record and endpoint kept)', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 2 }),
      pool({ name: 'p', records: { '10.6.0.11': ['demo/web-1', 'old'] } }),
      endpoint({ name: 'web-1', uid: 'old', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
    );
    expect(findings(v, cfg)).toEqual([]);
  });

  it('reports nothing for a restarting member whose new pod has no IPs yet (record still has the old uid)', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 2 }),
      pod({ name: 'web-1', uid: 'new', phase: 'Pending', owner: 'sts:web' }),
      pool({ name: 'p', records: { '10.6.0.11': ['demo/web-1', 'old'] } }),
      endpoint({ name: 'web-1', uid: 'old', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
    );
    expect(findings(v, cfg)).toEqual([]);
  });
});

describe('IP_CONFLICT', () => {
  it('two alive pods observe the same IP (error)', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.20'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.20'] }),
    );
    const f = only(findings(v, cfg), 'IP_CONFLICT');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'error', ip: '10.6.0.20' });
    expect(f[0].pods!.map((p) => p.name)).toEqual(['demo/a', 'demo/b']);
  });

  it('an alive pod observes an IP its pool records for another alive pod', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.20'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.99'] }),
      pool({ name: 'p', records: { '10.6.0.20': ['demo/b', 'ub'], '10.6.0.99': ['demo/b', 'ub'] } }),
      endpoint({
        name: 'b',
        uid: 'ub',
        ips: [
          ['10.6.0.20', 'p'],
          ['10.6.0.99', 'p'],
        ],
      }),
    );
    const f = only(findings(v, cfg), 'IP_CONFLICT');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ ip: '10.6.0.20', pool: 'p', record: { pod: 'demo/b', podUid: 'ub' } });
    expect(f[0].pods!.map((p) => p.name).sort()).toEqual(['demo/a', 'demo/b']);
    expect(hasErrors(findings(v, cfg))).toBe(true);
  });

  it('compares IPs canonically (IPv6 spellings) and ignores dead and hostNetwork pods', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['fd00:10:6::a'] }),
      pod({ name: 'b', uid: 'ub', ips: ['FD00:10:6:0:0:0:0:A'] }),
      pod({ name: 'c', uid: 'uc', ips: ['10.6.0.30'], phase: 'Succeeded', restartPolicy: 'Never' }),
      pod({ name: 'd', uid: 'ud', ips: ['10.6.0.30'] }),
      pod({ name: 'e', uid: 'ue', ips: ['10.6.0.30'], hostNetwork: true }),
    );
    const f = only(findings(v, cfg), 'IP_CONFLICT');
    expect(f.map((x) => x.ip)).toEqual(['fd00:10:6::a']);
  });

  it('counts a multus (secondary NIC) IP as observed', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', multus: ['10.6.0.40/16'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.40'] }),
    );
    expect(names(findings(v, cfg))).toContain('IP_CONFLICT');
  });
});

describe('MISSING_RECORD', () => {
  it('alive pod observes an IP its endpoint (same uid) lists, and the pool lacks the key (error)', () => {
    const v = view(
      pod({ name: 'api-1', uid: 'u1', ips: ['10.6.0.10'] }),
      pool({ name: 'p', records: {} }),
      endpoint({ name: 'api-1', uid: 'u1', ips: [['10.6.0.10', 'p']] }),
    );
    const f = only(findings(v, cfg), 'MISSING_RECORD');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      severity: 'error',
      ip: '10.6.0.10',
      pool: 'p',
      endpoint: { name: 'demo/api-1', podUid: 'u1' },
    });
  });

  it('is not reported when the endpoint has another uid or the pod does not observe the IP', () => {
    const v = view(
      pod({ name: 'a', uid: 'u1', ips: ['10.6.0.10'] }),
      endpoint({ name: 'a', uid: 'old', ips: [['10.6.0.10', 'p']] }),
      pod({ name: 'b', uid: 'u2', phase: 'Pending' }),
      endpoint({ name: 'b', uid: 'u2', ips: [['10.6.0.11', 'p']] }),
      pool({ name: 'p', records: {} }),
    );
    expect(only(findings(v, cfg), 'MISSING_RECORD')).toEqual([]);
  });

  it('a key recorded for someone else is not MISSING_RECORD', () => {
    const v = view(
      pod({ name: 'a', uid: 'u1', ips: ['10.6.0.10'] }),
      endpoint({ name: 'a', uid: 'u1', ips: [['10.6.0.10', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.10': ['demo/gone', 'ug'] } }),
    );
    const got = names(findings(v, cfg));
    expect(got).not.toContain('MISSING_RECORD');
    expect(got).toContain('RECORD_POD_MISSING');
  });
});

describe('record findings', () => {
  it('RECORD_UID_MISMATCH: the record pod exists with another uid', () => {
    const v = view(
      pod({ name: 'api-1', uid: 'new', ips: ['10.6.0.50'] }),
      endpoint({ name: 'api-1', uid: 'new', ips: [['10.6.0.50', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.10': ['demo/api-1', 'old'], '10.6.0.50': ['demo/api-1', 'new'] } }),
    );
    const f = findings(v, cfg);
    expect(names(f)).toEqual(['RECORD_UID_MISMATCH']);
    expect(f[0]).toMatchObject({ severity: 'warn', ip: '10.6.0.10', record: { podUid: 'old' } });
  });

  it('RECORD_UID_MISMATCH: an sts that stopped using Spiderpool (new pod runs with other IPs)', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      pod({ name: 'web-0', uid: 'new', ips: ['192.168.1.5'], owner: 'sts:web' }),
      pool({ name: 'p', records: { '10.6.0.11': ['demo/web-0', 'old'] } }),
      endpoint({ name: 'web-0', uid: 'old', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
    );
    expect(names(findings(v, cfg))).toEqual(['RECORD_UID_MISMATCH']);
  });

  it('RECORD_POD_MISSING: the record pod does not exist and is not a valid static member', () => {
    const v = view(
      statefulSet({ name: 'web', replicas: 1 }),
      pool({
        name: 'p',
        records: {
          '10.6.0.12': ['demo/gone', 'u'],
          '10.6.0.13': ['demo/web-3', 'u3'],
          '10.6.0.14': ['demo/web-0', 'u0'],
        },
      }),
      endpoint({ name: 'web-0', uid: 'u0', ips: [['10.6.0.14', 'p']], type: 'StatefulSet' }),
    );
    const f = findings(v, cfg);
    expect(only(f, 'RECORD_POD_MISSING').map((x) => x.ip)).toEqual(['10.6.0.12', '10.6.0.13']);
    expect(f.filter((x) => x.ip === '10.6.0.14')).toEqual([]);
  });

  it('RECORD_ENDPOINT_MISMATCH: no endpoint, endpoint of another uid, endpoint without the IP', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.1'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.2'] }),
      endpoint({ name: 'b', uid: 'other', ips: [['10.6.0.2', 'p']] }),
      pod({ name: 'c', uid: 'uc', ips: ['10.6.0.3'] }),
      endpoint({ name: 'c', uid: 'uc', ips: [['10.6.0.33', 'p']] }),
      pool({
        name: 'p',
        records: {
          '10.6.0.1': ['demo/a', 'ua'],
          '10.6.0.2': ['demo/b', 'ub'],
          '10.6.0.3': ['demo/c', 'uc'],
          '10.6.0.33': ['demo/c', 'uc'],
        },
      }),
    );
    const f = only(findings(v, cfg), 'RECORD_ENDPOINT_MISMATCH');
    expect(f.map((x) => x.ip)).toEqual(['10.6.0.1', '10.6.0.2', '10.6.0.3']);
    expect(f.every((x) => x.severity === 'warn')).toBe(true);
  });
});

describe('restarting static member per pool (v2): a member moved to another pool', () => {
  const member = (annotations: Record<string, string>) =>
    view(
      statefulSet({ name: 'web', replicas: 2 }),
      pod({ name: 'web-1', uid: 'new', phase: 'Pending', owner: 'sts:web', annotations }),
      pool({ name: 'p', records: { '10.6.0.11': ['demo/web-1', 'old'] } }),
      endpoint({ name: 'web-1', uid: 'old', ips: [['10.6.0.11', 'p']], type: 'StatefulSet' }),
    );

  it('its old-pool record with the old uid is RECORD_UID_MISMATCH: the next incarnation will not reuse it', () => {
    const f = findings(member({ 'ipam.spidernet.io/ippool': '{"ipv4":["p2"]}' }), cfg);
    expect(names(f)).toEqual(['RECORD_UID_MISMATCH']);
    expect(f[0]).toMatchObject({ pool: 'p', ip: '10.6.0.11', record: { podUid: 'old' } });
  });

  it('nothing is reported while its pod names this pool, or names none, or the annotation is malformed', () => {
    const cases: Record<string, string>[] = [
      { 'ipam.spidernet.io/ippool': '{"ipv4":["p"]}' },
      {},
      { 'ipam.spidernet.io/ippool': '{"ipv4":' },
    ];
    for (const annotations of cases) {
      expect(findings(member(annotations), cfg)).toEqual([]);
    }
  });

  it('the reconciler still does not act on it while the new pod is Pending (the agent releases it on the ADD)', () => {
    const p = plan(member({ 'ipam.spidernet.io/ippool': '{"ipv4":["p2"]}' }), {
      staticIp: cfg,
      user: 'system:serviceaccount:kube-system:spiderpool-guard',
    });
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([]);
  });
});

describe('LEFTOVER_ENDPOINT', () => {
  it('endpoint of a completed Job pod whose IP was released (W5)', () => {
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
      pool({ name: 'p', records: {} }),
    );
    const f = findings(v, cfg);
    expect(names(f)).toEqual(['LEFTOVER_ENDPOINT']);
    expect(f[0]).toMatchObject({ severity: 'warn', endpoint: { name: 'demo/job-x', podUid: 'uj' } });
  });

  it('endpoint whose pod is gone; not reported while a pool records its IPs under its uid', () => {
    const v = view(
      endpoint({ name: 'gone', uid: 'ug', ips: [['10.6.0.61', 'p']] }),
      endpoint({ name: 'held', uid: 'uh', ips: [['10.6.0.62', 'p']] }),
      pool({ name: 'p', records: { '10.6.0.62': ['demo/held', 'uh'] } }),
    );
    const f = only(findings(v, cfg), 'LEFTOVER_ENDPOINT');
    expect(f.map((x) => x.endpoint!.name)).toEqual(['demo/gone']);
  });

  it('is not reported for an alive pod with that uid', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.63'] }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.64', 'p']] }),
      pool({ name: 'p' }),
    );
    expect(only(findings(v, cfg), 'LEFTOVER_ENDPOINT')).toEqual([]);
  });
});

describe('BLOCKING_ENDPOINT', () => {
  // Pod demo/trainer-0 deleted and recreated under its name: the earlier pod's endpoint (uid "old") is still there.
  const earlierEndpoint = (over: Partial<Parameters<typeof endpoint>[0]> = {}) =>
    endpoint({ name: 'trainer-0', uid: 'old', ips: [['10.6.0.80', 'p']], type: 'Pod', ...over });

  it("an earlier pod's endpoint while the pod now named so (another uid, Pending) observes none of its IPs: error, in place of LEFTOVER_ENDPOINT", () => {
    const v = view(pod({ name: 'trainer-0', uid: 'new', phase: 'Pending' }), earlierEndpoint(), pool({ name: 'p' }));
    const f = findings(v, cfg);
    expect(names(f)).toEqual(['BLOCKING_ENDPOINT']);
    expect(f[0]).toMatchObject({
      severity: 'error',
      ip: '10.6.0.80',
      pool: 'p',
      endpoint: { name: 'demo/trainer-0', podUid: 'old' },
      pods: [{ name: 'demo/trainer-0', uid: 'new' }],
    });
    expect(f[0].message).toMatch(/being recycled/);
    expect(hasErrors(f)).toBe(true);
  });

  it('is reported whether or not a pool still records its IPs under its uid, and whether or not it is being deleted', () => {
    const v = view(
      pod({ name: 'trainer-0', uid: 'new', phase: 'Pending' }),
      earlierEndpoint({ deleting: true }),
      pool({ name: 'p', records: { '10.6.0.80': ['demo/trainer-0', 'old'] } }),
    );
    expect(names(findings(v, cfg))).toEqual(['RECORD_UID_MISMATCH', 'BLOCKING_ENDPOINT']);
  });

  it("nearest twins: the pod is gone (LEFTOVER_ENDPOINT), has the endpoint's uid (nothing), observes one of its IPs, is not alive, or the endpoint is static", () => {
    const p = pool({ name: 'p' });
    expect(names(findings(view(earlierEndpoint(), p), cfg))).toEqual(['LEFTOVER_ENDPOINT']);
    expect(
      names(findings(view(pod({ name: 'trainer-0', uid: 'old', phase: 'Pending' }), earlierEndpoint(), p), cfg)),
    ).toEqual([]);
    expect(
      names(findings(view(pod({ name: 'trainer-0', uid: 'new', ips: ['10.6.0.80'] }), earlierEndpoint(), p), cfg)),
    ).not.toContain('BLOCKING_ENDPOINT');
    expect(
      names(
        findings(
          view(pod({ name: 'trainer-0', uid: 'new', phase: 'Pending', deleting: true }), earlierEndpoint(), p),
          cfg,
        ),
      ),
    ).toEqual(['LEFTOVER_ENDPOINT']);
    expect(
      names(
        findings(
          view(pod({ name: 'trainer-0', uid: 'new', phase: 'Failed', restartPolicy: 'Never' }), earlierEndpoint(), p),
          cfg,
        ),
      ),
    ).toEqual(['LEFTOVER_ENDPOINT']);
    const sts = view(
      statefulSet({ name: 'web', replicas: 3 }),
      pod({ name: 'web-1', uid: 'new', phase: 'Pending', owner: 'sts:web' }),
      endpoint({ name: 'web-1', uid: 'old', ips: [['10.6.0.81', 'p']], type: 'StatefulSet' }),
      p,
    );
    expect(names(findings(sts, cfg))).not.toContain('BLOCKING_ENDPOINT');
    // an OpenKruise StatefulSet's pod is not static, but its StatefulSet-typed endpoint is kept across incarnations by Spiderpool
    const kruise = view(
      pod({ name: 'web-1', uid: 'new', phase: 'Pending', owner: 'kruise:web' }),
      endpoint({ name: 'web-1', uid: 'old', ips: [['10.6.0.81', 'p']], type: 'StatefulSet' }),
      p,
    );
    expect(names(findings(kruise, cfg))).not.toContain('BLOCKING_ENDPOINT');
  });
});

describe('pool findings', () => {
  it('COUNT_MISMATCH when allocatedIPCount differs; a missing count only when records exist', () => {
    const v = view(
      pool({ name: 'wrong', records: { '10.6.0.70': ['demo/x', 'ux'] }, count: 3 }),
      pool({ name: 'unset-empty', count: null }),
      pool({ name: 'unset-full', records: { '10.6.0.71': ['demo/y', 'uy'] }, count: null }),
      pod({ name: 'x', uid: 'ux', ips: ['10.6.0.70'] }),
      pod({ name: 'y', uid: 'uy', ips: ['10.6.0.71'] }),
      endpoint({ name: 'x', uid: 'ux', ips: [['10.6.0.70', 'wrong']] }),
      endpoint({ name: 'y', uid: 'uy', ips: [['10.6.0.71', 'unset-full']] }),
    );
    const f = only(findings(v, cfg), 'COUNT_MISMATCH');
    expect(f.map((x) => x.pool)).toEqual(['unset-full', 'wrong']);
    expect(f[1]).toMatchObject({ severity: 'warn', allocatedIPCount: 3, records: 1 });
  });

  it('MALFORMED_POOL is an error; an unparseable value skips the pool’s other findings', () => {
    const v = view(
      pool({ name: 'bad', raw: '{"10.6.0.1":', count: 7 }),
      pool({ name: 'also-bad', raw: '[]', count: 2 }),
    );
    const f = findings(v, cfg);
    expect(names(f)).toEqual(['MALFORMED_POOL', 'MALFORMED_POOL']);
    expect(f.every((x) => x.severity === 'error')).toBe(true);
    expect(f[0].message).toContain('cannot be parsed');
  });

  describe('MALFORMED_POOL v2: malformed entries are listed, the well-formed ones still judged', () => {
    const raw = JSON.stringify({
      '10.6.0.2': { pod: 'demo/gone' }, // no podUid
      '10.6.0.3': { pod: 'demo/api-3', podUid: 'u3' },
      '10.6.0.4': { pod: 'demo/gone-4', podUid: 'u4' },
      '10.6.00.5': { pod: 'demo/x', podUid: 'ux' }, // not an IP
    });

    it('lists the malformed entries (key and reason) and judges the others (RECORD_POD_MISSING, COUNT_MISMATCH)', () => {
      const v = view(
        pool({ name: 'half', raw, count: 9 }),
        pod({ name: 'api-3', uid: 'u3', ips: ['10.6.0.3'] }),
        endpoint({ name: 'api-3', uid: 'u3', ips: [['10.6.0.3', 'half']] }),
      );
      const f = findings(v, cfg);
      expect(names(f)).toEqual(['RECORD_POD_MISSING', 'COUNT_MISMATCH', 'MALFORMED_POOL']);
      const m = only(f, 'MALFORMED_POOL')[0];
      expect(m).toMatchObject({ severity: 'error', pool: 'half', malformedCount: 2 });
      expect(m.malformed.map((e) => e.key)).toEqual(['10.6.0.2', '10.6.00.5']);
      expect(m.malformed.every((e) => e.reason.length > 0)).toBe(true);
      expect(m.message).toContain('2 malformed entries');
      expect(only(f, 'RECORD_POD_MISSING')[0].ip).toBe('10.6.0.4');
      // entries as Spiderpool counts them (malformed included): 4, not the 9 the status says
      expect(only(f, 'COUNT_MISMATCH')[0]).toMatchObject({ allocatedIPCount: 9, records: 4 });
    });

    it('a count equal to the number of entries (malformed included) is no COUNT_MISMATCH', () => {
      const v = view(
        pool({ name: 'half', raw, count: 4 }),
        pod({ name: 'api-3', uid: 'u3', ips: ['10.6.0.3'] }),
        endpoint({ name: 'api-3', uid: 'u3', ips: [['10.6.0.3', 'half']] }),
      );
      expect(names(findings(v, cfg))).toEqual(['RECORD_POD_MISSING', 'MALFORMED_POOL']);
    });

    it('an alive pod holding an IP whose key is absent is MISSING_RECORD; whose key holds a malformed entry is not', () => {
      const v = view(
        pool({ name: 'half', raw, count: 4 }),
        pod({ name: 'a', uid: 'ua', ips: ['10.6.0.2'] }),
        endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.2', 'half']] }),
        pod({ name: 'b', uid: 'ub', ips: ['10.6.0.7'] }),
        endpoint({ name: 'b', uid: 'ub', ips: [['10.6.0.7', 'half']] }),
      );
      const f = findings(v, cfg);
      expect(only(f, 'MISSING_RECORD').map((x) => x.ip)).toEqual(['10.6.0.7']);
    });

    it('an endpoint whose IP sits under a malformed entry is not called LEFTOVER_ENDPOINT (its record state is unknown)', () => {
      const v = view(
        pool({ name: 'half', raw, count: 4 }),
        endpoint({ name: 'gone', uid: 'ug', ips: [['10.6.0.2', 'half']] }),
        endpoint({ name: 'gone-9', uid: 'u9', ips: [['10.6.0.9', 'half']] }),
      );
      expect(only(findings(v, cfg), 'LEFTOVER_ENDPOINT').map((x) => x.endpoint!.name)).toEqual(['demo/gone-9']);
    });

    it('lists at most MALFORMED_LISTED entries and counts them all', () => {
      const many: Record<string, unknown> = {};
      for (let i = 0; i < MALFORMED_LISTED + 20; i++) many[`10.6.1.${i}`] = { pod: 'no-namespace', podUid: `u${i}` };
      const f = only(
        findings(view(pool({ name: 'many', raw: JSON.stringify(many), count: MALFORMED_LISTED + 20 })), cfg),
        'MALFORMED_POOL',
      );
      expect(f[0].malformed).toHaveLength(MALFORMED_LISTED);
      expect(f[0].malformedCount).toBe(MALFORMED_LISTED + 20);
    });
  });
});

describe('COMPLETED_POD_RECORD (v2)', () => {
  const completed = (o: Parameters<typeof pod>[0]) =>
    view(
      pod(o),
      pool({ name: 'p', records: { '10.6.0.60': [`demo/${o.name}`, o.uid] } }),
      endpoint({ name: o.name, uid: o.uid, ips: [['10.6.0.60', 'p']], type: 'Job' }),
    );

  it.each([
    ['a Succeeded Job pod (restartPolicy Never)', { phase: 'Succeeded', restartPolicy: 'Never' }],
    ['a Succeeded pod with restartPolicy OnFailure', { phase: 'Succeeded', restartPolicy: 'OnFailure' }],
    ['a Failed pod with restartPolicy Never', { phase: 'Failed', restartPolicy: 'Never' }],
    ['an evicted pod', { phase: 'Failed', reason: 'Evicted' }],
  ] as const)('reports the record of %s (warn), with the pod', (_what, state) => {
    const f = findings(completed({ name: 'job-x', uid: 'uj', ips: ['10.6.0.60'], owner: 'job:job', ...state }), cfg);
    expect(names(f)).toEqual(['COMPLETED_POD_RECORD']);
    expect(f[0]).toMatchObject({
      severity: 'warn',
      pool: 'p',
      ip: '10.6.0.60',
      record: { pod: 'demo/job-x', podUid: 'uj' },
      pods: [{ name: 'demo/job-x', uid: 'uj' }],
    });
    expect(hasErrors(f)).toBe(false);
  });

  it.each([
    ['Running', { phase: 'Running' }],
    [
      'Succeeded with restartPolicy Always (kubelet restarts it: alive)',
      { phase: 'Succeeded', restartPolicy: 'Always' },
    ],
    ['Failed with restartPolicy OnFailure (alive)', { phase: 'Failed', restartPolicy: 'OnFailure' }],
    ['only terminating (deleting, not terminal)', { phase: 'Running', deleting: true }],
  ] as const)('is not reported for a pod that is %s', (_what, state) => {
    const f = findings(completed({ name: 'job-x', uid: 'uj', ips: ['10.6.0.60'], owner: 'job:job', ...state }), cfg);
    expect(only(f, 'COMPLETED_POD_RECORD')).toEqual([]);
  });

  it('is not reported when the completed pod has another uid than the record (that is RECORD_UID_MISMATCH)', () => {
    const v = view(
      pod({ name: 'job-x', uid: 'new', phase: 'Succeeded', restartPolicy: 'Never', owner: 'job:job' }),
      pool({ name: 'p', records: { '10.6.0.60': ['demo/job-x', 'old'] } }),
    );
    expect(names(findings(v, cfg))).toEqual(['RECORD_UID_MISMATCH']);
  });

  it('keeps the other findings of the record (its endpoint is gone: RECORD_ENDPOINT_MISMATCH too)', () => {
    const v = view(
      pod({ name: 'job-x', uid: 'uj', phase: 'Succeeded', restartPolicy: 'Never', owner: 'job:job' }),
      pool({ name: 'p', records: { '10.6.0.60': ['demo/job-x', 'uj'] } }),
    );
    expect(names(findings(v, cfg))).toEqual(['RECORD_ENDPOINT_MISMATCH', 'COMPLETED_POD_RECORD']);
  });

  it('is what the reconciler releases as RELEASE_IP COMPLETED_POD (non-static pods)', () => {
    const v = completed({
      name: 'job-x',
      uid: 'uj',
      ips: ['10.6.0.60'],
      owner: 'job:job',
      phase: 'Succeeded',
      restartPolicy: 'Never',
    });
    const p = plan(v, { staticIp: cfg, user: 'system:serviceaccount:kube-system:spiderpool-guard' });
    expect(p.actions.filter((a) => a.action === 'RELEASE_IP').map((a) => `${a.reason} ${a.ip}`)).toEqual([
      'COMPLETED_POD 10.6.0.60',
    ]);
  });
});

describe('KubeVirt', () => {
  it('record and endpoint named after the VMI are matched to the launcher pod', () => {
    const v = view(
      vmi({ name: 'vm1' }),
      pod({ name: 'virt-launcher-vm1-abcde', uid: 'ul', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pool({ name: 'p', records: { '10.6.0.80': ['demo/vm1', 'ul'] } }),
      endpoint({ name: 'vm1', uid: 'ul', ips: [['10.6.0.80', 'p']], type: 'VirtualMachineInstance' }),
    );
    expect(findings(v, cfg)).toEqual([]);
  });
});

describe('findingKey', () => {
  it('is stable across views and distinguishes uids', () => {
    const mk = (uid: string) =>
      findings(
        view(
          pod({ name: 'a', uid, ips: ['10.6.0.10'] }),
          pool({ name: 'p' }),
          endpoint({ name: 'a', uid, ips: [['10.6.0.10', 'p']] }),
        ),
        cfg,
      );
    expect(findingKey(mk('u1')[0])).toBe(findingKey(mk('u1')[0]));
    expect(findingKey(mk('u1')[0])).not.toBe(findingKey(mk('u2')[0]));
  });
});
