/**
 * G00012 "Multiple resource types compete for a single IPPool" (Spiderpool's e2e case) with the delays scaled down: workloads
 * of 3 replicas on one pool with exactly as many IPs as replicas; phases create, scale (a random partition of the
 * total), restart (delete the pods) and delete, every action after a random delay from the seeded PRNG.
 * Differences: "kruise-like" workloads are Deployments; StatefulSets use podManagementPolicy Parallel; the scale
 * phase may first "flap" a StatefulSet down and back up quickly (G00011; docs/architecture.md#gc-races) when `flap` is set.
 * Between create and scale, `cycles()` repeats that down/up cycle, each time timed into the GC's trace window.
 */
import * as k8s from '@kubernetes/client-node';
import type { Clients } from '../../testbed/clients';
import type { GroundTruth } from '../../testbed/spiderpool/truth';
import { Prng, say, sleep } from '../../testbed/spiderpool/util';

export type WorkloadKind = 'StatefulSet' | 'Deployment';

export interface Workload {
  kind: WorkloadKind;
  name: string;
}

export const G00012_WORKLOADS: Workload[] = [
  { kind: 'StatefulSet', name: 'sts-a' },
  { kind: 'StatefulSet', name: 'sts-b' },
  { kind: 'Deployment', name: 'deploy-a' },
  { kind: 'Deployment', name: 'deploy-b' },
  { kind: 'Deployment', name: 'kruise-like-a' },
  { kind: 'Deployment', name: 'kruise-like-b' },
];

export const SMALL_WORKLOADS: Workload[] = [
  { kind: 'StatefulSet', name: 'sts-a' },
  { kind: 'Deployment', name: 'deploy-a' },
];

export interface ScenarioOptions {
  namespace: string;
  pool: string;
  admin: Clients;
  truth: GroundTruth;
  rng: Prng;
  workloads: Workload[];
  replicas: number;
  graceSeconds: number;
  /** StatefulSet pods' grace: the v0.9.4 GC traces a terminating pod until deletionTimestamp + grace (≈ 2 × grace) */
  stsGraceSeconds: number;
  maxDelayMs: number;
  /** cycles: how long a StatefulSet stays scaled down once its doomed pods are terminating (GC cache period + margin) */
  traceLeadMs: number;
  /** cycles: wait this long after the GC's trace entries for the cycled pods are done (two sampler periods) */
  cycleSettleMs: number;
  /** cycles: whether the GC still traces (or retries) one of these pod names; the next cycle waits for it */
  gcTracing?: (names: Iterable<string>) => boolean;
  readyTimeoutMs: number;
  /** scale phase: StatefulSets go down and quickly back up before their target (default true) */
  flap: boolean;
  /** called once during the scale phase, after a random delay: "delete a spiderpool-controller pod" */
  restartController?: () => Promise<void>;
}

