/**
 * The pod network of one test bed: a Linux bridge on the host and, per pod, a network namespace joined to it by a
 * veth pair. Each test bed owns a 10.B.0.0/16 block (B picked from its state directory, skipping blocks another
 * interface of this machine already uses) split in two:
 *
 *   10.B.0.0/17    pods; the bridge (host end) is 10.B.0.1 and is where pods reach the API server
 *   10.B.128.0/17  the API server's --service-cluster-ip-range (ClusterIPs, served by the runner's service proxy)
 *
 * Names are derived from the state directory so that several test beds on one machine never collide, and so that
 * leftovers of a crashed run (same state directory) are found and removed by the next start or by `down`:
 *   bridge   spgb<hash6>           netns   spg-<hash6>-<n>     veth (host end)   spgv<hash6><n hex>
 *
 * Needs root and iproute2 (`ip`). Nothing here knows about Kubernetes objects.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireLock, cacheRoot, run, runOk } from '../util';

/** The Node the runner registers and binds its pods to. */
export const RUNNER_NODE = 'runner';

export interface TestbedNetwork {
  /** 6 hex chars of sha256(state dir): the suffix of every name this test bed creates */
  hash: string;
  /** second octet B of the 10.B.0.0/16 block */
  block: number;
  bridge: string;
  /** host end of every pod's veth, on the bridge: where pods reach the API server */
  gatewayIp: string;
  podCidr: string;
  serviceCidr: string;
}

/** True when this process may create network namespaces (root with iproute2). */
export function canRunPods(): boolean {
  if (process.getuid?.() !== 0) return false;
  return ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => fs.existsSync(p));
}

export function networkHash(stateDir: string): string {
  return crypto.createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 6);
}

export function bridgeName(hash: string): string {
  return `spgb${hash}`;
}

export function netnsName(hash: string, index: number): string {
  return `spg-${hash}-${index}`;
}

/** Host end of pod `index`'s veth (15 characters at most: the kernel's limit). */
export function vethName(hash: string, index: number): string {
  return `spgv${hash}${index.toString(16).padStart(5, '0')}`;
}

/** The pod IP of allocation `index` (1-based) in 10.B.0.0/17, skipping .0 and the gateway 10.B.0.1. */
export function podIp(block: number, index: number): string {
  const n = index + 1; // 10.B.0.2 is the first pod
  if (n >= 128 * 256 - 1) throw new Error(`pod index ${index} exhausts 10.${block}.0.0/17`);
  return `10.${block}.${Math.floor(n / 256)}.${n % 256}`;
}

function blockFromHash(hash: string): number {
  return 200 + (Number.parseInt(hash, 16) % 50);
}

/** Second octets of 10.x.0.0/16 blocks some interface address or route of this machine already uses. */
async function blocksInUse(): Promise<Set<number>> {
  const used = new Set<number>();
  const addrs = await runOk('ip', ['-j', 'addr']);
  for (const link of JSON.parse(addrs.stdout) as { addr_info?: { family: string; local: string }[] }[]) {
    for (const a of link.addr_info ?? []) {
      const m = /^10\.(\d+)\./.exec(a.local);
      if (a.family === 'inet' && m) used.add(Number(m[1]));
    }
  }
  const routes = await runOk('ip', ['-j', 'route']);
  for (const r of JSON.parse(routes.stdout) as { dst?: string }[]) {
    const m = /^10\.(\d+)\./.exec(r.dst ?? '');
    if (m) used.add(Number(m[1]));
  }
  return used;
}

function describe(hash: string, block: number): TestbedNetwork {
  return {
    hash,
    block,
    bridge: bridgeName(hash),
    gatewayIp: `10.${block}.0.1`,
    podCidr: `10.${block}.0.0/17`,
    serviceCidr: `10.${block}.128.0/17`,
  };
}

/**
 * Creates the bridge of the test bed in `stateDir` (removing leftovers of an earlier run of the same directory
 * first) and returns its addresses. Blocks are picked under a machine-wide lock, so two test beds starting at
 * the same moment cannot pick the same one.
 */
