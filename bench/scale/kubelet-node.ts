/**
 * A Node object shaped like a kubelet's (labels, annotations, 40 images, conditions, addresses, capacity; every 10th
 * node tainted, every 20th NotReady): what the node cache receives per node in a real cluster. Used by the Node
 * cache probe (node-probe.ts) and by `bench scale`'s populate.
 */
export function kubeletNode(i: number): Record<string, unknown> {
  const name = `worker-${String(i).padStart(5, '0')}.dc1.example.internal`;
  const images = Array.from({ length: 40 }, (_, k) => ({
    names: [
      `registry.example.internal/team-${k % 7}/service-${k}@sha256:${(i * 7919 + k).toString(16).padStart(64, '0')}`,
      `registry.example.internal/team-${k % 7}/service-${k}:v1.${k}.0`,
    ],
    sizeBytes: 10_000_000 + k * 123_457,
  }));
  const taints = [
    ...(i % 10 === 0 ? [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] : []),
    ...(i % 20 === 0
      ? [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2026-12-06T21:00:00Z' }]
      : []),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `0000${i.toString(16).padStart(8, '0')}-1111-4222-a333-444455556666`,
      resourceVersion: String(1_000_000 + i),
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': 'm6i.2xlarge',
        'topology.kubernetes.io/region': 'dc1',
        'topology.kubernetes.io/zone': `dc1-${i % 3}`,
        'node-role.kubernetes.io/worker': '',
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({
          'ebs.csi.aws.com': `i-0${i.toString(16).padStart(16, '0')}`,
        }),
      },
    },
    spec: {
      podCIDR: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
      providerID: `aws:///dc1-a/i-0${i.toString(16)}`,
      ...(taints.length ? { taints } : {}),
    },
    status: {
      capacity: { cpu: '8', memory: '32386524Ki', pods: '110', 'ephemeral-storage': '104845292Ki' },
      allocatable: { cpu: '7910m', memory: '31369692Ki', pods: '110', 'ephemeral-storage': '96625420948' },
      conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({
        type,
        status: type === 'Ready' ? (i % 20 === 0 ? 'Unknown' : 'True') : 'False',
        lastHeartbeatTime: '2026-12-06T22:00:00Z',
        lastTransitionTime: '2026-12-01T08:00:00Z',
        reason: type === 'Ready' ? 'KubeletReady' : `KubeletHasNo${type}`,
        message: type === 'Ready' ? 'kubelet is posting ready status' : `kubelet has no ${type}`,
      })),
      addresses: [
        { type: 'InternalIP', address: `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}` },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: i.toString(16).padStart(32, '0'),
        systemUUID: `ec2${i.toString(16).padStart(29, '0')}`,
        bootID: `b${i.toString(16).padStart(31, '0')}`,
        kernelVersion: '6.1.0-26-amd64',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://2.1.4',
        kubeletVersion: 'v1.34.4',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images,
    },
  };
}
