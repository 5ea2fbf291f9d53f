/**
 * One pod on the runner's node, from sandbox to deletion, as the kubelet runs it: sandbox (network namespace + IP),
 * volumes, init containers one after the other, then the containers with their probes and restarts, status writes
 * after every change, and on deletion preStop → SIGTERM → grace period → SIGKILL, the final status and the
 * DELETE with grace period 0 that lets the API server remove the object.
 */
import * as k8s from '@kubernetes/client-node';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execInContainer, runProbe, startProcess, type Mount, type ProcessSpec } from './container';
import { knownImage, type KnownImage } from './images';
import { createSandbox, removeSandbox, type TestbedNetwork } from './network';
import {
  containerArgv,
  containerEnv,
  containerUser,
  probeStep,
  restartDelay,
  serviceLinkEnv,
  type Allocatable,
  type ObjectLookup,
  type ProbeCounts,
} from './spec';
import { PodVolumes, type VolumeSources } from './volumes';

/** Where a pod's volumes come from (the runner reads Secrets/ConfigMaps and requests tokens). */
export type PodSources = Omit<VolumeSources, 'onError'>;

/** What a pod worker needs from the runner. */
export interface WorkerContext {
  core: k8s.CoreV1Api;
  net: TestbedNetwork;
  nodeName: string;
  apiserverPort: number;
  podsDir: string;
  allocatable: Allocatable;
  nextIndex(): number;
  services(namespace: string): k8s.V1Service[];
  hostsFile(podName: string, podIp: string, namespace: string): string;
  lookup(namespace: string): ObjectLookup;
  volumeSources(pod: k8s.V1Pod): PodSources;
  log(msg: string): void;
  onGone(uid: string): void;
}

type ContainerPhase = 'waiting' | 'running' | 'terminated';

interface Termination {
  exitCode: number;
  signal?: string;
  reason: string;
  startedAt: string;
  finishedAt: string;
  containerID: string;
}

class ContainerRun {
  phase: ContainerPhase = 'waiting';
  waitingReason = 'ContainerCreating';
  waitingMessage?: string;
  proc?: ChildProcess;
  pid?: number;
  startedAtMs = 0;
  startedAt = '';
  restartCount = 0;
  ready = false;
  started = false;
  last?: Termination;
  current?: Termination;
  backoffMs = 0;
  exec?: ProcessSpec;
  timers: NodeJS.Timeout[] = [];
  killing = false;
  exited?: Promise<void>;

