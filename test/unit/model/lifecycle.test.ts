// The terms of docs/rules.md#terms: observed IPs, alive, static, valid static member, restarting, pods of a name.
import {
  isAlive,
  isCompletedPod,
  isOnePod,
  isRestartingForEndpoint,
  isRestartingStaticMember,
  nextIncarnationPools,
  isValidStaticMember,
  parseOrdinalName,
  podsOfName,
  recordNameOf,
  staticKindOf,
  vmiOf,
} from '../../../webhook/model/lifecycle';
import {
  endpointFacts,
  observedIPsOf,
  podFacts,
  poolFacts,
  statefulSetFacts,
} from '../../../webhook/model/object-facts';
import { namedPools } from '../../../webhook/model/pool-annotations';
import { DEFAULT_STATIC_IP_CONFIG, StaticIpConfig } from '../../../webhook/model/types';
import {
  NETWORKS_STATUS,
  ippoolAnnotation,
  ippoolsAnnotation,
  NS,
  endpoint,
  launcherPod,
  owner,
  pod,
  pool,
  rec,
  statefulSet,
  stsPod,
  uid,
  viewOf,
  vm,
  vmi,
} from '../../../testbed/fixtures';

const CFG = DEFAULT_STATIC_IP_CONFIG;

describe('observed IPs (docs/rules.md#observed-ips)', () => {
  it('status.podIPs, canonical', () => {
    const p = pod({ name: 'a', ips: ['10.6.168.101', 'FD00:10:6:0:0:0:A8:65'] });
    expect(observedIPsOf(p).sort()).toEqual(['10.6.168.101', 'fd00:10:6::a8:65']);
  });

  it('status.podIP when podIPs is absent', () => {
    const p = pod({ name: 'a', podIP: 'fd00:0:0:0:0:0:0:a' });
    expect((p.status as Record<string, unknown>).podIPs).toBeUndefined();
    expect(observedIPsOf(p)).toEqual(['fd00::a']);
  });

  it('podIPs wins over podIP when both are present', () => {
    const p = pod({ name: 'a', ips: ['10.6.168.101'] });
    (p.status as Record<string, unknown>).podIP = '10.6.168.200';
    expect(observedIPsOf(p)).toEqual(['10.6.168.101']);
  });

  it('multus network-status IPs (secondary NICs), prefix stripped, canonical', () => {
    const p = pod({
      name: 'a',
      ips: ['10.244.1.7'],
      multus: [
        { interface: 'eth0', ips: ['10.244.1.7'] },
        { interface: 'net1', ips: ['10.6.168.101/16', 'fd00:10:6:0::a8:65/64'] },
      ],
    });
    expect(observedIPsOf(p).sort()).toEqual(['10.244.1.7', '10.6.168.101', 'fd00:10:6::a8:65']);
  });

  it('the older networks-status annotation counts too', () => {
    const p = pod({ name: 'a', multusKey: NETWORKS_STATUS, multus: [{ interface: 'net1', ips: ['10.6.168.102'] }] });
    expect(observedIPsOf(p)).toEqual(['10.6.168.102']);
  });

  it('a multus-only pod (no podIPs yet) observes its multus IPs', () => {
    const p = pod({ name: 'a', phase: 'Pending', multus: [{ interface: 'net1', ips: ['10.6.168.103'] }] });
    expect(observedIPsOf(p)).toEqual(['10.6.168.103']);
  });

  it('a broken multus annotation proves nothing but does not hide podIPs', () => {
    const p = pod({ name: 'a', ips: ['10.6.168.101'] });
    (p.metadata as Record<string, Record<string, string>>).annotations['k8s.v1.cni.cncf.io/network-status'] =
      '[{"interface":"net1","ips":["10.6.';
    expect(observedIPsOf(p)).toEqual(['10.6.168.101']);
  });

  it("a hostNetwork pod observes no IPs (its IPs are the node's)", () => {
    const p = pod({
      name: 'a',
      hostNetwork: true,
      ips: ['172.18.0.2'],
      multus: [{ interface: 'eth0', ips: ['172.18.0.2'] }],
    });
    expect(observedIPsOf(p)).toEqual([]);
    expect(podFacts(p).observedIPs).toEqual([]);
  });

  it('duplicates across podIPs and multus are reported once', () => {
    const p = pod({ name: 'a', ips: ['10.6.168.101'], multus: [{ interface: 'eth0', ips: ['10.6.168.101/16'] }] });
    expect(observedIPsOf(p)).toEqual(['10.6.168.101']);
  });
});

