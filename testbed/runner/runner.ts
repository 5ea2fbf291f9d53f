/**
 * The test bed's kubelet stand-in, driven by watches on the API server:
 *
 *  - registers its Node (`runner`, Ready, heartbeat every 20 s; InternalIP = the bridge address);
 *  - binds every unscheduled pod (default scheduler) all of whose images it knows (images.ts) to that Node with a
 *    Binding, as a scheduler would; other pods stay Pending, exactly as before the runner existed;
 *  - runs the pods bound to its Node (pod-worker.ts) and forgets them when they are gone;
 *  - keeps Secret/ConfigMap volumes current (watch), /etc/hosts and the ClusterIP proxy current (Services and
 *    EndpointSlices, service-proxy.ts).
 *
 * Acts with the test bed's admin credentials (not a node identity: the Binding needs scheduler rights anyway).
 */
import * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { knownImage } from './images';
import { RUNNER_NODE, type TestbedNetwork } from './network';
import { PodWorker, type PodSources, type WorkerContext } from './pod-worker';
import { ServiceProxy } from './service-proxy';
import type { Allocatable, ObjectLookup } from './spec';

export interface RunnerOptions {
  kubeconfigPath: string;
  stateDir: string;
  net: TestbedNetwork;
  apiserverPort: number;
  nodeName?: string;
  log: (msg: string) => void;
}

