// `reconcile --once`: one reconcile pass (docs/operations.md, Command line; docs/rules.md, Reconciler actions). Against a snapshot it only prints the plan; against a
// live cluster it lists twice (settle), plans, and executes the actions both lists agree on (or, with --dry-run,
// re-reads and judges them without writing).
import pino from 'pino';
import { UsageError } from './errors';
import { loadSnapshot, loadKubeConfigFile, KubeReconcileClient } from '../cluster';
import { createLogger } from '../log';
import {
  Executor,
  Action,
  actionKey,
  BlockedAction,
  inNamespaces,
  plan,
  reconcilerUser,
  DEFAULT_CLI_SETTLE_SECONDS,
  DEFAULT_MAX_WRITES_PER_SECOND,
} from '../reconciler';
import {
  OUTPUTS,
  SOURCE_FLAGS,
  formatJsonLines,
  hiddenNote,
  liveViews,
  namespacesOf,
  sourceOf,
  staticIpOf,
} from './cluster-source';
import { FlagTable, helpText } from './flags';
import { intFlag, oneOf, parse, terminationFromFlags } from './args';

export const DEFAULT_SELF_CHECK_NAMESPACE = 'kube-system';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const RECONCILE_FLAGS: FlagTable = [
  { name: 'once', type: 'boolean', help: 'required: one pass (the continuous reconciler runs inside serve)' },
  ...SOURCE_FLAGS,
  { name: 'dry-run', type: 'boolean', help: 're-read and judge, write nothing' },
  {
    name: 'guard-namespace',
    type: 'string',
    arg: 'NS',
    default: DEFAULT_SELF_CHECK_NAMESPACE,
    help: 'namespace of the spiderpool-guard service account (self-check identity)',
  },
  {
    name: 'max-writes-per-second',
    type: 'string',
    arg: 'N',
    default: DEFAULT_MAX_WRITES_PER_SECOND,
    help: 'rate limit of writes',
  },
  { name: 'no-events', type: 'boolean', help: 'do not emit Kubernetes Events' },
  { name: 'log-level', type: 'string', arg: LOG_LEVELS.join('|'), default: 'warn', help: 'pino level, on stderr' },
];

const RECONCILE_HELP = helpText(
  'spiderpool-guard reconcile --once (--snapshot FILE | --kubeconfig FILES [--context NAME]) [-n NS] [flags]',
  `One reconcile pass: RELEASE_IP, DELETE_ENDPOINT, RESTORE_RECORD and FIX_COUNT actions (docs/rules.md, Reconciler actions).
With a snapshot it is always a dry run: the planned actions are printed. Against a live cluster everything is
listed twice, --settle-seconds apart, and only actions both lists call for are taken; each write re-reads its
object, is conditional (resourceVersion / delete preconditions) and passes the guard's own rules.
With --namespace the whole cluster is still read and planned, and only the actions that involve a pod or
SpiderEndpoint of those namespaces are taken (FIX_COUNT, about a cluster-scoped pool only, never is).
Exit 0: every planned action was done, or only planned (dry run, snapshot), or is no longer needed (stale, gone,
deferred); 1: an action failed, was blocked, or kept conflicting; 2: could not run (flags, snapshot, kubeconfig,
API server unreachable).`,
  RECONCILE_FLAGS,
);

type Row = Action & {
  result?: string;
  detail?: string;
  dryRun?: boolean;
};