describe('alive (docs/rules.md#alive)', () => {
  const facts = (o: Parameters<typeof pod>[0]) => podFacts(pod(o));
  it.each([
    ['Running', { phase: 'Running' as const }, true],
    ['Pending', { phase: 'Pending' as const }, true],
    ['Unknown', { phase: 'Unknown' as const }, true],
    ['deleting', { phase: 'Running' as const, deleting: true }, false],
    ['Succeeded, restartPolicy Never', { phase: 'Succeeded' as const, restartPolicy: 'Never' as const }, false],
    ['Succeeded, restartPolicy OnFailure', { phase: 'Succeeded' as const, restartPolicy: 'OnFailure' as const }, false],
    ['Succeeded, restartPolicy Always', { phase: 'Succeeded' as const, restartPolicy: 'Always' as const }, true],
    ['Failed, restartPolicy Never', { phase: 'Failed' as const, restartPolicy: 'Never' as const }, false],
    ['Failed, restartPolicy OnFailure', { phase: 'Failed' as const, restartPolicy: 'OnFailure' as const }, true],
    ['Failed, restartPolicy Always', { phase: 'Failed' as const, restartPolicy: 'Always' as const }, true],
    [
      'Failed + Evicted, restartPolicy Always',
      { phase: 'Failed' as const, reason: 'Evicted', restartPolicy: 'Always' as const },
      false,
    ],
  ])('%s → %s', (_what, o, want) => {
    expect(isAlive(facts({ name: 'p', ...o }))).toBe(want);
  });

  it('a missing pod is not alive', () => {
    expect(isAlive(undefined)).toBe(false);
  });

  it('restartPolicy defaults to Always when unset', () => {
    const p = pod({ name: 'p', phase: 'Succeeded' });
    delete (p.spec as Record<string, unknown>).restartPolicy;
    expect(isAlive(podFacts(p))).toBe(true);
  });
});

describe('static (docs/rules.md#static)', () => {
  it.each([
    ['apps/v1 StatefulSet controller', [owner.statefulSet('web')], 'StatefulSet'],
    ['kubevirt.io/v1 VMI controller', [owner.vmi('vm1')], 'VirtualMachineInstance'],
    ['ReplicaSet controller', [owner.replicaSet('api-6d9f7c')], undefined],
    ['Job controller', [owner.job('batch-1')], undefined],
    ['OpenKruise StatefulSet (3rd party)', [owner.kruiseStatefulSet('web')], undefined],
    ['StatefulSet owner that is not the controller', [{ ...owner.statefulSet('web'), controller: false }], undefined],
    ['apps/v1beta1 StatefulSet', [{ apiVersion: 'apps/v1beta1', kind: 'StatefulSet', name: 'web' }], undefined],
    ['no owner (bare pod)', [], undefined],
  ])('%s → %s', (_what, owners, want) => {
    expect(staticKindOf(podFacts(pod({ name: 'web-0', owners })), CFG)).toBe(want);
  });

  it('each kind can be switched off', () => {
    const sts = podFacts(stsPod('web', 0));
    const virt = podFacts(launcherPod('vm1'));
    expect(staticKindOf(sts, { statefulSet: false, kubevirt: true })).toBeUndefined();
    expect(staticKindOf(virt, { statefulSet: true, kubevirt: false })).toBeUndefined();
    expect(staticKindOf(virt, { statefulSet: false, kubevirt: true })).toBe('VirtualMachineInstance');
  });
});

