// `review`: decide one AdmissionReview offline against a snapshot, printing exactly what the server would answer.
import { AdmissionHandler, ReviewDecodeError, decodeReview, encodeReview } from '../admission';
import { createLogger } from '../log';
import { MemoryAuditSink } from '../audit';
import { CliInputError, UsageError } from './errors';
import { loadSnapshot, readJsonFile } from '../cluster';
import { POLICY_OPTIONS, oneOf, parse, policyFromFlags } from './args';

export const REVIEW_HELP = `Usage: spiderpool-guard review --snapshot FILE [--webhook validate|mutate] [--mode M]
                              [--rule-mode RULE=MODE]... [--guarded-users GLOBS] [--exempt-users GLOBS]
                              [--statefulset-static-ip true|false] [--kubevirt-static-ip true|false] REVIEW_FILE

Decides one AdmissionReview (REVIEW_FILE, JSON) against a cluster snapshot (the output of
kubectl get pods,statefulsets.apps,spiderippools.spiderpool.spidernet.io,spiderendpoints.spiderpool.spidernet.io -A -o json)
and prints the AdmissionReview response on stdout. Exit 0 whatever the decision, 2 on unusable input.
  --audit     also print the audit events (JSON lines) on stderr`;

export async function runReview(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...POLICY_OPTIONS, snapshot: { type: 'string' }, webhook: { type: 'string' }, audit: { type: 'boolean' } },
    'review',
  );
  if (values.help) {
    process.stdout.write(REVIEW_HELP + '\n');
    return 0;
  }
  if (typeof values.snapshot !== 'string') throw new UsageError('review: --snapshot FILE is required');
  if (positionals.length !== 1) throw new UsageError('review: exactly one REVIEW_FILE is required');
  const webhook = oneOf(values, 'webhook', ['validate', 'mutate'] as const, 'validate');
  const { policy, guarded, staticIp } = policyFromFlags(values);
  const view = loadSnapshot(values.snapshot);
  const reviewDoc = readJsonFile(positionals[0], 'review');
  let request;
  try {
    request = decodeReview(reviewDoc);
  } catch (err) {
    if (err instanceof ReviewDecodeError) throw new CliInputError(`review ${positionals[0]}: ${err.message}`, { cause: err });
    throw err;
  }
  const audit = new MemoryAuditSink();
  const handler = new AdmissionHandler({
    view: () => view,
    synced: () => true,
    settings: { staticIp, guardedUsers: guarded },
    policy,
    audit,
    log: createLogger('silent'),
  });
  const response = await handler.handle(webhook, request);
  process.stdout.write(JSON.stringify(encodeReview(response), null, 2) + '\n');
  if (values.audit) for (const e of audit.events) process.stderr.write(JSON.stringify(e) + '\n');
  return 0;
}
