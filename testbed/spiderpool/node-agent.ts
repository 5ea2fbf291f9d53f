/**
 * The simulated node side: kubelet (binding stands in for the scheduler; pod status; finishing deletions), multus
 * (network-status annotation) and Spiderpool's IPAM agent (cmdAdd / cmdDel; docs/architecture.md#spiderpools-writers). Writes to
 * Spiderpool objects are made as system:serviceaccount:kube-system:spiderpool-agent; pod writes as the admin
 * (standing in for kubelet). A failed or denied cmdAdd/cmdDel is logged and retried, as kubelet retries CNI calls.
 */
import * as k8s from '@kubernetes/client-node';
import { apiErrorCode, apiErrorMessage, bindPod, type Clients } from '../clients';
import { getPool, type SpiderEndpoint, SPIDER_FINALIZER, SPIDERPOOL_GROUP, SPIDERPOOL_VERSION } from './objects';
import { isAlive } from '../../webhook/model/lifecycle';
import { podFacts, type KubeObject } from '../../webhook/model/object-facts';
import { usableIps } from './pool-ips';
import {
  asWriteError,
  createEndpoint,
  deleteEndpointByName,
  endpointIps,
  getEndpoint,
  isStaticEndpoint,
  isValidStsMemberLive,
  releaseIps,
  removeEndpointFinalizer,
  replaceEndpoint,
  updatePoolRecords,
} from './spider-api';
import type { GroundTruth } from './truth';
import { debug, Loop, Prng, say, sleep } from './util';

export const NETWORK_STATUS = 'k8s.v1.cni.cncf.io/network-status';

export interface NodeAgentOptions {
  namespace: string;
  pool: string;
  prefixLength: number;
  nodes: string[];
  admin: Clients;
  /** acting as the spiderpool-agent service account */
  agent: Clients;
  truth: GroundTruth;
  rng: Prng;
  pollMs?: number;
  /** kubelet removes the pod object this long (random, up to) after cmdDel */
  finishDelayMaxMs?: number;
  retryMs?: number;
  /**
   * A pod object removed at once (force delete, grace period 0) still has a sandbox on its node: kubelet tears it
   * down, CNI DEL included, this long after it sees the pod gone. Unset: such sandboxes are not torn down at all.
   * That CNI DEL is Spiderpool's `Release`, which judges aliveness by name: when a pod of that name is alive by
   * then (the pod recreated under its name), it keeps the old IPs and the endpoint's finalizer (cmdDelOfVanished).
   */
  vanishedSandboxDelMs?: number;
}

export interface AgentStats {
  cmdAdd: number;
  cmdAddFailed: number;
  cmdDel: number;
  cmdDelFailed: number;
  denied: number;
  staticReuse: number;
}

class CniError extends Error {}

function key(p: k8s.V1Pod): string {
  return `${p.metadata?.namespace}/${p.metadata?.name}`;
}

function alive(p: k8s.V1Pod): boolean {
  return isAlive(podFacts(p as unknown as KubeObject));
}

function stsOwner(p: k8s.V1Pod): k8s.V1OwnerReference | undefined {
  return p.metadata?.ownerReferences?.find(
    (r) => r.controller && r.apiVersion === 'apps/v1' && r.kind === 'StatefulSet',
  );
}

/** GetPodTopController, enough for this scenario: ReplicaSet → its Deployment (name minus the hash suffix). */
function topController(p: k8s.V1Pod): { kind: string; name: string } {
  const ref = p.metadata?.ownerReferences?.find((r) => r.controller);
  if (!ref) return { kind: 'Pod', name: p.metadata?.name ?? '' };
  if (ref.kind === 'ReplicaSet' && ref.apiVersion === 'apps/v1')
    return { kind: 'Deployment', name: ref.name.replace(/-[a-z0-9]+$/, '') };
  return { kind: ref.kind, name: ref.name };
}