describe('valid static member (docs/rules.md#valid-static-member)', () => {
  it('parses names as Spiderpool does: (.*)-([0-9]+)$', () => {
    expect(parseOrdinalName('web-2')).toEqual({ set: 'web', ordinal: 2 });
    expect(parseOrdinalName('my-web-10')).toEqual({ set: 'my-web', ordinal: 10 });
    expect(parseOrdinalName('web')).toBeUndefined();
    expect(parseOrdinalName('web-2a')).toBeUndefined();
  });

  it('ordinal inside spec.replicas, judged by name (the pod may be absent)', () => {
    const view = viewOf(statefulSet({ name: 'web', replicas: 3 }));
    expect(isValidStaticMember(view, NS, 'web-0', CFG)).toBe(true);
    expect(isValidStaticMember(view, NS, 'web-2', CFG)).toBe(true);
    expect(isValidStaticMember(view, NS, 'web-3', CFG)).toBe(false);
    expect(isValidStaticMember(view, 'other', 'web-0', CFG)).toBe(false);
    expect(isValidStaticMember(view, NS, 'api-0', CFG)).toBe(false);
  });

  it('spec.replicas unset defaults to 1; replicas 0 has no valid member', () => {
    expect(statefulSetFacts(statefulSet({ name: 'web', replicas: null })).replicas).toBe(1);
    expect(isValidStaticMember(viewOf(statefulSet({ name: 'web', replicas: null })), NS, 'web-0', CFG)).toBe(true);
    expect(isValidStaticMember(viewOf(statefulSet({ name: 'web', replicas: 0 })), NS, 'web-0', CFG)).toBe(false);
  });

  it('spec.ordinals.start shifts the window', () => {
    const view = viewOf(statefulSet({ name: 'web', replicas: 2, ordinalsStart: 5 }));
    expect(isValidStaticMember(view, NS, 'web-4', CFG)).toBe(false);
    expect(isValidStaticMember(view, NS, 'web-5', CFG)).toBe(true);
    expect(isValidStaticMember(view, NS, 'web-6', CFG)).toBe(true);
    expect(isValidStaticMember(view, NS, 'web-7', CFG)).toBe(false);
    expect(isValidStaticMember(view, NS, 'web-0', CFG)).toBe(false);
  });

  it('a scaled-down StatefulSet: the ordinal outside replicas is no member even while its pod exists', () => {
    const view = viewOf(
      statefulSet({ name: 'web', replicas: 1 }),
      stsPod('web', 2, { ips: ['10.6.168.103'], deleting: true }),
    );
    expect(isValidStaticMember(view, NS, 'web-2', CFG)).toBe(false);
  });

  it('the StatefulSet must exist', () => {
    expect(isValidStaticMember(viewOf(), NS, 'web-0', CFG)).toBe(false);
  });

  it('an existing non-static pod is never a static member, whatever its name', () => {
    const view = viewOf(
      statefulSet({ name: 'web', replicas: 3 }),
      pod({ name: 'web-1', ips: ['10.6.168.102'], owners: [owner.kruiseStatefulSet('web')] }),
    );
    expect(isValidStaticMember(view, NS, 'web-1', CFG)).toBe(false);
  });

  it('the StatefulSet switch off: no StatefulSet member', () => {
    const view = viewOf(statefulSet({ name: 'web', replicas: 3 }));
    const off: StaticIpConfig = { statefulSet: false, kubevirt: true };
    expect(isValidStaticMember(view, NS, 'web-0', off)).toBe(false);
  });

  describe('KubeVirt (by VMI name)', () => {
    it('the VMI exists and is not deleting', () => {
      expect(isValidStaticMember(viewOf(vmi({ name: 'vm1' })), NS, 'vm1', CFG)).toBe(true);
    });
    it('the VMI is deleting and not controlled by a VM', () => {
      expect(
        isValidStaticMember(viewOf(vmi({ name: 'vm1', deleting: true, controlledByVm: false })), NS, 'vm1', CFG),
      ).toBe(false);
    });
    it('the VMI is deleting, its VM lives: valid (the VM restarts it)', () => {
      expect(
        isValidStaticMember(viewOf(vmi({ name: 'vm1', deleting: true }), vm({ name: 'vm1' })), NS, 'vm1', CFG),
      ).toBe(true);
    });
    it('the VMI is deleting and its VM too', () => {
      expect(
        isValidStaticMember(
          viewOf(vmi({ name: 'vm1', deleting: true }), vm({ name: 'vm1', deleting: true })),
          NS,
          'vm1',
          CFG,
        ),
      ).toBe(false);
    });
    it('the VMI is gone, the VM lives (stopped-and-started VM)', () => {
      expect(isValidStaticMember(viewOf(vm({ name: 'vm1' })), NS, 'vm1', CFG)).toBe(true);
    });
    it('neither VMI nor VM', () => {
      expect(isValidStaticMember(viewOf(), NS, 'vm1', CFG)).toBe(false);
    });
    it('switched off', () => {
      expect(isValidStaticMember(viewOf(vmi({ name: 'vm1' })), NS, 'vm1', { statefulSet: true, kubevirt: false })).toBe(
        false,
      );
    });
    it('the pods of a VMI name are its launcher pods', () => {
      const view = viewOf(
        vmi({ name: 'vm1' }),
        launcherPod('vm1', { uid: uid('launcher') }),
        pod({ name: 'unrelated' }),
      );
      expect(podsOfName(view, NS, 'vm1', CFG).map((p) => p.uid)).toEqual([uid('launcher')]);
    });
    it('a kubevirt.io pod controller of another API version is not static (docs/rules.md#static: kubevirt.io/v1)', () => {
      const p = pod({
        name: 'virt-launcher-vm1-x',
        owners: [{ apiVersion: 'kubevirt.io/v1alpha3', kind: 'VirtualMachineInstance', name: 'vm1' }],
      });
      expect(staticKindOf(podFacts(p), CFG)).toBeUndefined();
    });
  });
});

