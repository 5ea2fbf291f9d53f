/**
 * The objects of `bench scale`'s world, as populate creates them (index.ts) and the heap probe (heap-probe.ts) feeds
 * them: N pods with an IP in their multus network-status annotation, N SpiderEndpoints, 20 pools x N/20 records and
 * the SpiderReservedIPs.
 */
type Obj = Record<string, unknown>;

export const POOLS = 20;
export const NAMESPACES = 20;

export function address(i: number): { pool: string; ip: string } {
  const p = i % POOLS;
  const n = Math.floor(i / POOLS) + 1;
  return { pool: `scale-${p}`, ip: `10.${p + 1}.${(n >> 8) & 255}.${n & 255}` };
}

/**
 * The i-th SpiderReservedIP: two single IPs and (every 10th) a range of ten, spread over the 20 pools' subnets, all
 * above the addresses the pods hold (the records use .0.1-.19.136 of each /16), so nothing reserved is in use.
 */
export function reservedIP(i: number): Obj {
  const p = i % POOLS;
  const k = Math.floor(i / POOLS); // 0..49 per pool at 1,000
  const ips = [`10.${p + 1}.200.${2 * k + 1}`, `10.${p + 1}.200.${2 * k + 2}`];
  if (i % 10 === 0) ips.push(`10.${p + 1}.201.${(k % 25) * 10 + 1}-10.${p + 1}.201.${(k % 25) * 10 + 10}`);
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderReservedIP',
    metadata: { name: `reserved-${i}` },
    spec: { ipVersion: 4, ips },
  };
}

// A ReplicaSet's pods live in its namespace (an owner reference cannot cross namespaces): the ten pods of
// `app-<i/10>` share one. (Spread over ten namespaces, as before 2026-12-07 11:40, each namespace's controller index
// held one pod per controller, 100,000 entries where a real cluster of these ReplicaSets has 10,000.)
export const nsOf = (i: number) => `scale-${Math.floor(i / 10) % NAMESPACES}`;
export const nameOf = (i: number) => `app-${Math.floor(i / 10)}-${i.toString(36)}`;

/** The i-th pod as populate creates it (the API server adds its uid and defaults). */
export function podBody(i: number): { metadata: Obj; spec: Obj } {
  const a = address(i);
  return {
    metadata: {
      name: nameOf(i),
      labels: { app: `app-${Math.floor(i / 10)}` },
      annotations: {
        'k8s.v1.cni.cncf.io/network-status': JSON.stringify([
          { name: 'kube-system/macvlan', interface: 'eth0', ips: [a.ip], default: true },
        ]),
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `app-${Math.floor(i / 10)}`,
          uid: `rs-${Math.floor(i / 10)}`,
          controller: true,
        },
      ],
    },
    spec: {
      nodeName: `node-${(i % 3) + 1}`,
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
    },
  };
}

/** The SpiderEndpoint of the i-th pod (of uid podUid). */
export function endpointBody(i: number, podUid: string): { metadata: Obj; status: Obj } & Obj {
  const a = address(i);
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderEndpoint',
    metadata: { name: nameOf(i), finalizers: ['spiderpool.spidernet.io'] },
    status: {
      current: {
        uid: podUid,
        node: `node-${(i % 3) + 1}`,
        ips: [{ interface: 'eth0', ipv4: `${a.ip}/16`, ipv4Pool: a.pool, vlan: 0 }],
      },
      ownerControllerType: 'Deployment',
      ownerControllerName: `app-${Math.floor(i / 10)}`,
    },
  };
}

/** The p-th pool without its status. */
export function poolBody(p: number): { metadata: Obj; spec: Obj } & Obj {
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderIPPool',
    metadata: { name: `scale-${p}` },
    spec: { ipVersion: 4, subnet: `10.${p + 1}.0.0/16`, ips: [`10.${p + 1}.0.1-10.${p + 1}.255.254`] },
  };
}

/**
 * The p-th pool's status. allocatedIPs is written as Spiderpool writes it (Go's json.Marshal of a map: keys sorted,
 * the guard's scan path); `sorted` false writes the records in creation order (not Go's form: the general parser's
 * path, as after a hand edit).
 */
export function poolStatus(p: number, pods: number, uids: readonly string[], sorted = true): Obj {
  const records: Record<string, { pod: string; podUid: string }> = {};
  for (let i = p; i < pods; i += POOLS) records[address(i).ip] = { pod: `${nsOf(i)}/${nameOf(i)}`, podUid: uids[i] };
  const keys = Object.keys(records);
  const allocatedIPs = sorted
    ? `{${keys
        .sort()
        .map((k) => `${JSON.stringify(k)}:${JSON.stringify(records[k])}`)
        .join(',')}}`
    : JSON.stringify(records);
  return { allocatedIPs, allocatedIPCount: keys.length, totalIPCount: 65534 };
}