export class NodeAgent {
  readonly stats: AgentStats = { cmdAdd: 0, cmdAddFailed: 0, cmdDel: 0, cmdDelFailed: 0, denied: 0, staticReuse: 0 };
  private readonly busy = new Set<string>();
  private readonly busySince = new Map<string, number>();
  private readonly attempts = new Map<string, number>();
  private readonly lastSeen = new Map<string, k8s.V1Pod>();
  private readonly notBefore = new Map<string, number>();
  private readonly torn = new Set<string>();
  private readonly stopping = new Set<string>();
  private readonly lastError = new Map<string, string>();
  /** pods this agent gave an IP, by uid, until their sandbox is torn down */
  private readonly sandboxes = new Map<string, k8s.V1Pod>();
  private readonly tasks = new Set<Promise<void>>();
  private nextNode = 0;
  /** nodes that stopped reporting: their kubelet neither stops containers nor tears sandboxes down */
  private readonly partitioned = new Set<string>();
  private loop?: Loop;
  private poolIps: string[] = [];

  constructor(private readonly o: NodeAgentOptions) {}

  async start(): Promise<void> {
    this.poolIps = usableIps((await getPool(this.o.agent.custom, this.o.pool)).spec);
    this.loop = new Loop('agent', this.o.pollMs ?? 300, () => this.tick()).start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
    await Promise.allSettled([...this.tasks]);
  }

  /**
   * The node stops reporting (a network partition, a hung kubelet): pods on it that are deleted stay Terminating
   * with their containers running and their sandbox holding the IP; nothing there is torn down.
   */
  partition(node: string): void {
    this.partitioned.add(node);
  }

  private spawn(uid: string, fn: () => Promise<void>): void {
    this.busy.add(uid);
    this.busySince.set(uid, Date.now());
    this.attempts.set(uid, (this.attempts.get(uid) ?? 0) + 1);
    const t = fn().finally(() => {
      this.busy.delete(uid);
      this.busySince.delete(uid);
      this.tasks.delete(t);
    });
    this.tasks.add(t);
  }

  /**
   * What the node side knows about a pod the checkpoint found without an IP: how often it was tried, the last
   * error, and whether an attempt is still under way (a call that does not return holds the pod until it does).
   */
  explain(pod: string): string {
    const [namespace, name] = pod.split('/');
    const uid = [...this.lastSeen.entries()].find(
      ([, p]) => p.metadata?.namespace === namespace && p.metadata?.name === name,
    )?.[0];
    if (!uid) return 'never listed by the node agent';
    const p = this.lastSeen.get(uid)!;
    const since = this.busySince.get(uid);
    return [
      `uid ${uid}`,
      p.spec?.nodeName ? `node ${p.spec.nodeName}` : 'not bound',
      `${this.attempts.get(uid) ?? 0} attempts`,
      since !== undefined ? `attempt under way for ${((Date.now() - since) / 1000).toFixed(1)} s` : 'idle',
      `last error: ${this.lastError.get(uid)?.slice(0, 200) ?? 'none'}`,
    ].join(', ');
  }

  private async tick(): Promise<void> {
    const pods = (await this.o.admin.core.listNamespacedPod({ namespace: this.o.namespace })).items;
    this.o.truth.observePods(pods);
    const now = Date.now();
    this.lastSeen.clear();
    for (const p of pods) this.lastSeen.set(p.metadata?.uid ?? '', p);
    this.tearDownVanished(now);
    for (const p of pods) {
      const uid = p.metadata?.uid ?? '';
      if (this.busy.has(uid) || (this.notBefore.get(uid) ?? 0) > now) continue;
      if (p.metadata?.deletionTimestamp) {
        if (this.partitioned.has(p.spec?.nodeName ?? '')) continue;
        this.spawn(uid, () => this.teardown(p));
      } else if (!p.spec?.nodeName) {
        this.spawn(uid, () => this.bind(p));
      } else if (!(p.status?.podIPs ?? []).length && alive(p)) {
        this.spawn(uid, () => this.setup(p));
      }
    }
  }

  private async bind(p: k8s.V1Pod): Promise<void> {
    const node = this.o.nodes[this.nextNode++ % this.o.nodes.length];
    try {
      await bindPod(this.o.admin.core, p.metadata!.namespace!, p.metadata!.name!, node);
    } catch (err) {
      if (apiErrorCode(err) !== 409) say('agent', `bind ${key(p)}: ${apiErrorMessage(err)}`);
    }
  }