describe('restarting static member (docs/rules.md#restarting)', () => {
  const sts = statefulSet({ name: 'web', replicas: 3 });

  it('valid member whose pod is absent', () => {
    expect(isRestartingStaticMember(viewOf(sts), NS, 'web-1', CFG)).toBe(true);
  });
  it('valid member whose pod has no observed IPs (next incarnation Pending)', () => {
    expect(isRestartingStaticMember(viewOf(sts, stsPod('web', 1, { phase: 'Pending' })), NS, 'web-1', CFG)).toBe(true);
  });
  it('valid member whose pod is being deleted (it still shows its IP)', () => {
    expect(
      isRestartingStaticMember(
        viewOf(sts, stsPod('web', 1, { ips: ['10.6.168.102'], deleting: true })),
        NS,
        'web-1',
        CFG,
      ),
    ).toBe(true);
  });
  it('not restarting when its pod runs with IPs', () => {
    expect(isRestartingStaticMember(viewOf(sts, stsPod('web', 1, { ips: ['10.6.168.102'] })), NS, 'web-1', CFG)).toBe(
      false,
    );
  });
  it('not restarting when its pod runs with IPs from a secondary NIC only', () => {
    const p = stsPod('web', 1, { multus: [{ interface: 'net1', ips: ['10.6.168.102'] }] });
    expect(isRestartingStaticMember(viewOf(sts, p), NS, 'web-1', CFG)).toBe(false);
  });
  it('not restarting when it is no valid member (scaled down)', () => {
    expect(isRestartingStaticMember(viewOf(sts), NS, 'web-3', CFG)).toBe(false);
  });
  it('KubeVirt: VMI alive and no launcher pod with IPs', () => {
    expect(isRestartingStaticMember(viewOf(vmi({ name: 'vm1' })), NS, 'vm1', CFG)).toBe(true);
    expect(
      isRestartingStaticMember(
        viewOf(vmi({ name: 'vm1' }), launcherPod('vm1', { ips: ['10.6.168.110'] })),
        NS,
        'vm1',
        CFG,
      ),
    ).toBe(false);
  });
});

