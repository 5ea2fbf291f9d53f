/**
 * Helpers for e2e tests of the Helm chart (charts/spiderpool-guard): render with the test bed's pinned helm
 * (HELM_BIN wins) and apply the rendered objects to the test bed.
 */
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ensureHelm } from '../../../testbed/binaries';
import { apiErrorCode } from '../../../testbed/clients';

const run = promisify(execFile);
export const CHART_DIR = path.resolve(__dirname, '../../../charts/spiderpool-guard');

export type Rendered = k8s.KubernetesObject & Record<string, unknown>;

/** `helm template <release> charts/spiderpool-guard -n <namespace> --set k=v ...` parsed into objects. */
export async function renderChart(
  release: string,
  namespace: string,
  set: Record<string, string | number | boolean> = {},
): Promise<Rendered[]> {
  const helm = await ensureHelm();
  const args = ['template', release, CHART_DIR, '--namespace', namespace];
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${String(v)}`);
  const { stdout } = await run(helm, args, { maxBuffer: 16 * 1024 * 1024 });
  return (k8s.loadAllYaml(stdout) as Array<Rendered | null>).filter(
    (o): o is Rendered => o !== null && typeof o === 'object',
  );
}

/** helm template's stderr when rendering fails, or undefined when it succeeds. */
export async function renderError(set: Record<string, string | number | boolean>): Promise<string | undefined> {
  try {
    await renderChart('bad', 'bad-ns', set);
    return undefined;
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
}

export function findObject(objs: Rendered[], kind: string, name?: string): Rendered {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!o) throw new Error(`rendered chart has no ${kind}${name ? ` ${name}` : ''}`);
  return o;
}

const CLUSTER_SCOPED = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

/** Creates the objects (or server-side dry-runs those whose kind is in dryRunKinds); cleanup deletes the cluster-scoped ones. */
export async function applyObjects(
  objectsApi: k8s.KubernetesObjectApi,
  objs: Rendered[],
  dryRunKinds: ReadonlySet<string> = new Set(),
): Promise<{ created: Rendered[]; dryRun: Rendered[]; cleanup: () => Promise<void> }> {
  const created: Rendered[] = [];
  const dryRun: Rendered[] = [];
  for (const o of objs) {
    if (dryRunKinds.has(o.kind ?? '')) {
      await objectsApi.create(o, undefined, 'All');
      dryRun.push(o);
    } else {
      await objectsApi.create(o);
      created.push(o);
    }
  }
  const cleanup = async () => {
    for (const o of [...created].reverse()) {
      if (!CLUSTER_SCOPED.has(o.kind ?? '')) continue; // namespaced ones go with the test namespace
      try {
        await objectsApi.delete(o);
      } catch (err) {
        if (apiErrorCode(err) !== 404) throw err;
      }
    }
  };
  return { created, dryRun, cleanup };
}