export async function createNetwork(stateDir: string): Promise<TestbedNetwork> {
  const hash = networkHash(stateDir);
  await removeNetwork(hash);
  const release = await acquireLock(path.join(cacheRoot(), 'testbed-network.lock'), 'picking a pod network block');
  try {
    const used = await blocksInUse();
    let block = blockFromHash(hash);
    for (let tries = 0; used.has(block); tries++) {
      if (tries >= 50) throw new Error('no free 10.x.0.0/16 block in 10.200-10.249 for the pod network');
      block = 200 + ((block - 200 + 1) % 50);
    }
    const net = describe(hash, block);
    // A fixed (locally administered) MAC: a bridge without one takes the lowest MAC of its ports and changes it when
    // that port leaves, so every other pod's ARP entry for the gateway goes stale and its connections to the API
    // server time out for ~20 s each time a pod is removed (seen as curl timeouts in the uninstall drain hook).
    const mac = `02:5b:${(hash.padEnd(8, '0').match(/../g) ?? []).slice(0, 4).join(':')}`;
    await runOk('ip', ['link', 'add', net.bridge, 'address', mac, 'type', 'bridge']);
    await runOk('ip', ['addr', 'add', `${net.gatewayIp}/17`, 'dev', net.bridge]);
    await runOk('ip', ['link', 'set', net.bridge, 'up']);
    return net;
  } finally {
    release();
  }
}

/** Removes every namespace, veth and the bridge named after `hash` (idempotent; what a crash left behind too). */
export async function removeNetwork(hash: string): Promise<void> {
  const list = await run('ip', ['-j', 'netns', 'list']);
  const namespaces =
    list.code === 0 && list.stdout.trim() ? (JSON.parse(list.stdout) as { name: string }[]).map((n) => n.name) : [];
  for (const ns of namespaces) if (ns.startsWith(`spg-${hash}-`)) await run('ip', ['netns', 'delete', ns]);
  const links = await run('ip', ['-j', 'link']);
  const names = links.code === 0 ? (JSON.parse(links.stdout) as { ifname: string }[]).map((l) => l.ifname) : [];
  for (const name of names) if (name.startsWith(`spgv${hash}`)) await run('ip', ['link', 'delete', name]);
  if (names.includes(bridgeName(hash))) await run('ip', ['link', 'delete', bridgeName(hash)]);
}

/** Removes what the test bed in `stateDir` created (used by `down` after its processes are gone). */
export async function removeNetworkOf(stateDir: string): Promise<void> {
  if (!canRunPods()) return;
  await removeNetwork(networkHash(stateDir));
}

/**
 * A pod's sandbox: network namespace `spg-<hash>-<index>` with `eth0` (IP/17 on the bridge), `lo` up, default
 * route via the bridge. Returns the namespace name and the IP.
 */
export async function createSandbox(net: TestbedNetwork, index: number): Promise<{ netns: string; ip: string }> {
  const netns = netnsName(net.hash, index);
  const veth = vethName(net.hash, index);
  const peer = `spgp${net.hash}${index.toString(16).padStart(5, '0')}`;
  const ip = podIp(net.block, index);
  await run('ip', ['netns', 'delete', netns]);
  await run('ip', ['link', 'delete', veth]);
  await runOk('ip', ['netns', 'add', netns]);
  await runOk('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
  await runOk('ip', ['link', 'set', peer, 'netns', netns]);
  await runOk('ip', ['link', 'set', veth, 'master', net.bridge, 'up']);
  await runOk('ip', ['-n', netns, 'link', 'set', peer, 'name', 'eth0']);
  await runOk('ip', ['-n', netns, 'addr', 'add', `${ip}/17`, 'dev', 'eth0']);
  await runOk('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', netns, 'route', 'add', 'default', 'via', net.gatewayIp]);
  return { netns, ip };
}

/** Deletes a pod's namespace (its veth pair goes with it). */
export async function removeSandbox(net: TestbedNetwork, index: number): Promise<void> {
  await run('ip', ['netns', 'delete', netnsName(net.hash, index)]);
  await run('ip', ['link', 'delete', vethName(net.hash, index)]);
}

/** Adds (or removes) a ClusterIP as a /32 on the bridge, so the service proxy can listen on it. */
export async function setServiceAddress(net: TestbedNetwork, ip: string, present: boolean): Promise<void> {
  if (present) await run('ip', ['addr', 'replace', `${ip}/32`, 'dev', net.bridge]);
  else await run('ip', ['addr', 'del', `${ip}/32`, 'dev', net.bridge]);
}