describe('pools named by Spiderpool annotations (docs/rules.md#restarting)', () => {
  const named = (a: Record<string, string>) => {
    const pools = namedPools(a);
    return pools && [...pools].sort();
  };

  it('ipam.spidernet.io/ippool: {"ipv4":[...],"ipv6":[...]}', () => {
    expect(named(ippoolAnnotation({ ipv4: ['v4-a', 'v4-b'], ipv6: ['v6-a'] }))).toEqual(['v4-a', 'v4-b', 'v6-a']);
    expect(named(ippoolAnnotation({ ipv6: ['v6-a'] }))).toEqual(['v6-a']);
  });

  it('ipam.spidernet.io/ippools: a list of {interface, ipv4, ipv6}, every NIC counted; it takes precedence over ippool', () => {
    const multi = ippoolsAnnotation([
      { interface: 'eth0', ipv4: ['a'] },
      { interface: 'net1', ipv4: ['b'], ipv6: ['c'] },
    ]);
    expect(named(multi)).toEqual(['a', 'b', 'c']);
    expect(named({ ...multi, ...ippoolAnnotation({ ipv4: ['z'] }) })).toEqual(['a', 'b', 'c']);
    expect(named({ 'ipam.spidernet.io/ippools': '[{"ipv4":["a"],"cleangateway":true}]' })).toEqual(['a']);
  });

  it.each([
    ['no annotation', {}],
    ['malformed JSON', { 'ipam.spidernet.io/ippool': '{"ipv4":["a"]' }],
    ['a list where an object is expected', { 'ipam.spidernet.io/ippool': '["a"]' }],
    ['a string where a list is expected', { 'ipam.spidernet.io/ippool': '{"ipv4":"a"}' }],
    ['a number in a list', { 'ipam.spidernet.io/ippool': '{"ipv4":["a",1]}' }],
    ['ippools that is not a list', { 'ipam.spidernet.io/ippools': '{"ipv4":["a"]}' }],
    [
      'ippools malformed, even with a good ippool',
      { 'ipam.spidernet.io/ippools': 'nope', ...ippoolAnnotation({ ipv4: ['a'] }) },
    ],
    ['no pool named', ippoolAnnotation({ ipv4: [], ipv6: [] })],
    [
      'a subnet annotation (SpiderSubnet picks the pools)',
      { ...ippoolAnnotation({ ipv4: ['a'] }), 'ipam.spidernet.io/subnets': '[]' },
    ],
  ])('%s: not named (the member stays restarting for every pool)', (_what, a) => {
    expect(namedPools(a)).toBeUndefined();
  });

  it('trimming keeps only the pool-selection annotations, of the pod and of the StatefulSet template', () => {
    const annotations = {
      ...ippoolAnnotation({ ipv4: ['a'] }),
      'ipam.spidernet.io/subnet': 's',
      'example.com/big': 'x'.repeat(10_000),
      'v1.multus-cni.io/default-network': 'kube-system/macvlan',
    };
    expect(podFacts(stsPod('web', 0, { annotations })).poolAnnotations).toEqual({
      ...ippoolAnnotation({ ipv4: ['a'] }),
      'ipam.spidernet.io/subnet': 's',
    });
    expect(
      podFacts(stsPod('web', 0, { multus: [{ interface: 'eth0', ips: ['10.6.168.101'] }] })).poolAnnotations,
    ).toBeUndefined();
    expect(
      statefulSetFacts(statefulSet({ name: 'web', templateAnnotations: annotations })).templatePoolAnnotations,
    ).toEqual({
      ...ippoolAnnotation({ ipv4: ['a'] }),
      'ipam.spidernet.io/subnet': 's',
    });
    expect(statefulSetFacts(statefulSet({ name: 'web' })).templatePoolAnnotations).toBeUndefined();
  });
});

