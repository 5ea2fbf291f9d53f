// The admission Handler: a decoded request in, an AdmissionResponse out (controller-runtime's shape).
// Deciding is guard.evaluate + policy; this module adds fresh evidence, fail-open, audit and metrics.
import { compare } from 'fast-json-patch';
import { AuditSink, auditEventsFor, countFixEvent } from '../audit';
import { AdmissionMetrics } from './metrics';
import { Logger } from '../log';
import { Evaluation, GuardSettings, evaluate, Judged, Policy, annotationIps, judgeValidation, modeOf, planStatusMutation, GuardRequest, targetOf, REPAIRABLE_RULES, Violation } from '../guard';
import { ClusterView, FreshObjects, MissRecordingView, ObjectRef, OverlayView, emptyFresh, FreshReader } from '../model';
import { AdmissionResponse, Verdict, allowed, denied, errored, patched, respond, withWarnings } from './review';

export type WebhookKind = 'validate' | 'mutate';

export interface HandlerDeps {
  view: () => ClusterView;
  /** caches synced (always true for a snapshot) */
  synced: () => boolean;
  /** caches listed once but whose watch has been down longer than the staleness limit (cause stale-cache) */
  staleCaches?: () => string[];
  settings: GuardSettings;
  policy: Policy;
  audit: AuditSink;
  log: Logger;
  fresh?: FreshReader;
  metrics?: AdmissionMetrics;
  failClosed?: boolean;
  now?: () => Date;
  /** after each decision that judged violations: Events, heal requests (decision-effects.ts); must not block or throw */
  onDecision?: (req: GuardRequest, judged: Judged[]) => void;
}

const refKey = (r: ObjectRef) => `${r.kind}:${r.namespace}/${r.name}`;
const MAX_FRESH_ROUNDS = 3;

function mergeFresh(into: FreshObjects, from: FreshObjects): void {
  for (const k of Object.keys(into) as (keyof FreshObjects)[]) {
    for (const [key, value] of from[k] as Map<string, unknown>) (into[k] as Map<string, unknown>).set(key, value);
  }
}

export class AdmissionHandler {
  constructor(private readonly deps: HandlerDeps) {}

  private now(): Date {
    return this.deps.now ? this.deps.now() : new Date();
  }

  async handle(webhook: WebhookKind, req: GuardRequest): Promise<AdmissionResponse> {
    const timer = this.deps.metrics?.latency.startTimer({ webhook });
    let verdict: Verdict;
    try {
      verdict = await this.decide(webhook, req);
    } catch (err) {
      this.deps.log.error({ err, requestUID: req.uid, name: req.name, namespace: req.namespace, webhook }, 'admission decision failed');
      verdict = this.failure(webhook, `internal error: ${(err as Error).message}`, 'internal');
    } finally {
      timer?.();
    }
    return respond(req.uid, verdict);
  }

  private async decide(webhook: WebhookKind, req: GuardRequest): Promise<Verdict> {
    if (!targetOf(req)) return this.count(webhook, allowed(), 'allowed');
    const stale = this.deps.staleCaches?.() ?? [];
    if (stale.length > 0) return this.failure(webhook, `caches stale (API server watch down): ${stale.join(', ')}`, 'stale-cache');
    if (!this.deps.synced()) return this.failure(webhook, 'caches not synced', 'unsynced');
    const verdict = webhook === 'validate' ? await this.validate(req) : await this.mutate(req);
    const result = !verdict.allowed ? 'denied' : verdict.patch ? 'patched' : 'allowed';
    return this.count(webhook, verdict, result);
  }

  private count(webhook: WebhookKind, verdict: Verdict, result: string): Verdict {
    this.deps.metrics?.requests.inc({ webhook, result });
    return verdict;
  }

  /** Fail-open by default: a broken guard must not stop the IPAM. The cause is named and counted. */
  private failure(webhook: WebhookKind, cause: string, label: string): Verdict {
    this.deps.metrics?.errors.inc({ webhook, cause: label });
    this.deps.metrics?.requests.inc({ webhook, result: 'error' });
    if (this.deps.failClosed) return errored(`spiderpool-guard: ${cause} (fail-closed)`);
    return withWarnings(allowed(), [`spiderpool-guard: ${cause}; write allowed unchecked (fail-open)`]);
  }