const ALLOCATABLE: Allocatable = { cpu: '2', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' };

function decode(data: Record<string, string> | undefined, base64: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = base64 ? Buffer.from(v, 'base64').toString('utf8') : v;
  return out;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export class PodRunner {
  readonly nodeName: string;
  private readonly kc = new k8s.KubeConfig();
  private readonly core: k8s.CoreV1Api;
  private readonly discovery: k8s.DiscoveryV1Api;
  private readonly workers = new Map<string, PodWorker>();
  private readonly binding = new Set<string>();
  private readonly secrets = new Map<string, Record<string, string>>();
  private readonly configMaps = new Map<string, Record<string, string>>();
  private readonly proxy: ServiceProxy;
  private readonly informers: k8s.Informer<k8s.KubernetesObject>[] = [];
  private heartbeat?: NodeJS.Timeout;
  private index = 0;
  private stopping = false;
  private readonly podsDir: string;

  constructor(private readonly o: RunnerOptions) {
    this.nodeName = o.nodeName ?? RUNNER_NODE;
    this.kc.loadFromFile(o.kubeconfigPath);
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.discovery = this.kc.makeApiClient(k8s.DiscoveryV1Api);
    this.proxy = new ServiceProxy(o.net, o.log);
    this.podsDir = path.join(o.stateDir, 'pods');
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.podsDir, { recursive: true });
    await this.registerNode();
    this.heartbeat = setInterval(
      () => void this.nodeStatus().catch((err: Error) => this.o.log(`node heartbeat: ${err.message}`)),
      20_000,
    );
    await this.watch<k8s.V1Service>(
      '/api/v1/services',
      () => this.core.listServiceForAllNamespaces(),
      (type, svc) => {
        this.proxy.setService(svc, type !== 'delete');
        for (const w of this.workers.values()) w.refreshHosts();
      },
    );
    await this.watch<k8s.V1EndpointSlice>(
      '/apis/discovery.k8s.io/v1/endpointslices',
      () => this.discovery.listEndpointSliceForAllNamespaces(),
      (type, s) => this.proxy.setSlice(s, type !== 'delete'),
    );
    await this.watch<k8s.V1Secret>(
      '/api/v1/secrets',
      () => this.core.listSecretForAllNamespaces(),
      (type, s) => {
        const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
        if (type === 'delete') this.secrets.delete(key);
        else this.secrets.set(key, decode(s.data, true));
        if (type === 'update') this.refreshVolumes(s.metadata?.namespace, 'Secret', s.metadata?.name);
      },
    );
    await this.watch<k8s.V1ConfigMap>(
      '/api/v1/configmaps',
      () => this.core.listConfigMapForAllNamespaces(),
      (type, cm) => {
        const key = `${cm.metadata?.namespace}/${cm.metadata?.name}`;
        if (type === 'delete') this.configMaps.delete(key);
        else this.configMaps.set(key, decode(cm.data, false));
        if (type === 'update') this.refreshVolumes(cm.metadata?.namespace, 'ConfigMap', cm.metadata?.name);
      },
    );
    await this.watch<k8s.V1Pod>(
      '/api/v1/pods',
      () => this.core.listPodForAllNamespaces(),
      (type, pod) => this.onPod(type, pod),
    );
    this.o.log(
      `runner: node ${this.nodeName} ready; pods get IPs in ${this.o.net.podCidr}, API server at ${this.o.net.gatewayIp}:${this.o.apiserverPort}`,
    );
  }

  /** An informer that survives watch errors (it relists after a second, like a reflector). */
  private async watch<T extends k8s.KubernetesObject>(
    urlPath: string,
    list: () => Promise<k8s.KubernetesListObject<T>>,
    on: (type: 'add' | 'update' | 'delete', obj: T) => void,
  ): Promise<void> {
    const informer = k8s.makeInformer<T>(this.kc, urlPath, list);
    informer.on('add', (o) => on('add', o));
    informer.on('update', (o) => on('update', o));
    informer.on('delete', (o) => on('delete', o));
    informer.on('error', (err: unknown) => {
      if (this.stopping) return;
      this.o.log(`watch ${urlPath}: ${(err as Error)?.message ?? String(err)}; restarting in 1 s`);
      setTimeout(() => void informer.start().catch(() => {}), 1000);
    });
    this.informers.push(informer as unknown as k8s.Informer<k8s.KubernetesObject>);
    await informer.start();
  }

  private refreshVolumes(namespace: string | undefined, kind: 'Secret' | 'ConfigMap', name: string | undefined): void {
    if (!name) return;
    for (const w of this.workers.values()) if (w.namespace === namespace) w.refreshObject(kind, name);
  }

  private ours(pod: k8s.V1Pod): boolean {
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    return containers.length > 0 && containers.every((c) => knownImage(c.image) !== undefined);
  }

  private onPod(type: 'add' | 'update' | 'delete', pod: k8s.V1Pod): void {
    if (this.stopping) return;
    const uid = pod.metadata?.uid ?? '';
    const worker = this.workers.get(uid);
    if (type === 'delete') {
      void worker?.podGone();
      return;
    }
    if (!pod.spec?.nodeName) {
      if (
        pod.metadata?.deletionTimestamp ||
        !this.ours(pod) ||
        (pod.spec?.schedulerName ?? 'default-scheduler') !== 'default-scheduler'
      )
        return;
      if (!this.binding.has(uid)) void this.bind(pod);
      return;
    }
    if (pod.spec.nodeName !== this.nodeName) return;
    if (worker) {
      worker.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      // finished before we (re)started: only the final delete is left to do
      if (pod.metadata?.deletionTimestamp)
        void this.core
          .deleteNamespacedPod({ name: pod.metadata.name!, namespace: pod.metadata.namespace!, gracePeriodSeconds: 0 })
          .catch(() => {});
      return;
    }
    if (!this.ours(pod)) return;
    const w = new PodWorker(pod, this.context());
    this.workers.set(uid, w);
    void w.start();
    if (pod.metadata?.deletionTimestamp) w.update(pod);
  }

  private async bind(pod: k8s.V1Pod): Promise<void> {
    const { name, namespace, uid } = pod.metadata ?? {};
    if (!name || !namespace || !uid) return;
    this.binding.add(uid);
    try {
      await this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, namespace, uid },
          target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
        },
      });
      this.o.log(`bound ${namespace}/${name} to ${this.nodeName}`);
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 409 && code !== 404) this.o.log(`binding ${namespace}/${name} failed: ${(err as Error).message}`);
    } finally {
      setTimeout(() => this.binding.delete(uid), 60_000).unref();
    }
  }

  private context(): WorkerContext {
    return {
      core: this.core,
      net: this.o.net,
      nodeName: this.nodeName,
      apiserverPort: this.o.apiserverPort,
      podsDir: this.podsDir,
      allocatable: ALLOCATABLE,
      nextIndex: () => ++this.index,
      services: (ns) => this.proxy.list(ns),
      hostsFile: (name, ip, ns) => this.proxy.hostsFile(name, ip, ns),
      lookup: (ns): ObjectLookup => ({
        secret: (n) => this.secrets.get(`${ns}/${n}`),
        configMap: (n) => this.configMaps.get(`${ns}/${n}`),
      }),
      volumeSources: (pod) => this.volumeSources(pod),
      log: this.o.log,
      onGone: (uid) => this.workers.delete(uid),
    };
  }

  private volumeSources(pod: k8s.V1Pod): PodSources {
    const namespace = pod.metadata!.namespace!;
    const read = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    };
    return {
      secret: async (name) => {
        const s = await read(() => this.core.readNamespacedSecret({ name, namespace }));
        return s ? decode(s.data, true) : undefined;
      },
      configMap: async (name) => {
        const cm = await read(() => this.core.readNamespacedConfigMap({ name, namespace }));
        return cm ? decode(cm.data, false) : undefined;
      },
      token: async (audience, expirationSeconds) => {
        const res = await this.core.createNamespacedServiceAccountToken({
          name: pod.spec?.serviceAccountName ?? 'default',
          namespace,
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              audiences: audience ? [audience] : [],
              expirationSeconds,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
            },
          },
        });
        const exp = res.status?.expirationTimestamp;
        return {
          token: res.status?.token ?? '',
          expiresAtMs: exp ? new Date(exp).getTime() : Date.now() + expirationSeconds * 1000,
        };
      },
      now: () => Date.now(),
      allocatable: ALLOCATABLE,
    };
  }

  private async registerNode(): Promise<void> {
    try {
      await this.core.createNode({
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: this.nodeName,
            labels: {
              'kubernetes.io/hostname': this.nodeName,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
            },
          },
          spec: { podCIDR: this.o.net.podCidr, podCIDRs: [this.o.net.podCidr] },
        },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    await this.nodeStatus();
  }

  private async nodeStatus(): Promise<void> {
    const now = rfc3339(Date.now());
    const ready = {
      type: 'Ready',
      status: 'True',
      reason: 'KubeletReady',
      message: 'spiderpool-guard test bed process runner',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    };
    const node = await this.core.readNode({ name: this.nodeName });
    const prev = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (prev?.status === 'True' && prev.lastTransitionTime)
      ready.lastTransitionTime = rfc3339(new Date(prev.lastTransitionTime).getTime());
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            capacity: ALLOCATABLE,
            allocatable: ALLOCATABLE,
            addresses: [
              { type: 'InternalIP', address: this.o.net.gatewayIp },
              { type: 'Hostname', address: this.nodeName },
            ],
            conditions: [ready],
            nodeInfo: {
              machineID: '',
              systemUUID: '',
              bootID: '',
              kernelVersion: '',
              osImage: 'spiderpool-guard test bed (process runner)',
              containerRuntimeVersion: 'process://',
              kubeletVersion: 'v1.34.4',
              kubeProxyVersion: '',
              operatingSystem: 'linux',
              architecture: 'amd64',
            },
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  /** Stops every pod (SIGTERM, 3 s, SIGKILL), removes their sandboxes and the service addresses. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    for (const i of this.informers) await i.stop().catch(() => {});
    await Promise.all([...this.workers.values()].map((w) => w.shutdown(3000)));
    this.workers.clear();
    await this.proxy.stop();
  }
}