describe('restarting static member, per pool (docs/rules.md#restarting)', () => {
  const NEW_POOL = ippoolAnnotation({ ipv4: ['new-v4'] });
  const sts = statefulSet({ name: 'web', replicas: 3 });
  const moved = statefulSet({ name: 'web', replicas: 3, templateAnnotations: NEW_POOL });

  it('the current pod names other pools: restarting for those, not for the old one', () => {
    const view = viewOf(sts, stsPod('web', 1, { phase: 'Pending', annotations: NEW_POOL }));
    expect(isRestartingStaticMember(view, NS, 'web-1', CFG, 'old-v4')).toBe(false);
    expect(isRestartingStaticMember(view, NS, 'web-1', CFG, 'new-v4')).toBe(true);
    expect([...nextIncarnationPools(view, NS, 'web-1', CFG)!]).toEqual(['new-v4']);
  });

  it('no pod: the StatefulSet pod template is read', () => {
    expect(isRestartingStaticMember(viewOf(moved), NS, 'web-1', CFG, 'old-v4')).toBe(false);
    expect(isRestartingStaticMember(viewOf(moved), NS, 'web-1', CFG, 'new-v4')).toBe(true);
  });

  it('a pod exists: its annotations win over the template (none on the pod: every pool)', () => {
    expect(
      isRestartingStaticMember(viewOf(moved, stsPod('web', 1, { phase: 'Pending' })), NS, 'web-1', CFG, 'old-v4'),
    ).toBe(true);
  });

  it('without annotation, or with a malformed one, nothing changes: restarting for every pool', () => {
    expect(isRestartingStaticMember(viewOf(sts), NS, 'web-1', CFG, 'old-v4')).toBe(true);
    const broken = stsPod('web', 1, { phase: 'Pending', annotations: { 'ipam.spidernet.io/ippool': '{' } });
    expect(isRestartingStaticMember(viewOf(sts, broken), NS, 'web-1', CFG, 'old-v4')).toBe(true);
  });

  it("an unknown pool ('') cannot be ruled out", () => {
    expect(isRestartingStaticMember(viewOf(moved), NS, 'web-1', CFG, '')).toBe(true);
  });

  it('not restarting at all stays so, whatever the pool (pod runs with IPs; scaled down)', () => {
    const running = stsPod('web', 1, { ips: ['10.6.168.102'], annotations: NEW_POOL });
    expect(isRestartingStaticMember(viewOf(sts, running), NS, 'web-1', CFG, 'new-v4')).toBe(false);
    expect(isRestartingStaticMember(viewOf(moved), NS, 'web-3', CFG, 'new-v4')).toBe(false);
  });

  it('StatefulSet static IPs switched off: no member, no pools', () => {
    expect(nextIncarnationPools(viewOf(moved), NS, 'web-1', { statefulSet: false, kubevirt: true })).toBeUndefined();
  });

  it('KubeVirt: annotations on the launcher pod do not matter', () => {
    const view = viewOf(vmi({ name: 'vm1' }), launcherPod('vm1', { phase: 'Pending', annotations: NEW_POOL }));
    expect(isRestartingStaticMember(view, NS, 'vm1', CFG, 'old-v4')).toBe(true);
  });

  it('an endpoint: restarting when one of its pools is still used; for any pool when it lists no IP', () => {
    const ep = (nics: { ipv4?: string; ipv4Pool?: string; ipv6?: string; ipv6Pool?: string }[]) =>
      endpointFacts(endpoint({ name: 'web-1', podUid: uid('old'), type: 'StatefulSet', nics }));
    const view = viewOf(moved);
    expect(isRestartingForEndpoint(view, ep([{ ipv4: '10.6.168.102/16', ipv4Pool: 'old-v4' }]), CFG)).toBe(false);
    expect(
      isRestartingForEndpoint(
        view,
        ep([{ ipv4: '10.6.168.102/16', ipv4Pool: 'old-v4', ipv6: 'fd00::2/64', ipv6Pool: 'new-v4' }]),
        CFG,
      ),
    ).toBe(true);
    expect(isRestartingForEndpoint(view, ep([]), CFG)).toBe(true);
  });
});