  /**
   * Evaluates on the cache, then re-reads what a denial would rest on and evaluates again on the fresh state,
   * until nothing new needs reading. `needsFresh` picks the violations worth confirming. With `readMisses`, by-name
   * lookups the cache missed are read too (docs/architecture.md, Fresh evidence: a needed object missing from the cache is read live before
   * concluding it does not exist): a release of a record whose pod the cache lacks is the GC's dangerous case.
   */
  private async evaluateFresh(
    req: GuardRequest,
    needsFresh: (v: Violation) => boolean,
    readMisses: boolean,
  ): Promise<{ evaluation: Evaluation; view: ClusterView }> {
    const base = this.deps.view();
    const fresh = emptyFresh();
    const read = new Set<string>();
    let view: ClusterView = base;
    for (let round = 0; ; round++) {
      const recording = new MissRecordingView(view);
      const evaluation = evaluate(req, recording, this.deps.settings);
      const wanted = evaluation.violations.filter(needsFresh);
      const misses = readMisses || wanted.length > 0 ? [...recording.misses.values()] : [];
      if (!this.deps.fresh || round >= MAX_FRESH_ROUNDS) return { evaluation, view };
      const refs: ObjectRef[] = [];
      for (const r of [...wanted.flatMap((v) => v.evidence), ...misses]) {
        if (read.has(refKey(r))) continue;
        read.add(refKey(r));
        refs.push(r);
      }
      if (refs.length === 0) return { evaluation, view };
      try {
        mergeFresh(fresh, await this.deps.fresh.read(refs));
      } catch (err) {
        this.deps.metrics?.freshReads.inc({ result: 'failed' });
        throw new Error(`fresh read before denial failed: ${(err as Error).message}`, { cause: err });
      }
      view = new OverlayView(base, fresh);
    }
  }

  private record(req: GuardRequest, webhook: WebhookKind, judged: Judged[]): void {
    const now = this.now();
    for (const event of auditEventsFor(req, judged, now)) this.deps.audit.write(event);
    for (const j of judged) this.deps.metrics?.decisions.inc({ webhook, rule: j.violation.rule, mode: j.mode, outcome: j.outcome });
    if (judged.length > 0) this.deps.onDecision?.(req, judged);
  }

  private async validate(req: GuardRequest): Promise<Verdict> {
    const policy = this.deps.policy;
    const exempt = policy.exemptUsers.matches(req.user);
    const wouldDeny = (v: Violation) => {
      const m = modeOf(v.rule, policy);
      return !exempt && (m === 'enforce' || m === 'repair');
    };
    const { evaluation } = await this.evaluateFresh(req, wouldDeny, true);
    const decision = judgeValidation(evaluation.violations, policy, req.user);
    this.record(req, 'validate', decision.judged);
    const verdict = withWarnings(decision.allowed ? allowed() : denied(decision.denials.join('\n')), decision.warnings);
    return decision.auditAnnotations ? { ...verdict, auditAnnotations: decision.auditAnnotations } : verdict;
  }

  private async mutate(req: GuardRequest): Promise<Verdict> {
    if (targetOf(req) !== 'poolStatus' || !req.object) return allowed();
    const policy = this.deps.policy;
    const repairable = (v: Violation) => REPAIRABLE_RULES.has(v.rule) && modeOf(v.rule, policy) === 'repair';
    const { evaluation, view } = await this.evaluateFresh(req, repairable, false);
    const plan = planStatusMutation(evaluation, req.object, view, policy, req.user, this.deps.settings.staticIp);
    if (!plan || !plan.changed) return allowed();
    this.record(req, 'mutate', plan.repaired);
    if (plan.countFix) {
      this.deps.audit.write(countFixEvent(req, evaluation.poolUpdate?.pool ?? req.name ?? '', plan.countFix.message, this.now()));
      this.deps.metrics?.decisions.inc({ webhook: 'mutate', rule: 'COUNT_MISMATCH', mode: 'repair', outcome: 'repaired' });
    }
    const status = { ...((req.object.status as Record<string, unknown>) ?? {}) };
    if (plan.allocatedIPs === undefined) delete status.allocatedIPs;
    else status.allocatedIPs = plan.allocatedIPs;
    status.allocatedIPCount = plan.allocatedIPCount;
    const ops = compare(req.object, { ...req.object, status });
    const judged = [...plan.repaired];
    const rules = [...new Set([...judged.map((j) => j.violation.rule as string), ...(plan.countFix ? ['COUNT_MISMATCH'] : [])])];
    return patched(ops, { rule: rules.join(','), ips: annotationIps(judged) });
  }
}
