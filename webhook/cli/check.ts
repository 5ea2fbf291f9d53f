// `check`: read-only consistency audit (docs/operations.md, Command line; docs/rules.md, Findings), against a snapshot or a live cluster.
import { UsageError } from './errors';
import { ClusterView, StaticIpConfig } from '../model';
import { loadSnapshot } from '../cluster';
import {
  FINDINGS,
  Finding,
  FindingName,
  capacity,
  findingKey,
  findings,
  hasErrors,
  heldByUnconfirmedTermination,
  inNamespaces,
  plan,
  reconcilerUser,
  DEFAULT_CLI_SETTLE_SECONDS,
} from '../reconciler';
import { intFlag, oneOf, parse, terminationFromFlags } from './args';
import { formatCapacityJson, formatCapacityTable } from './capacity-table';
import { FlagTable, helpText } from './flags';
import { DEFAULT_SELF_CHECK_NAMESPACE } from './reconcile';
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

export const CHECK_FLAGS: FlagTable = [
  ...SOURCE_FLAGS,
  {
    name: 'capacity',
    type: 'boolean',
    help: 'print the capacity of every pool (total, recorded, free, leftover, held_terminating) instead of the findings; exit code still judged on the findings',
  },
];

const CHECK_HELP = helpText(
  'spiderpool-guard check (--snapshot FILE | --kubeconfig FILES [--context NAME]) [-n NS] [flags]',
  `Read-only consistency audit of SpiderIPPools, SpiderEndpoints and pods (findings: ${FINDINGS.join(', ')}).
Against a live cluster everything is listed twice, --settle-seconds apart, and only findings present both times
are reported: a record written moments before its endpoint is normal.
With --namespace the whole cluster is still judged (an IP conflict crosses namespaces), and only the findings
that involve a pod or SpiderEndpoint of those namespaces are reported; pools are cluster-scoped, so their own
findings (COUNT_MISMATCH, MALFORMED_POOL) are left out, as kubectl leaves cluster-scoped objects out of -n.
With --capacity it prints one row per pool instead (--output json: one object per pool): total (spec.ips minus
excludeIPs), recorded, free (pool IPs neither recorded nor listed by a SpiderReservedIP), leftover (records the
reconciler would release now) and held_terminating (records of pods whose termination no node confirmed).
Exit 0: no error-level finding reported; 1: at least one; 2: could not run.`,
  CHECK_FLAGS,
);

/** Findings of the last view that every view reports (identity by findingKey). */
function persistentFindings(
  views: ClusterView[],
  cfg: StaticIpConfig,
  holdMaxMs: number | undefined,
  now: () => number,
): Finding[] {
  const lists = views.map((v) => findings(v, cfg, { now: now(), holdMaxMs }));
  const last = lists[lists.length - 1];
  const earlier = lists.slice(0, -1).map((l) => new Set(l.map(findingKey)));
  return last.filter((f) => earlier.every((s) => s.has(findingKey(f))));
}

const ADVICE: Record<FindingName, string> = {
  IP_CONFLICT:
    'Two alive pods use one IP. Restart the pod the pool does not record for it (or either, when none is recorded) so it gets a fresh IP. Never acted on automatically.',
  MISSING_RECORD:
    'The pool does not record an IP an alive pod holds, so it can be handed out again. `reconcile` restores the record (RESTORE_RECORD) when no other pod observes the IP.',
  RECORD_UID_MISMATCH:
    'The record belongs to an older incarnation of the pod. `reconcile` releases it (UID_MISMATCH / STATIC_LEFT_IPAM) once nothing observes the IP.',
  RECORD_POD_MISSING:
    'The record names a pod that is gone. `reconcile` releases it (POD_GONE / INVALID_STATIC_MEMBER).',
  RECORD_ENDPOINT_MISMATCH:
    "The record and the pod's SpiderEndpoint disagree. Usually transient (records are written before endpoints); if it persists, Spiderpool's next cmdAdd/cmdDel or `reconcile` of the other findings resolves it.",
  LEFTOVER_ENDPOINT:
    'A SpiderEndpoint outlived its pod and its IPs are no longer recorded under its uid. `reconcile` deletes it (COMPLETED_POD / POD_GONE / INVALID_STATIC_MEMBER / STATIC_LEFT_IPAM).',
  COUNT_MISMATCH: 'allocatedIPCount differs from the number of records. `reconcile` fixes it (FIX_COUNT).',
  COMPLETED_POD_RECORD:
    'The pod completed (Succeeded/Failed, will not run again) but its pool still records the IP. `reconcile` releases it for a non-static pod (RELEASE_IP COMPLETED_POD); a StatefulSet or KubeVirt pod is replaced by its controller.',
  BLOCKING_ENDPOINT:
    'The SpiderEndpoint of an earlier pod of this name keeps the pod now named so from getting an IP on Spiderpool before v0.9.13 / v1.0.4 ("being recycled"): the pod stays ContainerCreating. `reconcile` releases the earlier pod\'s records (RELEASE_IP UID_MISMATCH), then deletes the endpoint (DELETE_ENDPOINT UID_MISMATCH). By hand: release those records, then delete the endpoint and remove its finalizer.',
  ZOMBIE_IP_REUSE:
    'The IP of a pod whose node never confirmed it stopped is in use again: on a partitioned node its sandbox may still answer on it. Find out whether the node is down (then taint it node.kubernetes.io/out-of-service=nodeshutdown:NoExecute or delete the Node) or still runs the pod; restart the newer pod so it gets a fresh IP. Never acted on automatically.',
  TERMINATION_UNCONFIRMED:
    'A pod has been terminating for more than 5 minutes and its node has not confirmed it stopped, so its IP stays held (UNCONFIRMED_TERMINATION_RELEASE). If the node is shut down for good, taint it node.kubernetes.io/out-of-service=nodeshutdown:NoExecute or delete the Node; if it is only unreachable, bring it back. See docs/operations.md, Held IPs.',
  UNRECORDED_LIVE_IP:
    "An alive pod uses an IP of a pool that no pool records, so the next allocation in that pool can hand it out again (usually after a wrongful release that also removed the pod's SpiderEndpoint). `reconcile` restores the record (RESTORE_RECORD UNRECORDED_LIVE_IP) when the IP belongs to exactly one pool and exactly one alive pod observes it.",
  DUPLICATE_INTERFACE_IP:
    'One pod lists the same IP on two interfaces in its multus network-status: two NICs drew it from one pool. Traffic to it reaches one NIC only. Give the NICs different pools (or recreate the pod); never acted on automatically.',
  RESERVED_IP_IN_USE:
    'A SpiderReservedIP lists an IP that a pool records or a pod uses: it was reserved after the allocation, and Spiderpool accepted it. The IP stays in use until its pod goes. Remove the IP from the SpiderReservedIP, or move the pod off it if it really must stay reserved.',
  MALFORMED_POOL:
    "status.allocatedIPs cannot be parsed, or holds the malformed entries listed (the guard does not judge entries a write leaves as they are, so the pool keeps working; its well-formed records are still checked; an unparseable value skips the pool's other checks). The reconciler never writes such a pool: fix the status by hand (kubectl edit --subresource=status).",
};