  constructor(
    readonly spec: k8s.V1Container,
    readonly image: KnownImage,
    readonly init: boolean,
  ) {}

  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export class PodWorker {
  private pod: k8s.V1Pod;
  private readonly uid: string;
  private readonly dir: string;
  private index = 0;
  private netns = '';
  private ip = '';
  private volumes?: PodVolumes;
  private readonly inits: ContainerRun[];
  private readonly mains: ContainerRun[];
  private initialized = false;
  private sandboxReady = false;
  private terminating = false;
  private finished = false;
  private gone = false;
  private readonly startTime = Date.now();
  private readonly transitions = new Map<string, { status: string; at: string }>();
  private statusTimer?: NodeJS.Timeout;
  private statusChain: Promise<void> = Promise.resolve();

  constructor(
    pod: k8s.V1Pod,
    private readonly ctx: WorkerContext,
  ) {
    this.pod = pod;
    this.uid = pod.metadata!.uid!;
    this.dir = path.join(ctx.podsDir, `${pod.metadata!.namespace}_${pod.metadata!.name}_${this.uid}`);
    const run = (c: k8s.V1Container, init: boolean) => new ContainerRun(c, knownImage(c.image)!, init);
    this.inits = (pod.spec?.initContainers ?? []).map((c) => run(c, true));
    this.mains = (pod.spec?.containers ?? []).map((c) => run(c, false));
  }

  private get name(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  get namespace(): string | undefined {
    return this.pod.metadata?.namespace;
  }

  /** A newer version of the pod from the watch. */
  update(pod: k8s.V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) void this.terminate();
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    try {
      this.index = this.ctx.nextIndex();
      const sandbox = await createSandbox(this.ctx.net, this.index);
      this.netns = sandbox.netns;
      this.ip = sandbox.ip;
      this.sandboxReady = true;
      fs.writeFileSync(
        this.hostsPath(),
        this.ctx.hostsFile(this.pod.metadata!.name!, this.ip, this.pod.metadata!.namespace!),
      );
      this.ctx.log(`${this.name}: sandbox ${this.netns}, IP ${this.ip}`);
    } catch (err) {
      this.ctx.log(`${this.name}: sandbox failed: ${(err as Error).message}`);
      for (const c of [...this.inits, ...this.mains]) c.waitingMessage = (err as Error).message;
      this.syncStatus();
      return;
    }
    this.syncStatus();
    this.volumes = new PodVolumes(this.pod, path.join(this.dir, 'volumes'), {
      ...this.ctx.volumeSources(this.pod),
      onError: (volume, err) => this.ctx.log(`${this.name}: volume ${volume}: ${err.message}`),
    });
    for (;;) {
      if (this.terminating) return;
      try {
        await this.volumes.setup();
        break;
      } catch (err) {
        // the kubelet keeps retrying the mount (e.g. until a missing Secret appears)
        for (const c of [...this.inits, ...this.mains]) {
          c.waitingReason = 'ContainerCreating';
          c.waitingMessage = (err as Error).message;
        }
        this.syncStatus();
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    for (const c of this.inits) {
      if (this.terminating) return;
      const ok = await this.runInitToCompletion(c);
      if (!ok) return;
    }
    this.initialized = true;
    for (const c of this.mains) this.launch(c);
    this.syncStatus();
  }

  private hostsPath(): string {
    return path.join(this.dir, 'etc-hosts');
  }

  /** Rewrites /etc/hosts in place (the bind mount keeps pointing at the same file). */
  refreshHosts(): void {
    if (!this.sandboxReady || this.finished) return;
    try {
      fs.writeFileSync(
        this.hostsPath(),
        this.ctx.hostsFile(this.pod.metadata!.name!, this.ip, this.pod.metadata!.namespace!),
      );
    } catch {
      /* pod directory gone */
    }
  }

  refreshObject(kind: 'Secret' | 'ConfigMap', name: string): void {
    void this.volumes?.refresh(kind, name);
  }

  private async runInitToCompletion(c: ContainerRun): Promise<boolean> {
    for (;;) {
      this.launch(c);
      await c.exited;
      if (this.terminating) return false;
      if (c.current?.exitCode === 0) return true;
      if (this.pod.spec?.restartPolicy === 'Never') {
        this.finish();
        return false;
      }
      const { delayMs, nextBackoffMs } = restartDelay(c.backoffMs, Date.now() - c.startedAtMs);
      c.backoffMs = nextBackoffMs;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  private processSpec(c: ContainerRun): ProcessSpec {
    const pod = this.pod;
    const ns = pod.metadata!.namespace!;
    const live = {
      ...pod,
      status: {
        ...(pod.status ?? {}),
        podIP: this.ip,
        podIPs: [{ ip: this.ip }],
        hostIP: this.ctx.net.gatewayIp,
        hostIPs: [{ ip: this.ctx.net.gatewayIp }],
      },
    };
    const host = this.ctx.net.gatewayIp;
    const port = String(this.ctx.apiserverPort);
    const serviceEnv: Record<string, string> = {
      ...(pod.spec?.enableServiceLinks === false ? {} : serviceLinkEnv(this.ctx.services(ns))),
      // The API server, where the namespaces reach it (the host end of the pod network), not a ClusterIP.
      KUBERNETES_SERVICE_HOST: host,
      KUBERNETES_SERVICE_PORT: port,
      KUBERNETES_SERVICE_PORT_HTTPS: port,
      KUBERNETES_PORT: `tcp://${host}:${port}`,
      [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${host}:${port}`,
      [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp',
      [`KUBERNETES_PORT_${port}_TCP_PORT`]: port,
      [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
    };
    const env = containerEnv(live, c.spec, c.image, serviceEnv, this.ctx.lookup(ns), this.ctx.allocatable);
    const user = containerUser(pod, c.spec, c.image);
    const imageFiles: Mount[] = (c.image.files ?? []).map((f) => ({ ...f, readOnly: true }));
    const mounts: Mount[] = [
      ...imageFiles,
      ...(c.spec.volumeMounts ?? []).map((vm) => ({
        hostPath: path.join(this.volumes!.dir(vm.name), vm.subPath ?? ''),
        mountPath: vm.mountPath,
        readOnly: vm.readOnly === true,
      })),
    ];
    if (!pod.spec?.hostNetwork) mounts.push({ hostPath: this.hostsPath(), mountPath: '/etc/hosts', readOnly: false });
    const sc = c.spec.securityContext;
    const logDir = path.join(this.dir, c.spec.name);
    fs.mkdirSync(logDir, { recursive: true });
    return {
      netns: this.netns,
      argv: containerArgv(c.spec, c.image, env),
      env,
      cwd: c.spec.workingDir ?? c.image.workingDir,
      ...user,
      mounts,
      readOnlyRootFilesystem: sc?.readOnlyRootFilesystem === true,
      noNewPrivs: sc?.allowPrivilegeEscalation === false,
      dropAllCapabilities: (sc?.capabilities?.drop ?? []).includes('ALL'),
      logFile: path.join(logDir, `${c.restartCount}.log`),
    };
  }

  private launch(c: ContainerRun): void {
    if (this.terminating) return;
    let spec: ProcessSpec;
    try {
      spec = this.processSpec(c);
    } catch (err) {
      c.phase = 'waiting';
      c.waitingReason = 'CreateContainerConfigError';
      c.waitingMessage = (err as Error).message;
      this.ctx.log(`${this.name}/${c.spec.name}: ${c.waitingMessage}`);
      this.syncStatus();
      c.exited = new Promise((resolve) => {
        const t = setTimeout(() => {
          this.launch(c);
          void c.exited!.then(resolve);
        }, 2000);
        c.timers.push(t);
      });
      return;
    }
    c.exec = spec;
    const proc = startProcess(spec);
    c.proc = proc;
    c.pid = proc.pid;
    c.phase = 'running';
    c.waitingMessage = undefined;
    c.startedAtMs = Date.now();
    c.startedAt = rfc3339(c.startedAtMs);
    c.ready = false;
    c.started = false;
    c.killing = false;
    this.ctx.log(
      `${this.name}/${c.spec.name}: started pid ${proc.pid} (restart ${c.restartCount}): ${spec.argv.join(' ')}`,
    );
    c.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.onExit(c, code, signal);
        resolve();
      });
      proc.once('error', (err) => {
        this.ctx.log(`${this.name}/${c.spec.name}: spawn failed: ${err.message}`);
      });
    });
    if (!c.init) this.startProbes(c);
    this.syncStatus();
  }

  private onExit(c: ContainerRun, code: number | null, signal: NodeJS.Signals | null): void {
    c.clearTimers();
    const exitCode = code ?? 128 + (signal ? (k8s_signal_numbers[signal] ?? 9) : 9);
    c.current = {
      exitCode,
      signal: signal ?? undefined,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt: c.startedAt,
      finishedAt: rfc3339(Date.now()),
      containerID: `process://${c.pid}`,
    };
    c.phase = 'terminated';
    c.ready = false;
    c.proc = undefined;
    this.ctx.log(`${this.name}/${c.spec.name}: pid ${c.pid} exited (${signal ?? `code ${code}`})`);
    if (c.init || this.terminating) {
      this.syncStatus();
      return;
    }
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const restart = policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (!restart) {
      if (this.mains.every((m) => m.phase === 'terminated')) this.finish();
      else this.syncStatus();
      return;
    }
    const { delayMs, nextBackoffMs } = restartDelay(c.backoffMs, Date.now() - c.startedAtMs);
    c.backoffMs = nextBackoffMs;
    c.last = c.current;
    c.restartCount++;
    if (delayMs > 0) {
      c.phase = 'waiting';
      c.waitingReason = 'CrashLoopBackOff';
      c.waitingMessage = `back-off ${delayMs / 1000}s restarting failed container=${c.spec.name} pod=${this.pod.metadata?.name}`;
    }
    this.syncStatus();
    const t = setTimeout(() => this.launch(c), delayMs);
    c.timers.push(t);
  }

  private startProbes(c: ContainerRun): void {
    const { startupProbe, livenessProbe, readinessProbe } = c.spec;
    /**
     * Probes a container every periodSeconds. The result flips to success after successThreshold consecutive
     * successes and to failure after failureThreshold consecutive failures; in between it stays what it was (a
     * readiness probe starts as failure). onResult is called on every flip and says whether to keep probing.
     */
    const loop = (probe: k8s.V1Probe, onResult: (ok: boolean, message: string) => boolean) => {
      let counts: ProbeCounts = { successes: 0, failures: 0, result: undefined };
      const tick = async () => {
        if (c.phase !== 'running' || c.killing || this.terminating) return;
        const r = await runProbe(probe, this.ip, c.spec, c.pid, c.exec!);
        if (c.phase !== 'running' || c.killing || this.terminating) return;
        const next = probeStep(counts, r.ok, probe);
        const flipped = next.result !== undefined && next.result !== counts.result;
        counts = next;
        const more = flipped ? onResult(next.result!, r.message) : true;
        if (more) c.timers.push(setTimeout(() => void tick(), (probe.periodSeconds ?? 10) * 1000));
      };
      c.timers.push(setTimeout(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000));
    };
    const afterStartup = () => {
      c.started = true;
      if (readinessProbe) {
        loop(readinessProbe, (ok) => {
          if (ok !== c.ready) {
            c.ready = ok;
            this.syncStatus();
          }
          return true;
        });
      } else {
        c.ready = true;
      }
      if (livenessProbe) {
        loop(livenessProbe, (ok, message) => {
          if (ok) return true;
          this.ctx.log(`${this.name}/${c.spec.name}: liveness probe failed (${message}): restarting`);
          void this.killContainer(
            c,
            livenessProbe.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30,
          );
          return false;
        });
      }
      this.syncStatus();
    };
    if (startupProbe) {
      loop(startupProbe, (ok, message) => {
        if (ok) {
          afterStartup();
          return false;
        }
        this.ctx.log(`${this.name}/${c.spec.name}: startup probe failed (${message}): restarting`);
        void this.killContainer(
          c,
          startupProbe.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30,
        );
        return false;
      });
    } else {
      afterStartup();
    }
  }

  /** SIGTERM, then SIGKILL after graceSeconds; resolves when the process is gone. */
  private async killContainer(c: ContainerRun, graceSeconds: number): Promise<void> {
    const proc = c.proc;
    if (!proc || c.phase !== 'running') return;
    c.killing = true;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), Math.max(0, graceSeconds) * 1000);
    await c.exited;
    clearTimeout(timer);
  }

  private async preStop(c: ContainerRun, deadline: number): Promise<void> {
    const hook = c.spec.lifecycle?.preStop;
    if (!hook || c.phase !== 'running') return;
    const remaining = Math.max(0, deadline - Date.now());
    if (hook.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(remaining, hook.sleep!.seconds * 1000)));
    } else if (hook.exec && c.pid !== undefined) {
      await execInContainer(c.pid, c.exec!, hook.exec.command ?? [], remaining);
    } else if (hook.httpGet) {
      await runProbe(
        { httpGet: hook.httpGet, timeoutSeconds: Math.ceil(remaining / 1000) },
        this.ip,
        c.spec,
        c.pid,
        c.exec!,
      );
    }
  }

  /** Graceful deletion: preStop, SIGTERM, the rest of the grace period, SIGKILL; final status; DELETE grace 0. */
  private async terminate(): Promise<void> {
    this.terminating = true;
    const grace = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    const deadline = Date.now() + grace * 1000;
    this.ctx.log(`${this.name}: deletion requested (grace ${grace}s)`);
    for (const c of [...this.inits, ...this.mains]) c.clearTimers();
    for (const c of this.mains) if (c.ready) c.ready = false;
    this.syncStatus();
    await Promise.all(
      [...this.inits, ...this.mains].map(async (c) => {
        await this.preStop(c, deadline);
        // the kubelet gives at least 2 s after a preStop hook used up the grace period
        await this.killContainer(c, Math.max(2, (deadline - Date.now()) / 1000));
      }),
    );
    if (this.gone) return;
    this.finish();
    await this.flushStatus();
    for (let attempt = 1; !this.gone; attempt++) {
      try {
        await this.ctx.core.deleteNamespacedPod({
          name: this.pod.metadata!.name!,
          namespace: this.pod.metadata!.namespace!,
          // in the body: with a body, the API server ignores the query's gracePeriodSeconds
          body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        });
        this.ctx.log(`${this.name}: containers stopped, final status written, deleted`);
        return;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) return;
        this.ctx.log(`${this.name}: final delete failed (attempt ${attempt}): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Resolves once every status change made so far has been written. */
  private async flushStatus(): Promise<void> {
    while (this.statusTimer) await new Promise((r) => setTimeout(r, 20));
    await this.statusChain;
  }

  /** The object is gone from the API server (deleted with grace 0, or after our final delete): kill and clean up. */
  async podGone(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    this.terminating = true;
    for (const c of [...this.inits, ...this.mains]) {
      c.clearTimers();
      c.proc?.kill('SIGKILL');
    }
    await Promise.all([...this.inits, ...this.mains].map((c) => (c.proc ? c.exited : undefined)));
    await this.release();
    this.ctx.onGone(this.uid);
  }

  /** Runner shutdown: SIGTERM, a short grace, SIGKILL, sandbox removed (objects stay as they are). */
  async shutdown(graceMs: number): Promise<void> {
    this.gone = true;
    this.terminating = true;
    await Promise.all([...this.inits, ...this.mains].map((c) => this.killContainer(c, graceMs / 1000)));
    await this.release();
  }

  private async release(): Promise<void> {
    clearTimeout(this.statusTimer);
    this.volumes?.stop();
    if (this.sandboxReady) await removeSandbox(this.ctx.net, this.index);
    this.sandboxReady = false;
    fs.rmSync(path.join(this.dir, 'volumes'), { recursive: true, force: true });
  }

  /** All containers done for good (restartPolicy, or deletion): the terminal phase. */
  private finish(): void {
    this.finished = true;
    this.syncStatus();
  }

  private condition(type: string, value: boolean, reason?: string): k8s.V1PodCondition {
    const status = value ? 'True' : 'False';
    const prev = this.transitions.get(type);
    const at = prev && prev.status === status ? prev.at : rfc3339(Date.now());
    this.transitions.set(type, { status, at });
    return { type, status, lastTransitionTime: at as unknown as Date, ...(reason && !value ? { reason } : {}) };
  }

  private containerStatus(c: ContainerRun): k8s.V1ContainerStatus {
    const state: k8s.V1ContainerState =
      c.phase === 'running'
        ? { running: { startedAt: c.startedAt as unknown as Date } }
        : c.phase === 'terminated' && c.current
          ? {
              terminated: {
                exitCode: c.current.exitCode,
                reason: c.current.reason,
                startedAt: c.current.startedAt as unknown as Date,
                finishedAt: c.current.finishedAt as unknown as Date,
                containerID: c.current.containerID,
                ...(c.current.signal ? { signal: k8s_signal_numbers[c.current.signal] } : {}),
              },
            }
          : { waiting: { reason: c.waitingReason, ...(c.waitingMessage ? { message: c.waitingMessage } : {}) } };
    const last = c.last
      ? {
          terminated: {
            exitCode: c.last.exitCode,
            reason: c.last.reason,
            startedAt: c.last.startedAt as unknown as Date,
            finishedAt: c.last.finishedAt as unknown as Date,
            containerID: c.last.containerID,
          },
        }
      : {};
    return {
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: c.spec.image ?? '',
      ...(c.pid !== undefined ? { containerID: `process://${c.pid}` } : {}),
      ready: c.ready && c.phase === 'running',
      started: c.phase === 'running' && c.started,
      restartCount: c.restartCount,
      state,
      lastState: last,
    };
  }

  private buildStatus(): k8s.V1PodStatus {
    const mains = this.mains;
    const allReady = !this.terminating && !this.finished && mains.every((c) => c.ready && c.phase === 'running');
    let phase: string = 'Pending';
    if (this.finished) {
      const ok = mains.every((c) => c.phase === 'terminated' && c.current?.exitCode === 0) && this.initialized;
      phase = ok ? 'Succeeded' : 'Failed';
    } else if (this.initialized && mains.some((c) => c.phase === 'running' || c.restartCount > 0)) {
      phase = 'Running';
    }
    return {
      phase,
      hostIP: this.ctx.net.gatewayIp,
      hostIPs: [{ ip: this.ctx.net.gatewayIp }],
      ...(this.ip ? { podIP: this.ip, podIPs: [{ ip: this.ip }] } : {}),
      startTime: rfc3339(this.startTime) as unknown as Date,
      conditions: [
        this.condition('PodReadyToStartContainers', this.sandboxReady),
        this.condition('Initialized', this.initialized, 'ContainersNotInitialized'),
        this.condition('Ready', allReady, 'ContainersNotReady'),
        this.condition('ContainersReady', allReady, 'ContainersNotReady'),
        this.condition('PodScheduled', true),
      ],
      ...(this.inits.length ? { initContainerStatuses: this.inits.map((c) => this.containerStatus(c)) } : {}),
      containerStatuses: mains.map((c) => this.containerStatus(c)),
    };
  }

  /** Writes pods/status soon (changes within 50 ms are written once), in order, never after the pod is gone. */
  syncStatus(): void {
    if (this.statusTimer || this.gone) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      if (this.gone) return;
      const status = this.buildStatus();
      this.statusChain = this.statusChain.then(async () => {
        try {
          await this.ctx.core.patchNamespacedPodStatus(
            {
              name: this.pod.metadata!.name!,
              namespace: this.pod.metadata!.namespace!,
              body: { metadata: { uid: this.uid }, status },
            },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          );
        } catch (err) {
          const code = (err as { code?: number }).code;
          if (code !== 404 && code !== 409)
            this.ctx.log(`${this.name}: status write failed: ${(err as Error).message}`);
        }
      });
    }, 50);
  }
}

/** Signal numbers on Linux, for exit codes (128 + n) and terminated.signal. */
const k8s_signal_numbers: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};