const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export class ChaosScenario {
  readonly replicas = new Map<string, number>();

  constructor(private readonly o: ScenarioOptions) {}

  /** Alive pods expected once the current phase has settled. */
  expectedPods(): number {
    let n = 0;
    for (const v of this.replicas.values()) n += v;
    return n;
  }

  private template(w: Workload): k8s.V1PodTemplateSpec {
    return {
      metadata: {
        labels: { app: w.name, namespace: this.o.namespace },
        annotations: {
          'ipam.spidernet.io/ippool': JSON.stringify({ ipv4: [this.o.pool] }),
          'v1.multus-cni.io/default-network': 'kube-system/macvlan-vlan0',
        },
      },
      spec: {
        terminationGracePeriodSeconds: this.grace(w),
        containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', command: ['sleep', 'infinity'] }],
      },
    };
  }

  private grace(w: Workload): number {
    return w.kind === 'StatefulSet' ? this.o.stsGraceSeconds : this.o.graceSeconds;
  }

  private async afterDelay<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const d = this.o.rng.delay(this.o.maxDelayMs);
    await sleep(d);
    say(`scenario ${this.o.namespace}`, `${what} (after ${(d / 1000).toFixed(1)} s)`);
    return fn();
  }

  private async setReplicas(w: Workload, replicas: number): Promise<void> {
    const { admin, namespace, truth } = this.o;
    const params = { namespace, name: w.name, body: { spec: { replicas } } };
    if (w.kind === 'StatefulSet') {
      truth.setReplicas(namespace, w.name, replicas);
      await admin.apps.patchNamespacedStatefulSetScale(params, MERGE_PATCH);
    } else await admin.apps.patchNamespacedDeploymentScale(params, MERGE_PATCH);
    this.replicas.set(w.name, replicas);
  }

  async create(): Promise<void> {
    const { admin, namespace, truth, replicas } = this.o;
    await Promise.all(
      this.o.workloads.map((w) =>
        this.afterDelay(`create ${w.kind} ${w.name}`, async () => {
          const selector = { matchLabels: { app: w.name } };
          if (w.kind === 'StatefulSet') {
            truth.setReplicas(namespace, w.name, replicas);
            await admin.apps.createNamespacedStatefulSet({
              namespace,
              body: {
                metadata: { name: w.name },
                spec: {
                  replicas,
                  serviceName: w.name,
                  podManagementPolicy: 'Parallel',
                  selector,
                  template: this.template(w),
                },
              },
            });
          } else {
            await admin.apps.createNamespacedDeployment({
              namespace,
              body: { metadata: { name: w.name }, spec: { replicas, selector, template: this.template(w) } },
            });
          }
          this.replicas.set(w.name, replicas);
        }),
      ),
    );
  }

  /** A random partition of the total into one part per workload (first ones random, the last takes the rest). */
  partition(): number[] {
    let left = this.o.workloads.length * this.o.replicas;
    const parts = this.o.workloads.map((_, i) => {
      if (i === this.o.workloads.length - 1) return left;
      const n = this.o.rng.int(left + 1);
      left -= n;
      return n;
    });
    return parts;
  }

  /** Names of a StatefulSet's pods with ordinals in [from, to). */
  private ordinals(w: Workload, from: number, to: number): string[] {
    return Array.from({ length: Math.max(0, to - from) }, (_, i) => `${w.name}-${from + i}`);
  }

  private async podsOf(w: Workload): Promise<k8s.V1Pod[]> {
    return (await this.o.admin.core.listNamespacedPod({ namespace: this.o.namespace, labelSelector: `app=${w.name}` }))
      .items;
  }

  /** Polls until `done` holds for the workload's pods (or the timeout passes: the checkpoints report what is wrong). */
  private async waitPods(w: Workload, timeoutMs: number, done: (pods: k8s.V1Pod[]) => boolean): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (done(await this.podsOf(w))) return true;
      await sleep(100);
    }
    return false;
  }

  /**
   * `count` StatefulSet down/up cycles (all StatefulSets at once), each aimed at the pre-#3778 GC's trace window
   * (G00011's race, made to happen every time instead of by luck of the random delays):
   *  1. scale down to a random count: the StatefulSet controller deletes the doomed ordinals (deletionTimestamp =
   *     now + grace); while their ordinals are outside the set, the GC's pod cache sees them terminating and the
   *     GC traces them until deletionTimestamp + grace;
   *  2. once they are terminating, wait `traceLeadMs` (the GC's pod cache period + margin), then scale back up
   *     while they still are: their final deletion is then a valid member's, which builds no new trace entry, so
   *     the Terminating entry survives;
   *  3. the same names come back as new incarnations and get IPs (the static IP reused, or a fresh one if cmdDel
   *     ran while they were out of the set) well before the entry's deadline (2 × grace after the scale-down);
   *  4. at the deadline a GC that does not compare uids releases the new incarnation's IP and drops its
   *     endpoint: a live pod on an unrecorded IP, a conflict at the next allocation. Wait past the deadline and
   *     until the GC is done with the entry (a refused release is retried for a while: a retry landing in the next
   *     cycle would be another race than this one), then repeat.
   */
  async cycles(count: number): Promise<void> {
    const sets = this.o.workloads.filter((w) => w.kind === 'StatefulSet');
    for (let c = 1; c <= count; c++) {
      await Promise.all(sets.map((w) => this.cycle(w, c)));
    }
  }

  private async cycle(w: Workload, c: number): Promise<void> {
    const current = this.replicas.get(w.name) ?? 0;
    if (current < 1) return;
    const down = this.o.rng.int(current);
    const doomed = new Set(this.ordinals(w, down, current));
    const t0 = Date.now();
    say(`scenario ${this.o.namespace}`, `cycle ${c}: ${w.name} ${current}→${down}`);
    await this.setReplicas(w, down);
    const terminating = await this.waitPods(w, 10_000, (pods) =>
      pods.every((p) => !doomed.has(p.metadata?.name ?? '') || !!p.metadata?.deletionTimestamp),
    );
    await sleep(this.o.traceLeadMs);
    say(
      `scenario ${this.o.namespace}`,
      `cycle ${c}: ${w.name} ${down}→${current} (after ${((Date.now() - t0) / 1000).toFixed(1)} s${terminating ? '' : ', doomed pods not seen terminating'})`,
    );
    await this.setReplicas(w, current);
    const names = new Set(this.ordinals(w, 0, current));
    const back = await this.waitPods(w, this.o.readyTimeoutMs, (pods) => {
      const up = pods.filter(
        (p) =>
          names.has(p.metadata?.name ?? '') && !p.metadata?.deletionTimestamp && (p.status?.podIPs ?? []).length > 0,
      );
      return up.length === current;
    });
    if (!back) say(`scenario ${this.o.namespace}`, `cycle ${c}: ${w.name} not back to ${current} pods with IPs`);
    const traceDeadline = t0 + 2 * this.o.stsGraceSeconds * 1000;
    await sleep(Math.max(0, traceDeadline - Date.now()));
    const giveUp = Date.now() + 15_000;
    while (this.o.gcTracing?.(doomed) && Date.now() < giveUp) await sleep(200);
    await sleep(this.o.cycleSettleMs);
  }

  async scale(): Promise<void> {
    const parts = this.partition();
    say(
      `scenario ${this.o.namespace}`,
      `scale targets: ${this.o.workloads.map((w, i) => `${w.name}=${parts[i]}`).join(' ')}`,
    );
    const jobs = this.o.workloads.map(async (w, i) => {
      const target = parts[i];
      const current = this.replicas.get(w.name) ?? 0;
      const low = Math.min(current, target);
      if (this.o.flap && w.kind === 'StatefulSet' && low >= 1) {
        const down = this.o.rng.int(low);
        const hold = this.o.rng.delay(1500);
        await this.afterDelay(`flap ${w.name} ${current}→${down}`, () => this.setReplicas(w, down));
        await sleep(hold);
        say(`scenario ${this.o.namespace}`, `flap ${w.name} ${down}→${target} (after ${(hold / 1000).toFixed(1)} s)`);
        await this.setReplicas(w, target);
      } else {
        await this.afterDelay(`scale ${w.name} ${current}→${target}`, () => this.setReplicas(w, target));
      }
    });
    if (this.o.restartController)
      jobs.push(this.afterDelay('restart the spiderpool-controller', this.o.restartController));
    await Promise.all(jobs);
  }

  async restart(): Promise<void> {
    const { admin, namespace } = this.o;
    await Promise.all(
      this.o.workloads.map((w) =>
        this.afterDelay(`restart ${w.name} (delete its pods)`, () =>
          admin.core.deleteCollectionNamespacedPod({ namespace, labelSelector: `app=${w.name}` }),
        ),
      ),
    );
  }

  async delete(): Promise<void> {
    const { admin, namespace, truth } = this.o;
    await Promise.all(
      this.o.workloads.map((w) =>
        this.afterDelay(`delete ${w.kind} ${w.name}`, async () => {
          if (w.kind === 'StatefulSet') {
            truth.setReplicas(namespace, w.name, -1);
            await admin.apps.deleteNamespacedStatefulSet({ namespace, name: w.name, propagationPolicy: 'Background' });
          } else
            await admin.apps.deleteNamespacedDeployment({ namespace, name: w.name, propagationPolicy: 'Background' });
          this.replicas.set(w.name, 0);
        }),
      ),
    );
  }
}