function objects(a: Action): string {
  const parts: string[] = [];
  if (a.ip) parts.push(`IP ${a.ip}`);
  if (a.pool) parts.push(`pool ${a.pool}`);
  if (a.record) parts.push(`record ${a.record.pod} uid ${a.record.podUid}`);
  if (a.endpoint)
    parts.push(`endpoint ${a.endpoint.name} uid ${a.endpoint.objectUid} current.uid ${a.endpoint.podUid}`);
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
 * Results that make `reconcile --once` exit 1 (docs/operations.md, Command line: "1 when one failed or was blocked"). A write that kept
 * conflicting (409 after every retry) was not done either. Planned rows (dry run) have no result; stale, gone and
 * deferred mean the fresh state no longer calls for the action (yet), which is not a failure.
 */
const FAILING_RESULTS: ReadonlySet<string> = new Set(['failed', 'blocked', 'conflict']);

/** Exit code of a pass that ran (docs/operations.md, Command line): 0 when every action was done or only planned, 1 otherwise. */
export function reconcileExitCode(rows: { result?: string }[]): 0 | 1 {
  return rows.some((r) => r.result !== undefined && FAILING_RESULTS.has(r.result)) ? 1 : 0;
}

function blockedRows(blocked: BlockedAction[]): Row[] {
  return blocked.map((b) => ({ ...b.action, result: 'blocked', detail: b.violations.join('; ') }));
}

export async function runReconcile(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, RECONCILE_FLAGS, 'reconcile');
  if (values.help) {
    process.stdout.write(RECONCILE_HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`reconcile: unexpected argument ${JSON.stringify(positionals[0])}`);
  if (!values.once)
    throw new UsageError('reconcile: --once is required (the continuous reconciler runs inside `serve`)');
  const source = sourceOf(values, 'reconcile');
  const output = oneOf(values, 'output', OUTPUTS, OUTPUTS[0]);
  const settle = intFlag(values, 'settle-seconds', DEFAULT_CLI_SETTLE_SECONDS);
  const rate = intFlag(values, 'max-writes-per-second', DEFAULT_MAX_WRITES_PER_SECOND, 1);
  const guardNamespace =
    typeof values['guard-namespace'] === 'string' ? values['guard-namespace'] : DEFAULT_SELF_CHECK_NAMESPACE;
  const namespaces = namespacesOf(values);
  const level = oneOf(values, 'log-level', LOG_LEVELS, 'warn');
  const staticIp = staticIpOf(values);
  const termination = terminationFromFlags(values);
  const judgedNow = () => ({ now: termination.now(), holdMaxMs: termination.holdMaxMs });
  const user = reconcilerUser(guardNamespace);
  let hidden = 0;
  /** The planned actions (and blocked ones) --namespace keeps; counts the others for the table's note. */
  const scoped = <T extends Action | BlockedAction>(items: T[], of: (t: T) => Action): T[] => {
    const kept = new Set(inNamespaces(items.map(of), namespaces));
    hidden += items.length - kept.size;
    return items.filter((t) => kept.has(of(t)));
  };
  const print = (rows: Row[]) =>
    process.stdout.write(
      output === 'json' ? formatJsonLines(rows) : formatTable(rows) + hiddenNote(hidden, namespaces, 'action(s)'),
    );

  if (source.kind === 'snapshot') {
    const p = plan(loadSnapshot(source.path), { staticIp, user, termination: judgedNow() });
    const blocked = scoped(p.blocked, (b) => b.action);
    const rows: Row[] = [...scoped(p.actions, (a) => a).map((a) => ({ ...a, dryRun: true })), ...blockedRows(blocked)];
    print(rows);
    return reconcileExitCode(rows);
  }

  const views = await liveViews(source, settle);
  const plans = views.map((v) => plan(v, { staticIp, user, termination: judgedNow() }));
  const last = plans[plans.length - 1];
  const earlier = plans.slice(0, -1).map((p) => new Set(p.actions.map(actionKey)));
  const settled = scoped(
    last.actions.filter((a) => earlier.every((s) => s.has(actionKey(a)))),
    (a) => a,
  );
  const blocked = scoped(last.blocked, (b) => b.action);
  const dryRun = !!values['dry-run'];
  const kc = loadKubeConfigFile(source.kubeconfig, source.context);
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
  const rows: Row[] = [
    ...results.map((r) => ({ ...r.action, result: r.result, detail: r.detail, ...(dryRun ? { dryRun: true } : {}) })),
    ...blockedRows(blocked),
  ];
  print(rows);
  return reconcileExitCode(rows);
}
