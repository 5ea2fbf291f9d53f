/**
 * G00012 "Multiple resource types compete for a single IPPool" (facts §6.2) with the delays scaled down: workloads
 * of 3 replicas on one pool with exactly as many IPs as replicas; phases create, scale (a random partition of the
 * total), restart (delete the pods) and delete, every action after a random delay from the seeded PRNG.
 * Differences: "kruise-like" workloads are Deployments; StatefulSets use podManagementPolicy Parallel; the scale
 * phase may first "flap" a StatefulSet down and back up quickly (G00011, facts §4.4 symptom 1) when `flap` is set.
 */
import * as k8s from '@kubernetes/client-node';
import type { Clients } from '../../test/e2e/support';
import type { GroundTruth } from './truth';
import { Prng, say, sleep } from './util';

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
  maxDelayMs: number;
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
      spec: { terminationGracePeriodSeconds: this.o.graceSeconds, containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', command: ['sleep', 'infinity'] }] },
    };
  }

  private async afterDelay<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const d = this.o.rng.delay(this.o.maxDelayMs);
    await sleep(d);
    say('scenario', `${what} (after ${(d / 1000).toFixed(1)} s)`);
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
              body: { metadata: { name: w.name }, spec: { replicas, serviceName: w.name, podManagementPolicy: 'Parallel', selector, template: this.template(w) } },
            });
          } else {
            await admin.apps.createNamespacedDeployment({ namespace, body: { metadata: { name: w.name }, spec: { replicas, selector, template: this.template(w) } } });
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

  async scale(): Promise<void> {
    const parts = this.partition();
    say('scenario', `scale targets: ${this.o.workloads.map((w, i) => `${w.name}=${parts[i]}`).join(' ')}`);
    const jobs = this.o.workloads.map(async (w, i) => {
      const target = parts[i];
      const current = this.replicas.get(w.name) ?? 0;
      const low = Math.min(current, target);
      if (this.o.flap && w.kind === 'StatefulSet' && low >= 1) {
        const down = this.o.rng.int(low);
        const hold = this.o.rng.delay(1500);
        await this.afterDelay(`flap ${w.name} ${current}→${down}`, () => this.setReplicas(w, down));
        await sleep(hold);
        say('scenario', `flap ${w.name} ${down}→${target} (after ${(hold / 1000).toFixed(1)} s)`);
        await this.setReplicas(w, target);
      } else {
        await this.afterDelay(`scale ${w.name} ${current}→${target}`, () => this.setReplicas(w, target));
      }
    });
    if (this.o.restartController) jobs.push(this.afterDelay('restart the spiderpool-controller', this.o.restartController));
    await Promise.all(jobs);
  }

  async restart(): Promise<void> {
    const { admin, namespace } = this.o;
    await Promise.all(
      this.o.workloads.map((w) =>
        this.afterDelay(`restart ${w.name} (delete its pods)`, () => admin.core.deleteCollectionNamespacedPod({ namespace, labelSelector: `app=${w.name}` })),
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
          } else await admin.apps.deleteNamespacedDeployment({ namespace, name: w.name, propagationPolicy: 'Background' });
          this.replicas.set(w.name, 0);
        }),
      ),
    );
  }
}