describe('KubeVirt live migration (docs/rules.md#kubevirt-live-migration)', () => {
  const src = podFacts(launcherPod('vm1', { uid: 'us', ips: ['10.6.168.101'], suffix: 'src' }));
  const dst = podFacts(launcherPod('vm1', { uid: 'ud', ips: ['10.6.168.101'], suffix: 'dst' }));
  const other = podFacts(launcherPod('vm2', { uid: 'uo', suffix: 'zzz' }));
  const plain = podFacts(pod({ name: 'api-1', uid: 'ua' }));

  it('launcher pods of one VMI are one pod; of two VMIs, or a plain pod, are not', () => {
    expect(vmiOf(src)).toBe('vm1');
    expect(vmiOf(plain)).toBeUndefined();
    expect(isOnePod(src, dst)).toBe(true);
    expect(isOnePod(src, src)).toBe(true);
    expect(isOnePod(src, other)).toBe(false);
    expect(isOnePod(plain, src)).toBe(false);
    expect(isOnePod(plain, podFacts(pod({ name: 'api-1', uid: 'ub' })))).toBe(true);
  });

  it('a pool records a launcher pod under its VMI (KubeVirt static IPs on), any other pod under its own name', () => {
    expect(recordNameOf(dst, DEFAULT_STATIC_IP_CONFIG)).toBe(`${NS}/vm1`);
    expect(recordNameOf(dst, { statefulSet: true, kubevirt: false })).toBe(`${NS}/virt-launcher-vm1-dst`);
    expect(recordNameOf(plain, DEFAULT_STATIC_IP_CONFIG)).toBe(`${NS}/api-1`);
  });
});

describe('completed pod (docs/rules.md#alive)', () => {
  it.each([
    ['Succeeded, restartPolicy Never', { phase: 'Succeeded', restartPolicy: 'Never' }, true],
    ['Failed, restartPolicy Never', { phase: 'Failed', restartPolicy: 'Never' }, true],
    ['Failed, Evicted', { phase: 'Failed', reason: 'Evicted' }, true],
    ['Succeeded, restartPolicy Always (alive)', { phase: 'Succeeded', restartPolicy: 'Always' }, false],
    ['Failed, restartPolicy OnFailure (alive)', { phase: 'Failed', restartPolicy: 'OnFailure' }, false],
    ['Running', { phase: 'Running' }, false],
    ['Running and deleting (not terminal)', { phase: 'Running', deleting: true }, false],
  ] as const)('%s → %s', (_what, state, want) => {
    expect(isCompletedPod(podFacts(pod({ name: 'p', ...state })))).toBe(want);
  });
});

describe('trimmed facts', () => {
  it('endpoint IPs: prefix stripped, canonical, per pool; uid from status.current', () => {
    const e = endpointFacts(
      endpoint({
        name: 'web-1',
        podUid: uid('web-1#A'),
        type: 'StatefulSet',
        nics: [{ ipv4: '10.6.168.102/16', ipv4Pool: 'v4-pool', ipv6: 'FD00:10:6:0:0:0:A8:66/64', ipv6Pool: 'v6-pool' }],
      }),
    );
    expect(e.podUid).toBe(uid('web-1#A'));
    expect(e.ips).toEqual([
      { pool: 'v4-pool', ip: '10.6.168.102', interface: 'eth0' },
      { pool: 'v6-pool', ip: 'fd00:10:6::a8:66', interface: 'eth0' },
    ]);
    expect(e.ownerControllerType).toBe('StatefulSet');
    expect(e.finalizers).toEqual(['spiderpool.spidernet.io']);
  });

  it('pool facts: records, counts, family from subnet', () => {
    const p = poolFacts(
      pool({
        name: 'p',
        subnet: '10.6.0.0/16',
        records: { '10.6.168.101': rec('demo/web-0', uid('a')) },
        totalIPCount: 9,
      }),
    );
    expect(p.family).toBe(4);
    expect(p.records.size).toBe(1);
    expect(p.allocatedIPCount).toBe(1);
    expect(p.totalIPCount).toBe(9);
    expect(p.unparseable).toBe(false);
  });
});
