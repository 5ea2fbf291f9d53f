// `reconcile --once`: one reconcile pass (contract §6, §8). Against a snapshot it only prints the plan; against a
// live cluster it lists twice (settle), plans, and executes the actions both lists agree on (or, with --dry-run,
// re-reads and judges them without writing).
import pino from 'pino';
import { UsageError } from '../guard/policy';
import { loadSnapshot } from '../cluster/snapshot';
import { loadKubeConfigFile } from '../cluster/list-view';
import { createLogger } from '../audit/logger';
import { Executor, KubeReconcileClient } from '../reconciler/executor';
import { Action, BlockedAction, actionKey, plan } from '../reconciler/plan';
import { reconcilerUser } from '../reconciler/selfcheck';
import { DEFAULT_CLI_SETTLE_SECONDS } from '../reconciler/settle';
import { SOURCE_OPTIONS, formatJsonLines, liveViews, sourceOf, staticIpOf } from './check';
import { intFlag, oneOf, parse } from './args';

export const RECONCILE_HELP = `Usage: spiderpool-guard reconcile --once [--dry-run] (--snapshot FILE | --kubeconfig FILE) [--output table|json]
                                 [--settle-seconds N] [--max-writes-per-second N] [--namespace NS] [--no-events]
                                 [--statefulset-static-ip true|false] [--kubevirt-static-ip true|false]

One reconcile pass: RELEASE_IP, DELETE_ENDPOINT, RESTORE_RECORD and FIX_COUNT actions (contract §8).
With a snapshot it is always a dry run: the planned actions are printed. Against a live cluster everything is
listed twice, --settle-seconds apart (default ${DEFAULT_CLI_SETTLE_SECONDS}), and only actions both lists call for are taken; each
write re-reads its object, is conditional (resourceVersion / delete preconditions) and passes the guard's own rules.
  --dry-run                 re-read and judge, write nothing
  --namespace NS            namespace of the spiderpool-guard service account (self-check identity; default kube-system)
  --max-writes-per-second   rate limit of writes (default 5)
  --no-events               do not emit Kubernetes Events
  --output json             one JSON object per line: action, reason, the objects involved, result
Exit 0: every planned action was done, or only planned (dry run, snapshot), or is no longer needed (stale, gone,
deferred); 1: an action failed, was blocked, or kept conflicting; 2: could not run (flags, snapshot, kubeconfig,
API server unreachable).`;

interface Row extends Action {
  result?: string;
  detail?: string;
  dryRun?: boolean;
}

function objects(a: Action): string {
  const parts: string[] = [];
  if (a.ip) parts.push(`IP ${a.ip}`);
  if (a.pool) parts.push(`pool ${a.pool}`);
  if (a.record) parts.push(`record ${a.record.pod} uid ${a.record.podUid}`);
  if (a.endpoint) parts.push(`endpoint ${a.endpoint.name} uid ${a.endpoint.objectUid} current.uid ${a.endpoint.podUid}`);
  for (const p of a.pods ?? []) parts.push(`pod ${p.name} uid ${p.uid} ${p.phase || 'Unknown'}`);
  if (a.action === 'FIX_COUNT') parts.push(`allocatedIPCount ${a.allocatedIPCount ?? 'unset'} → ${a.records}`);
  return parts.join(' | ');
}

function formatTable(rows: Row[]): string {
  if (rows.length === 0) return 'No actions: nothing to reconcile.\n';
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(`${r.action} ${r.reason}${r.result ? ` → ${r.result}` : ''}`);
    lines.push(`  ${objects(r)}`);
    lines.push(`  ${r.message}${r.detail ? ` (${r.detail})` : ''}`);
  }
  const by = new Map<string, number>();
  for (const r of rows) by.set(r.result ?? 'planned', (by.get(r.result ?? 'planned') ?? 0) + 1);
  lines.push('', `${rows.length} action(s): ${[...by].map(([k, v]) => `${v} ${k}`).join(', ')}.`);
  return lines.join('\n') + '\n';
}

/**
 * Results that make `reconcile --once` exit 1 (contract §6: "1 when one failed or was blocked"). A write that kept
 * conflicting (409 after every retry) was not done either. Planned rows (dry run) have no result; stale, gone and
 * deferred mean the fresh state no longer calls for the action (yet), which is not a failure.
 */
const FAILING_RESULTS: ReadonlySet<string> = new Set(['failed', 'blocked', 'conflict']);

/** Exit code of a pass that ran (contract §6): 0 when every action was done or only planned, 1 otherwise. */
export function reconcileExitCode(rows: { result?: string }[]): 0 | 1 {
  return rows.some((r) => r.result !== undefined && FAILING_RESULTS.has(r.result)) ? 1 : 0;
}

function blockedRows(blocked: BlockedAction[]): Row[] {
  return blocked.map((b) => ({ ...b.action, result: 'blocked', detail: b.violations.join('; ') }));
}

export async function runReconcile(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...SOURCE_OPTIONS,
      once: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      namespace: { type: 'string' },
      'max-writes-per-second': { type: 'string' },
      'no-events': { type: 'boolean' },
      'log-level': { type: 'string' },
    },
    'reconcile',
  );
  if (values.help) {
    process.stdout.write(RECONCILE_HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`reconcile: unexpected argument ${JSON.stringify(positionals[0])}`);
  if (!values.once) throw new UsageError('reconcile: --once is required (the continuous reconciler runs inside `serve`)');
  const source = sourceOf(values, 'reconcile');
  const output = oneOf(values, 'output', ['table', 'json'] as const, 'table');
  const settle = intFlag(values, 'settle-seconds', DEFAULT_CLI_SETTLE_SECONDS);
  const rate = intFlag(values, 'max-writes-per-second', 5, 1);
  const namespace = typeof values.namespace === 'string' ? values.namespace : 'kube-system';
  const level = oneOf(values, 'log-level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'warn');
  const staticIp = staticIpOf(values);
  const user = reconcilerUser(namespace);
  const print = (rows: Row[]) => process.stdout.write(output === 'json' ? formatJsonLines(rows) : formatTable(rows));

  if (source.kind === 'snapshot') {
    const p = plan(loadSnapshot(source.path), { staticIp, user });
    const rows: Row[] = [...p.actions.map((a) => ({ ...a, dryRun: true })), ...blockedRows(p.blocked)];
    print(rows);
    return reconcileExitCode(rows);
  }

  const views = await liveViews(source.kubeconfig, settle);
  const plans = views.map((v) => plan(v, { staticIp, user }));
  const last = plans[plans.length - 1];
  const earlier = plans.slice(0, -1).map((p) => new Set(p.actions.map(actionKey)));
  const settled = last.actions.filter((a) => earlier.every((s) => s.has(actionKey(a))));
  const dryRun = !!values['dry-run'];
  const kc = loadKubeConfigFile(source.kubeconfig);
  const client = new KubeReconcileClient(kc, 'spiderpool-guard-cli');
  const executor = new Executor({
    client,
    staticIp,
    user,
    log: createLogger(level, pino.destination(2)),
    dryRun,
    maxWritesPerSecond: rate,
    events: !values['no-events'],
  });
  let results;
  try {
    results = await executor.execute(settled, views[views.length - 1]);
  } finally {
    client.close();
  }
  const rows: Row[] = [...results.map((r) => ({ ...r.action, result: r.result, detail: r.detail, ...(dryRun ? { dryRun: true } : {}) })), ...blockedRows(last.blocked)];
  print(rows);
  return reconcileExitCode(rows);
}
