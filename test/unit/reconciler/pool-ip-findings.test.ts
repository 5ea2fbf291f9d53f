// UNRECORDED_LIVE_IP (and its RESTORE_RECORD), DUPLICATE_INTERFACE_IP, RESERVED_IP_IN_USE, and KubeVirt live
// migration in IP_CONFLICT (docs/rules.md, Findings; Reconciler actions). Each with the nearest twin that must not fire.
import * as fx from '../../../testbed/fixtures';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { Finding, FindingName } from '../../../webhook/reconciler/finding-types';
import { findings } from '../../../webhook/reconciler/findings';
import { plan } from '../../../webhook/reconciler/plan';
import { endpoint, pod, pool, view, vmi } from '../support/reconciler-builders';

const cfg = DEFAULT_STATIC_IP_CONFIG;
const USER = 'system:serviceaccount:kube-system:spiderpool-guard';
const only = <N extends FindingName>(fs: Finding[], name: N) =>
  fs.filter((f): f is Finding & { finding: N } => f.finding === name);
const names = (fs: Finding[]) => fs.map((f) => f.finding);
const restores = (v: ReturnType<typeof view>) =>
  plan(v, { staticIp: cfg, user: USER })
    .actions.filter((a) => a.action === 'RESTORE_RECORD')
    .map((a) => `${a.reason} ${a.pool} ${a.ip} ${a.record?.pod} ${a.record?.podUid}`);

