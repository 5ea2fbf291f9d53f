// `review`: decide one AdmissionReview offline against a snapshot, printing exactly what the server would answer.
import { AdmissionHandler, ReviewDecodeError, decodeReviewBody, encodeReview } from '../admission';
import { createLogger } from '../log';
import { MemoryAuditSink } from '../audit';
import { CliInputError, UsageError } from './errors';
import { loadSnapshot, readFileBytes } from '../cluster';
import { POLICY_FLAGS, oneOf, parse, policyFromFlags, terminationFromFlags } from './args';
import { FlagTable, helpText } from './flags';

const WEBHOOKS = ['validate', 'mutate'] as const;

export const REVIEW_FLAGS: FlagTable = [
  { name: 'snapshot', type: 'string', arg: 'FILE', help: 'required: the cluster snapshot to decide against' },
  { name: 'webhook', type: 'string', arg: WEBHOOKS.join('|'), default: WEBHOOKS[0], help: 'which webhook answers' },
  ...POLICY_FLAGS,
  { name: 'audit', type: 'boolean', help: 'also print the audit events (JSON lines) on stderr' },
];

const REVIEW_HELP = helpText(
  'spiderpool-guard review --snapshot FILE [flags] REVIEW_FILE',
  `Decides one AdmissionReview (REVIEW_FILE, JSON) against a cluster snapshot (the output of
kubectl get pods,statefulsets.apps,spiderippools.spiderpool.spidernet.io,spiderendpoints.spiderpool.spidernet.io -A -o json)
and prints the AdmissionReview response on stdout. Exit 0 whatever the decision, 2 on unusable input.`,
  REVIEW_FLAGS,
);

export async function runReview(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, REVIEW_FLAGS, 'review');
  if (values.help) {
    process.stdout.write(REVIEW_HELP + '\n');
    return 0;
  }
  if (typeof values.snapshot !== 'string') throw new UsageError('review: --snapshot FILE is required');
  if (positionals.length !== 1) throw new UsageError('review: exactly one REVIEW_FILE is required');
  const webhook = oneOf(values, 'webhook', WEBHOOKS, WEBHOOKS[0]);
  const { policy, guarded, staticIp } = policyFromFlags(values);
  const termination = terminationFromFlags(values);
  const view = loadSnapshot(values.snapshot);
  // the server's decoder, on the file's bytes: the same outcome for every input (docs/operations.md, review)
  const body = readFileBytes(positionals[0], 'review');
  let request;
  try {
    request = decodeReviewBody(body);
  } catch (err) {
    if (err instanceof ReviewDecodeError)
      throw new CliInputError(`review ${positionals[0]}: ${err.message}`, { cause: err });
    throw err;
  }
  const audit = new MemoryAuditSink();
  const handler = new AdmissionHandler({
    view: () => view,
    synced: () => true,
    settings: { staticIp, guardedUsers: guarded, termination },
    policy,
    audit,
    log: createLogger('silent'),
  });
  const response = await handler.handle(webhook, request);
  process.stdout.write(JSON.stringify(encodeReview(response), null, 2) + '\n');
  if (values.audit) for (const e of audit.events) process.stderr.write(JSON.stringify(e) + '\n');
  return 0;
}