function objectsLine(f: {
  pool?: string;
  ip?: string;
  record?: { pod: string; podUid: string };
  pods?: { name: string; uid: string; phase: string }[];
  endpoint?: { name: string; podUid: string; objectUid: string };
  reservedIP?: string;
  interfaces?: string[];
}): string {
  const parts: string[] = [];
  if (f.ip) parts.push(`IP ${f.ip}`);
  if (f.pool) parts.push(`pool ${f.pool}`);
  if (f.reservedIP) parts.push(`SpiderReservedIP ${f.reservedIP}`);
  if (f.interfaces) parts.push(`interfaces ${f.interfaces.join(',')}`);
  if (f.record) parts.push(`record ${f.record.pod} uid ${f.record.podUid}`);
  for (const p of f.pods ?? []) parts.push(`pod ${p.name} uid ${p.uid} ${p.phase || 'Unknown'}`);
  if (f.endpoint) parts.push(`endpoint ${f.endpoint.name} current.uid ${f.endpoint.podUid}`);
  return parts.join(' | ');
}

function formatFindingsTable(list: Finding[]): string {
  const lines: string[] = [];
  const errors = list.filter((f) => f.severity === 'error').length;
  for (const name of FINDINGS) {
    const group = list.filter((f) => f.finding === name);
    if (group.length === 0) continue;
    lines.push(`${name} (${group[0].severity}) × ${group.length}`);
    lines.push(`  what to do: ${ADVICE[name]}`);
    for (const f of group) {
      lines.push(`  - ${objectsLine(f)}`);
      lines.push(`    ${f.message}`);
    }
    lines.push('');
  }
  lines.push(
    list.length === 0
      ? 'No findings: pools, endpoints and pods agree.'
      : `${list.length} finding(s): ${errors} error(s), ${list.length - errors} warning(s).`,
  );
  return lines.join('\n') + '\n';
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, CHECK_FLAGS, 'check');
  if (values.help) {
    process.stdout.write(CHECK_HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`check: unexpected argument ${JSON.stringify(positionals[0])}`);
  const source = sourceOf(values, 'check');
  const output = oneOf(values, 'output', OUTPUTS, OUTPUTS[0]);
  const settle = intFlag(values, 'settle-seconds', DEFAULT_CLI_SETTLE_SECONDS);
  const cfg = staticIpOf(values);
  const termination = terminationFromFlags(values);
  const namespaces = namespacesOf(values);
  if (values.capacity && namespaces.length > 0)
    throw new UsageError('check: --capacity counts whole pools (cluster-scoped): --namespace does not apply');
  const views = source.kind === 'snapshot' ? [loadSnapshot(source.path)] : await liveViews(source, settle);
  const all = persistentFindings(views, cfg, termination.holdMaxMs, termination.now);
  const list = inNamespaces(all, namespaces);
  if (values.capacity) {
    // The last view's numbers (the settle interval is for findings: a leftover is what a pass would plan now).
    const view = views[views.length - 1];
    const t = { now: termination.now(), holdMaxMs: termination.holdMaxMs };
    const planned = plan(view, {
      staticIp: cfg,
      user: reconcilerUser(DEFAULT_SELF_CHECK_NAMESPACE),
      termination: t,
    }).actions;
    const pools = capacity(view, planned, { heldTerminating: heldByUnconfirmedTermination(view, cfg, t) });
    process.stdout.write(output === 'json' ? formatCapacityJson(pools) : formatCapacityTable(pools));
    return hasErrors(list) ? 1 : 0;
  }
  process.stdout.write(
    output === 'json'
      ? formatJsonLines(list)
      : formatFindingsTable(list) + hiddenNote(all.length - list.length, namespaces, 'finding(s)'),
  );
  return hasErrors(list) ? 1 : 0;
}