describe('UNRECORDED_LIVE_IP', () => {
  it('an alive pod observes an IP of a pool that no pool records, no endpoint anywhere: error, restored as Spiderpool names it', () => {
    const v = view(pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'] }), pool({ name: 'p' }));
    const f = only(findings(v, cfg), 'UNRECORDED_LIVE_IP');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'error', ip: '10.6.0.30', pool: 'p' });
    expect(f[0].pods.map((p) => `${p.name} ${p.uid}`)).toEqual(['demo/a ua']);
    expect(f[0].pools).toBeUndefined();
    expect(restores(v)).toEqual(['UNRECORDED_LIVE_IP p 10.6.0.30 demo/a ua']);
  });

  it('twin: the IP is outside the pool IPs (in the subnet, not in spec.ips, or excluded): nothing', () => {
    const excluded = fx.pool({
      name: 'x',
      subnet: '10.7.0.0/16',
      ips: ['10.7.0.1-10.7.0.50'],
      excludeIPs: ['10.7.0.30'],
    });
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.251'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.7.0.30'] }),
      pool({ name: 'p' }),
      excluded,
    );
    expect(findings(v, cfg)).toEqual([]);
    expect(restores(v)).toEqual([]);
  });

  it('twin: another pool records the IP (even outside its pool IPs): nothing unrecorded', () => {
    const other = fx.pool({
      name: 'q',
      subnet: '10.6.0.0/16',
      ips: ['10.6.1.1-10.6.1.9'],
      records: { '10.6.0.30': fx.rec('demo/a', 'ua') },
    });
    const v = view(pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'] }), pool({ name: 'p' }), other);
    expect(names(findings(v, cfg))).not.toContain('UNRECORDED_LIVE_IP');
  });

  it('twin: the pod has its endpoint listing the IP: MISSING_RECORD alone, restored once, for that reason', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'] }),
      pool({ name: 'p' }),
      endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.30', 'p']] }),
    );
    expect(names(findings(v, cfg))).toEqual(['MISSING_RECORD']);
    expect(restores(v)).toEqual(['MISSING_RECORD p 10.6.0.30 demo/a ua']);
  });

  it('twin: not alive, or hostNetwork: nothing', () => {
    const v = view(
      pod({ name: 'gone', uid: 'ug', ips: ['10.6.0.31'], deleting: true }),
      pod({ name: 'done', uid: 'ud', ips: ['10.6.0.32'], phase: 'Succeeded', restartPolicy: 'Never' }),
      fx.pod({ name: 'host', uid: 'uh', podIP: '10.6.0.33', hostNetwork: true }),
      pool({ name: 'p' }),
    );
    expect(names(findings(v, cfg))).toEqual([]);
  });

  it('two alive pods observe it: reported with both (and IP_CONFLICT), never restored', () => {
    const v = view(
      pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'] }),
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.30'] }),
      pool({ name: 'p' }),
    );
    const fs = findings(v, cfg);
    expect(names(fs).sort()).toEqual(['IP_CONFLICT', 'UNRECORDED_LIVE_IP']);
    expect(only(fs, 'UNRECORDED_LIVE_IP')[0].pods.map((p) => p.name)).toEqual(['demo/a', 'demo/b']);
    expect(restores(v)).toEqual([]);
  });

  it('a Pending pod (its allocation under way) is reported but not acted on', () => {
    const v = view(pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'], phase: 'Pending' }), pool({ name: 'p' }));
    expect(names(findings(v, cfg))).toEqual(['UNRECORDED_LIVE_IP']);
    expect(restores(v)).toEqual([]);
  });

  it('an IP two pools hold (overlap): reported with both pools, not restored', () => {
    const q = fx.pool({ name: 'q', subnet: '10.6.0.0/16', ips: ['10.6.0.25-10.6.0.35'] });
    const v = view(pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'] }), pool({ name: 'p' }), q);
    const f = only(findings(v, cfg), 'UNRECORDED_LIVE_IP');
    expect(f[0]).toMatchObject({ pool: 'p', pools: ['p', 'q'] });
    expect(restores(v)).toEqual([]);
  });

  it('a pool whose allocatedIPs cannot be parsed may record it: nothing reported, nothing written', () => {
    const v = view(pod({ name: 'a', uid: 'ua', ips: ['10.6.0.30'] }), pool({ name: 'p', raw: '{not json' }));
    expect(names(findings(v, cfg))).toEqual(['MALFORMED_POOL']);
    expect(restores(v)).toEqual([]);
  });

  it('a KubeVirt launcher pod: the record is named after its VMI, with the launcher uid', () => {
    const v = view(
      vmi({ name: 'vm1' }),
      pod({ name: 'virt-launcher-vm1-abcde', uid: 'ul', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pool({ name: 'p' }),
    );
    expect(names(findings(v, cfg))).toEqual(['UNRECORDED_LIVE_IP']);
    expect(restores(v)).toEqual(['UNRECORDED_LIVE_IP p 10.6.0.80 demo/vm1 ul']);
  });

  it('two launcher pods of one VMI mid-migration: one pod (no IP_CONFLICT), restored only after the migration', () => {
    const v = view(
      vmi({ name: 'vm1' }),
      pod({ name: 'virt-launcher-vm1-src', uid: 'us', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pod({ name: 'virt-launcher-vm1-dst', uid: 'ud', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pool({ name: 'p' }),
    );
    const fs = findings(v, cfg);
    expect(names(fs)).toEqual(['UNRECORDED_LIVE_IP']);
    expect(only(fs, 'UNRECORDED_LIVE_IP')[0].pods).toHaveLength(2);
    expect(restores(v)).toEqual([]);
  });
});

describe('KubeVirt live migration in IP_CONFLICT', () => {
  it('source and target launcher of one VMI on its recorded IP: no finding', () => {
    const v = view(
      vmi({ name: 'vm1' }),
      pod({ name: 'virt-launcher-vm1-src', uid: 'us', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pod({ name: 'virt-launcher-vm1-dst', uid: 'ud', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pool({ name: 'p', records: { '10.6.0.80': ['demo/vm1', 'us'] } }),
      endpoint({ name: 'vm1', uid: 'us', ips: [['10.6.0.80', 'p']], type: 'VirtualMachineInstance' }),
    );
    expect(findings(v, cfg)).toEqual([]);
  });

  it('twin: launcher pods of two different VMIs on one IP are a conflict', () => {
    const v = view(
      vmi({ name: 'vm1' }),
      vmi({ name: 'vm2' }),
      pod({ name: 'virt-launcher-vm1-a', uid: 'u1', ips: ['10.6.0.80'], owner: 'vmi:vm1' }),
      pod({ name: 'virt-launcher-vm2-b', uid: 'u2', ips: ['10.6.0.80'], owner: 'vmi:vm2' }),
      pool({ name: 'p', records: { '10.6.0.80': ['demo/vm1', 'u1'] } }),
      endpoint({ name: 'vm1', uid: 'u1', ips: [['10.6.0.80', 'p']], type: 'VirtualMachineInstance' }),
    );
    expect(names(findings(v, cfg))).toContain('IP_CONFLICT');
  });
});

describe('DUPLICATE_INTERFACE_IP', () => {
  const twoNics = (ip1: string, ip2: string, o: Partial<fx.PodOptions> = {}) =>
    fx.pod({
      name: 'mn',
      uid: 'um',
      ips: ['10.6.0.40'],
      multus: [
        { interface: 'eth0', ips: ['10.6.0.40/16'] },
        { interface: 'net1', ips: [`${ip1}/16`] },
        { interface: 'net2', ips: [`${ip2}/16`] },
      ],
      ...o,
    });
  const recorded = pool({
    name: 'p',
    records: { '10.6.0.40': ['demo/mn', 'um'], '10.6.0.41': ['demo/mn', 'um'], '10.6.0.42': ['demo/mn', 'um'] },
  });

  it('one alive pod lists one IP on two interfaces: warn, naming both', () => {
    const f = only(findings(view(twoNics('10.6.0.41', '10.6.0.41'), recorded), cfg), 'DUPLICATE_INTERFACE_IP');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'warn', ip: '10.6.0.41', pool: 'p', interfaces: ['net1', 'net2'] });
    expect(f[0].pods.map((p) => p.name)).toEqual(['demo/mn']);
  });

  it('twin: different IPs per interface, and the primary IP in both status.podIPs and network-status: nothing', () => {
    expect(names(findings(view(twoNics('10.6.0.41', '10.6.0.42'), recorded), cfg))).not.toContain(
      'DUPLICATE_INTERFACE_IP',
    );
  });

  it('twin: both multus annotations listing the same interfaces: nothing', () => {
    const p = twoNics('10.6.0.41', '10.6.0.42');
    const annotations = (p.metadata as Record<string, Record<string, string>>).annotations;
    annotations[fx.NETWORKS_STATUS] = annotations[fx.NETWORK_STATUS];
    expect(names(findings(view(p, recorded), cfg))).not.toContain('DUPLICATE_INTERFACE_IP');
  });

  it('twin: a pod that is not alive: nothing', () => {
    expect(names(findings(view(twoNics('10.6.0.41', '10.6.0.41', { deleting: true }), recorded), cfg))).not.toContain(
      'DUPLICATE_INTERFACE_IP',
    );
  });
});

describe('RESERVED_IP_IN_USE', () => {
  const rec = pool({ name: 'p', records: { '10.6.0.50': ['demo/a', 'ua'] } });
  const running = pod({ name: 'a', uid: 'ua', ips: ['10.6.0.50'] });
  const ep = endpoint({ name: 'a', uid: 'ua', ips: [['10.6.0.50', 'p']] });

  it('a SpiderReservedIP lists an IP a pool records and a pod uses: warn, with both', () => {
    const f = only(
      findings(view(running, rec, ep, fx.reservedIP({ name: 'keep', ips: ['10.6.0.48-10.6.0.52'] })), cfg),
      'RESERVED_IP_IN_USE',
    );
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      severity: 'warn',
      ip: '10.6.0.50',
      reservedIP: 'keep',
      pool: 'p',
      record: { pod: 'demo/a', podUid: 'ua' },
    });
    expect(f[0].pods?.map((p) => p.name)).toEqual(['demo/a']);
  });

  it('an alive pod observes a reserved IP no pool records: reported (beside UNRECORDED_LIVE_IP)', () => {
    const v = view(
      pod({ name: 'b', uid: 'ub', ips: ['10.6.0.60'] }),
      pool({ name: 'p' }),
      fx.reservedIP({ name: 'keep', ips: ['10.6.0.60'] }),
    );
    expect(names(findings(v, cfg)).sort()).toEqual(['RESERVED_IP_IN_USE', 'UNRECORDED_LIVE_IP']);
  });

  it('twin: reserved IPs nobody uses, and a reserved IP only a deleting pod observes: nothing', () => {
    const v = view(
      running,
      rec,
      ep,
      pod({ name: 'old', uid: 'uo', ips: ['10.6.0.61'], deleting: true }),
      fx.reservedIP({ name: 'keep', ips: ['10.6.0.51-10.6.0.70'] }),
    );
    expect(names(findings(v, cfg))).toEqual([]);
  });

  it('a reserved range too large to walk (an IPv4 /16, an IPv6 /64) is matched against records and pod IPs instead', () => {
    const v6 = fx.pool({
      name: 'p6',
      subnet: 'fd00::/64',
      ips: ['fd00::1-fd00::ff'],
      records: { 'fd00::7': fx.rec('demo/c', 'uc') },
    });
    const v = view(
      running,
      rec,
      ep,
      v6,
      pod({ name: 'c', uid: 'uc', ips: ['fd00::7'] }),
      endpoint({ name: 'c', uid: 'uc', ips: [['fd00::7', 'p6']] }),
      fx.reservedIP({ name: 'wide4', ips: ['10.6.0.0-10.6.255.255'] }),
      fx.reservedIP({ name: 'wide6', ips: ['fd00::-fd00::ffff:ffff:ffff:ffff'] }),
    );
    expect(
      only(findings(v, cfg), 'RESERVED_IP_IN_USE')
        .map((f) => `${f.reservedIP} ${f.ip}`)
        .sort(),
    ).toEqual(['wide4 10.6.0.50', 'wide6 fd00::7']);
  });
});
