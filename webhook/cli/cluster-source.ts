// Where `check` and `reconcile` read the cluster from (a snapshot or a live cluster, listed twice to settle), which
// namespaces they report on, and how they print: the flags and helpers the two read commands share.
import { UsageError } from './errors';
import { ClusterView, StaticIpConfig } from '../model';
import { listClusterView, loadKubeConfigFile } from '../cluster';
import { DEFAULT_CLI_SETTLE_SECONDS } from '../reconciler';
import { STATIC_IP_FLAGS, TERMINATION_FLAGS, Values, policyFromFlags } from './args';
import { FlagTable } from './flags';

export const OUTPUTS = ['table', 'json'] as const;

/** Flags shared by check and reconcile. */
export const SOURCE_FLAGS: FlagTable = [
  { name: 'snapshot', type: 'string', arg: 'FILE', help: 'a cluster snapshot (kubectl get ... -A -o json); or:' },
  {
    name: 'kubeconfig',
    type: 'string',
    arg: 'FILES',
    help: "a live cluster: a kubeconfig, or a list of them joined by ':' (merged as kubectl merges $KUBECONFIG)",
  },
  {
    name: 'context',
    type: 'string',
    arg: 'NAME',
    help: 'live: use this context of the kubeconfig instead of its current-context',
  },
  {
    name: 'namespace',
    short: 'n',
    type: 'list',
    arg: 'NS[,NS...]',
    help: 'only what involves a pod or SpiderEndpoint in these namespaces; pool-level items (COUNT_MISMATCH, MALFORMED_POOL, FIX_COUNT) are left out. The whole cluster is still read and judged',
  },
  {
    name: 'output',
    type: 'string',
    arg: OUTPUTS.join('|'),
    default: OUTPUTS[0],
    help: 'table: grouped, for people; json: one JSON object per line',
  },
  {
    name: 'settle-seconds',
    type: 'string',
    arg: 'N',
    default: DEFAULT_CLI_SETTLE_SECONDS,
    help: 'live: list twice this far apart, keep what both lists show',
  },
  ...STATIC_IP_FLAGS,
  ...TERMINATION_FLAGS,
];

export type Source = { kind: 'snapshot'; path: string } | { kind: 'live'; kubeconfig: string; context?: string };

export function sourceOf(values: Values, command: string): Source {
  const snap = values.snapshot;
  const kube = values.kubeconfig;
  const context = typeof values.context === 'string' ? values.context : undefined;
  if (typeof snap === 'string' && typeof kube === 'string')
    throw new UsageError(`${command}: give either --snapshot or --kubeconfig, not both`);
  if (typeof snap === 'string') {
    if (context !== undefined)
      throw new UsageError(`${command}: --context needs --kubeconfig (a snapshot has no contexts)`);
    return { kind: 'snapshot', path: snap };
  }
  if (typeof kube === 'string') return { kind: 'live', kubeconfig: kube, context };
  throw new UsageError(`${command}: --snapshot FILE or --kubeconfig FILE is required`);
}

export function staticIpOf(values: Values): StaticIpConfig {
  return policyFromFlags(values).staticIp;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Views for a live cluster: one list, then (when settleSeconds > 0) a second one after the interval.
 * The caller keeps what both views agree on.
 */
export async function liveViews(
  source: { kubeconfig: string; context?: string },
  settleSeconds: number,
): Promise<ClusterView[]> {
  const kc = loadKubeConfigFile(source.kubeconfig, source.context);
  const first = await listClusterView(kc);
  if (settleSeconds <= 0) return [first];
  await sleep(settleSeconds * 1000);
  return [first, await listClusterView(kc)];
}

/** The --namespace values, comma lists split ([] = every namespace). */
export function namespacesOf(values: Values): string[] {
  const given = (values.namespace as string[] | undefined) ?? [];
  return given
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** The table's note on what --namespace left out (empty when nothing was). */
export function hiddenNote(hidden: number, namespaces: readonly string[], what: string): string {
  return hidden > 0 ? `(${hidden} ${what} not involving namespace(s) ${namespaces.join(', ')} not shown)\n` : '';
}

export function formatJsonLines(items: object[]): string {
  return items.map((i) => JSON.stringify(i)).join('\n') + (items.length ? '\n' : '');
}