  private failed(p: k8s.V1Pod, what: string, err: unknown): void {
    const uid = p.metadata!.uid!;
    const e = asWriteError(err);
    if (e.denied) this.stats.denied++;
    const msg = err instanceof CniError ? err.message : `${e.code ?? ''} ${e.message}`.trim();
    if (this.lastError.get(uid) !== msg || e.denied)
      say('agent', `${what} ${key(p)} failed (kubelet retries): ${msg.slice(0, 300)}`);
    this.lastError.set(uid, msg);
    this.notBefore.set(uid, Date.now() + (this.o.retryMs ?? 1000));
  }

  // ---- CNI ADD ------------------------------------------------------------------------------------------------

  private async setup(p: k8s.V1Pod): Promise<void> {
    try {
      const ip = await this.cmdAdd(p);
      if (!ip) return;
      this.sandboxes.set(p.metadata!.uid!, p);
      await this.reportNetwork(p, ip);
      this.stats.cmdAdd++;
      debug('agent', `cmdAdd ${key(p)} uid ${p.metadata!.uid} → ${ip}`);
      this.lastError.delete(p.metadata!.uid!);
    } catch (err) {
      this.stats.cmdAddFailed++;
      this.failed(p, 'cmdAdd', err);
    }
  }

  /** Returns the pod's IP, or undefined when the pod is no longer alive (cmdAdd refuses dead pods). */
  private async cmdAdd(stale: k8s.V1Pod): Promise<string | undefined> {
    const { agent, truth, pool } = this.o;
    const ns = stale.metadata!.namespace!;
    const name = stale.metadata!.name!;
    let pod: k8s.V1Pod;
    try {
      pod = await agent.core.readNamespacedPod({ namespace: ns, name });
    } catch (err) {
      if (apiErrorCode(err) === 404) return undefined;
      throw err;
    }
    const uid = pod.metadata!.uid!;
    if (uid !== stale.metadata!.uid || !alive(pod)) return undefined;
    const podKey = `${ns}/${name}`;
    const ep = await getEndpoint(agent.custom, ns, name);

    if (ep && ep.status.current.uid === uid) return endpointIps(ep)[0]?.ip; // cmdAdd retry: already allocated
    if (ep && stsOwner(pod) && isStaticEndpoint(ep)) {
      // A4 + A5: the static IP follows the name; records refreshed to the new uid, endpoint second.
      const ips = endpointIps(ep);
      for (const { ip, pool: epPool } of ips) {
        truth.hold(ip, podKey, uid);
        await updatePoolRecords(agent.custom, epPool, (records) => {
          const r = records[ip];
          if (!r) return undefined; // the hazard of A4: a missing record is silently accepted
          if (r.pod !== podKey)
            throw new CniError(`data broken: ${ip} in ${epPool} recorded for ${r.pod}, not ${podKey}`);
          if (r.podUid === uid) return undefined;
          records[ip] = { pod: podKey, podUid: uid };
          return records;
        });
      }
      ep.status.current.uid = uid;
      ep.status.current.node = pod.spec?.nodeName ?? '';
      await replaceEndpoint(agent.custom, ep);
      this.stats.staticReuse++;
      return ips[0]?.ip;
    }
    if (ep) throw new CniError(`IP allocation of ${podKey} is being recycled (endpoint uid ${ep.status.current.uid})`);

    // A1: first-fit from spec.ips minus excludeIPs minus existing keys (a record already under our uid is reused).
    let chosen: string | undefined;
    let hold: ReturnType<GroundTruth['hold']> | undefined;
    try {
      await updatePoolRecords(agent.custom, pool, (records) => {
        if (hold) truth.dropHold(hold);
        hold = undefined;
        const mine = Object.keys(records).find((ip) => records[ip].podUid === uid);
        if (mine) {
          chosen = mine;
          hold = truth.hold(mine, podKey, uid);
          return undefined;
        }
        chosen = this.poolIps.find((ip) => !records[ip]);
        if (!chosen) throw new CniError(`pool ${pool} exhausted`);
        records[chosen] = { pod: podKey, podUid: uid };
        hold = truth.hold(chosen, podKey, uid);
        return records;
      });
    } catch (err) {
      if (hold) truth.dropHold(hold);
      throw err;
    }
    const ip = chosen!;
    const top = topController(pod);
    const body: SpiderEndpoint = {
      apiVersion: `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`,
      kind: 'SpiderEndpoint',
      metadata: {
        name,
        namespace: ns,
        finalizers: [SPIDER_FINALIZER],
        ...(stsOwner(pod) ? {} : { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid }] }),
      },
      status: {
        current: {
          uid,
          node: pod.spec?.nodeName ?? '',
          ips: [{ interface: 'eth0', ipv4: `${ip}/${this.o.prefixLength}`, ipv4Pool: pool, vlan: 0 }],
        },
        ownerControllerType: top.kind,
        ownerControllerName: top.name,
      },
    };
    await createEndpoint(agent.custom, body);
    return ip;
  }

  /** multus writes network-status, kubelet writes podIPs and Running; both only for this very incarnation. */
  private async reportNetwork(p: k8s.V1Pod, ip: string): Promise<void> {
    const { admin } = this.o;
    const ns = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    const uid = p.metadata!.uid!;
    const status = JSON.stringify([
      {
        name: 'kube-system/macvlan-vlan0',
        interface: 'eth0',
        ips: [ip],
        mac: '02:00:00:00:00:01',
        default: true,
        dns: {},
      },
    ]);
    // metadata.uid in the patch makes it fail (uid is immutable) if the name now belongs to a new incarnation.
    await admin.core.patchNamespacedPod(
      { namespace: ns, name, body: { metadata: { uid, annotations: { [NETWORK_STATUS]: status } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    for (let attempt = 0; attempt < 5; attempt++) {
      const pod = await admin.core.readNamespacedPod({ namespace: ns, name });
      if (pod.metadata?.uid !== uid || pod.metadata?.deletionTimestamp) return;
      const now = new Date();
      pod.status = {
        ...(pod.status ?? {}),
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: '172.18.0.10',
        startTime: pod.status?.startTime ?? now,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'Initialized', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
          { type: 'Ready', status: 'True', lastTransitionTime: now },
        ],
      };
      try {
        await admin.core.replaceNamespacedPodStatus({ namespace: ns, name, body: pod });
        return;
      } catch (err) {
        if (apiErrorCode(err) !== 409) throw err;
      }
    }
  }

  // ---- CNI DEL and kubelet finishing the deletion ---------------------------------------------------------------

  private async teardown(p: k8s.V1Pod): Promise<void> {
    const uid = p.metadata!.uid!;
    this.sandboxes.delete(uid);
    if (!this.stopping.has(uid)) {
      // Containers get up to the grace period to stop; the sandbox (and its IP) stays until then: CNI DEL comes after.
      this.stopping.add(uid);
      await sleep(this.o.rng.delay((p.metadata?.deletionGracePeriodSeconds ?? 0) * 750));
    }
    if (!this.torn.has(uid)) {
      await this.reportStopped(p);
      this.o.truth.endHolds(uid); // the sandbox goes away now, whatever the IPAM bookkeeping does
      debug('agent', `cmdDel ${key(p)} uid ${uid}`);
      try {
        await this.cmdDel(p);
        this.stats.cmdDel++;
        this.torn.add(uid);
      } catch (err) {
        this.stats.cmdDelFailed++;
        const attempts = (this.delAttempts.get(uid) ?? 0) + 1;
        this.delAttempts.set(uid, attempts);
        this.failed(p, 'cmdDel', err);
        if (attempts < 10) return;
        say('agent', `cmdDel ${key(p)} abandoned after ${attempts} attempts; finishing the deletion anyway`);
        this.torn.add(uid);
      }
    }
    await sleep(this.o.rng.delay(this.o.finishDelayMaxMs ?? 200));
    debug('agent', `finish ${key(p)} uid ${uid}`);
    try {
      await this.o.admin.core.deleteNamespacedPod({
        namespace: p.metadata!.namespace!,
        name: p.metadata!.name!,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
    } catch (err) {
      const code = apiErrorCode(err);
      if (code !== 404 && code !== 409) say('agent', `finish ${key(p)}: ${apiErrorMessage(err)}`);
    }
  }

  /**
   * kubelet reports the containers it stopped (state.terminated) before the sandbox goes: the confirmation that lets
   * a release of the pod's IP through (docs/rules.md, Termination confirmed). Best effort: the pod may be gone.
   */
  private async reportStopped(p: k8s.V1Pod): Promise<void> {
    const { admin } = this.o;
    const namespace = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const pod = await admin.core.readNamespacedPod({ namespace, name });
        if (pod.metadata?.uid !== p.metadata?.uid) return;
        const now = new Date();
        pod.status = {
          ...(pod.status ?? {}),
          containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
            name: c.name,
            image: c.image ?? '',
            imageID: '',
            ready: false,
            restartCount: 0,
            started: false,
            state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: now } },
          })),
        };
        await admin.core.replaceNamespacedPodStatus({ namespace, name, body: pod });
        return;
      } catch (err) {
        if (apiErrorCode(err) !== 409) return;
      }
    }
  }

  private readonly delAttempts = new Map<string, number>();
  /** when each vanished sandbox was first noticed */
  private readonly vanishedAt = new Map<string, number>();

  /** Sandboxes whose pod object is gone without a teardown (force delete): CNI DEL after vanishedSandboxDelMs. */
  private tearDownVanished(now: number): void {
    const delay = this.o.vanishedSandboxDelMs;
    if (delay === undefined) return;
    for (const [uid, p] of this.sandboxes) {
      if (this.lastSeen.has(uid) || this.busy.has(uid)) continue;
      const since = this.vanishedAt.get(uid) ?? now;
      this.vanishedAt.set(uid, since);
      if (now - since < delay) continue;
      this.sandboxes.delete(uid);
      this.vanishedAt.delete(uid);
      this.spawn(uid, async () => {
        this.o.truth.endHolds(uid);
        try {
          await this.cmdDelOfVanished(p);
          this.stats.cmdDel++;
        } catch (err) {
          this.stats.cmdDelFailed++;
          say(
            'agent',
            `cmdDel of the vanished sandbox of ${key(p)} uid ${uid} failed (not retried): ${apiErrorMessage(err)}`,
          );
        }
      });
    }
  }

  /**
   * Spiderpool's `Release` (pkg/ipam/release.go) for a sandbox whose pod object is gone: it reads the pod by name and
   * does nothing while a pod of that name is alive, whatever its uid; so after a pod is recreated under its name the
   * old IPs stay recorded and the old endpoint keeps its finalizer (what the guard reports as BLOCKING_ENDPOINT).
   */
  private async cmdDelOfVanished(p: k8s.V1Pod): Promise<void> {
    const ns = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    try {
      const live = await this.o.agent.core.readNamespacedPod({ namespace: ns, name });
      if (alive(live)) {
        say(
          'agent',
          `cmdDel ${key(p)} uid ${p.metadata!.uid}: a pod of that name is alive (uid ${live.metadata?.uid}): IPs and endpoint kept`,
        );
        return;
      }
    } catch (err) {
      if (apiErrorCode(err) !== 404) throw err;
    }
    await this.cmdDel(p);
  }

  /** A9: release the endpoint's IPs when they are this incarnation's; keep a valid StatefulSet member's. */
  private async cmdDel(p: k8s.V1Pod): Promise<void> {
    const { agent } = this.o;
    const ns = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    let uid = p.metadata!.uid!;
    try {
      const live = await agent.core.readNamespacedPod({ namespace: ns, name });
      if (live.metadata?.uid === uid && alive(live)) return;
      if (live.metadata?.uid === uid) uid = live.metadata.uid;
    } catch (err) {
      if (apiErrorCode(err) !== 404) throw err;
    }
    const ep = await getEndpoint(agent.custom, ns, name);
    if (!ep) return;
    if (isStaticEndpoint(ep)) {
      if (await this.validStsMember(ns, name)) return;
      await deleteEndpointByName(agent.custom, ns, name);
    }
    if (ep.status.current.uid !== uid) return;
    const byPool = new Map<string, { ip: string; uid: string }[]>();
    for (const { ip, pool } of endpointIps(ep)) byPool.set(pool, [...(byPool.get(pool) ?? []), { ip, uid }]);
    for (const [pool, items] of byPool) await releaseIps(agent.custom, pool, items);
    await removeEndpointFinalizer(agent.custom, ep);
  }

  private validStsMember(ns: string, name: string): Promise<boolean> {
    return isValidStsMemberLive(this.o.agent.apps, ns, name);
  }
}
