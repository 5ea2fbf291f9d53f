// The admission Handler: a decoded request in, an AdmissionResponse out (controller-runtime's shape).
// Deciding is guard.evaluate + policy; this module adds fresh evidence, fail-open, audit and metrics.
import { compare } from 'fast-json-patch';
import { AuditSink, auditEventsFor, countFixEvent } from '../audit';
import { AdmissionMetrics } from './metrics';
import { Logger } from '../log';
import {
  Evaluation,
  EvaluationLimits,
  GuardSettings,
  evaluate,
  Judged,
  Policy,
  annotationIps,
  deniedRulesFor,
  judgeValidation,
  planStatusMutation,
  repairsRule,
  GuardRequest,
  targetOf,
  Violation,
  DEFAULT_LIMITS,
  MAX_ANNOTATION_CHARS,
} from '../guard';
import { MAX_DETAIL_CHARS, cut } from '../../lib/bounds';
import {
  ClusterView,
  FreshObjects,
  MissRecordingView,
  ObjectRef,
  OverlayView,
  emptyFresh,
  FreshReader,
} from '../model';
import { AdmissionResponse, Verdict, allowed, denied, errored, patched, respond, withWarnings } from './envelope';
import { DeadlineReached, LazyDeadline } from './deadline';

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
/**
 * Objects read live per round. A write naming 65,536 records must not become 65,536 API calls: past this, the cache's
 * answer stands for the rest (the denial already rests on the confirmed ones; misses beyond it count as absent).
 */
export const MAX_FRESH_READS_PER_ROUND = 256;
/** Without a `timeout` from the API server: its default webhook timeout (10 s) minus the margin. */
export const DEFAULT_DECISION_BUDGET_MS = 9_000;

/** When the decision must be answered, and the signal that aborts what is still running then. */
export interface DecisionDeadline {
  /** milliseconds left for the decision, fresh reads included */
  budgetMs: number;
}

/** A fresh read the decision needed failed (no answer in time, an error status): the decision cannot stand. */
class FreshReadFailed extends Error {}

const staleCause = (stale: string[]) => `caches stale (API server watch down): ${stale.join(', ')}`;

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

  /**
   * Decides within the deadline (docs/rules.md, Enforcement modes, "Bounds"): what is not decided by then is
   * answered fail-open (or fail-closed) with the cause `deadline`, so the guard, not the API server's timeout,
   * decides what happens. Fresh reads still running are aborted; a late decision records nothing.
   */
  async handle(
    webhook: WebhookKind,
    req: GuardRequest,
    deadline: DecisionDeadline = { budgetMs: DEFAULT_DECISION_BUDGET_MS },
  ): Promise<AdmissionResponse> {
    const timer = this.deps.metrics?.latency.startTimer({ webhook });
    if (deadline.budgetMs <= 0) {
      // the time went on reading and waiting: judging now could only answer after the API server gave up
      timer?.();
      return respond(req.uid, this.failure(webhook, req, 'decision deadline reached before judging', 'deadline'));
    }
    const clock = new LazyDeadline(deadline.budgetMs);
    let verdict: Verdict;
    const decision = this.decide(webhook, req, clock);
    try {
      // armed: the decision waits on a fresh read (taking the signal armed it before decide returned)
      verdict = await (clock.expired ? Promise.race([decision, clock.expired]) : decision);
    } catch (err) {
      if (err instanceof DeadlineReached) {
        decision.catch(() => undefined); // settles after the answer; aborted fresh reads reject
        verdict = this.unfinished(webhook, req, `decision deadline of ${deadline.budgetMs} ms reached`, 'deadline');
      } else {
        this.deps.log.error(
          { err, requestUID: cut(req.uid), name: cut(req.name ?? ''), namespace: cut(req.namespace ?? ''), webhook },
          'admission decision failed',
        );
        const cause = `internal error: ${cut((err as Error).message, MAX_DETAIL_CHARS)}`;
        verdict =
          err instanceof FreshReadFailed
            ? this.unfinished(webhook, req, cause, 'internal')
            : this.failure(webhook, req, cause, 'internal');
      }
    } finally {
      clock.disarm();
      timer?.();
    }
    return respond(req.uid, verdict);
  }

  private async decide(webhook: WebhookKind, req: GuardRequest, clock: LazyDeadline): Promise<Verdict> {
    if (!targetOf(req)) return this.count(webhook, allowed(), 'allowed');
    const stale = this.deps.staleCaches?.() ?? [];
    if (stale.length > 0) return this.failure(webhook, req, staleCause(stale), 'stale-cache');
    if (!this.deps.synced()) return this.failure(webhook, req, 'caches not synced', 'unsynced');
    const verdict = webhook === 'validate' ? await this.validate(req, clock) : await this.mutate(req, clock);
    if (clock.aborted) return verdict; // answered already (deadline): nothing of this late decision is counted
    const result = !verdict.allowed ? 'denied' : verdict.patch ? 'patched' : 'allowed';
    return this.count(webhook, verdict, result);
  }

  private count(webhook: WebhookKind, verdict: Verdict, result: string): Verdict {
    this.deps.metrics?.requests.inc({ webhook, result });
    return verdict;
  }

  /**
   * A decision cut short by a fresh read that failed or by the deadline. When the caches went stale meanwhile, the
   * API server stopped answering while the decision waited on it: that is the cause to name (stale-cache), the read's
   * or the deadline's failure being its symptom. Otherwise the cause is the failure itself.
   */
  private unfinished(webhook: WebhookKind, req: GuardRequest, cause: string, label: string): Verdict {
    const stale = this.deps.staleCaches?.() ?? [];
    if (stale.length > 0) return this.failure(webhook, req, `${staleCause(stale)}; meanwhile ${cause}`, 'stale-cache');
    return this.failure(webhook, req, cause, label);
  }

  /** Fail-open by default: a broken guard must not stop the IPAM. The cause is named and counted. */
  private failure(webhook: WebhookKind, req: GuardRequest, cause: string, label: string): Verdict {
    this.deps.metrics?.errors.inc({ webhook, cause: label });
    this.deps.metrics?.requests.inc({ webhook, result: 'error' });
    this.deps.log.warn(
      {
        webhook,
        requestUID: cut(req.uid),
        name: cut(req.name ?? ''),
        cause: label,
        failClosed: !!this.deps.failClosed,
      },
      `answered without a decision: ${cause}`,
    );
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
    limits: EvaluationLimits,
    clock: LazyDeadline,
  ): Promise<{ evaluation: Evaluation; view: ClusterView }> {
    const base = this.deps.view();
    // made on the first read: a decision on the cache alone (nearly every review) allocates neither
    let fresh: FreshObjects | undefined;
    let read: Set<string> | undefined;
    let view: ClusterView = base;
    for (let round = 0; ; round++) {
      const recording = new MissRecordingView(view);
      const evaluation = evaluate(req, recording, this.deps.settings, limits);
      const wanted = evaluation.violations.filter(needsFresh);
      const misses = readMisses || wanted.length > 0 ? [...recording.misses.values()] : [];
      if (!this.deps.fresh || round >= MAX_FRESH_ROUNDS) return { evaluation, view };
      const refs: ObjectRef[] = [];
      for (const r of [...wanted.flatMap((v) => v.evidence), ...misses]) {
        if (refs.length >= MAX_FRESH_READS_PER_ROUND) break;
        read ??= new Set<string>();
        if (read.has(refKey(r))) continue;
        read.add(refKey(r));
        refs.push(r);
      }
      if (refs.length === 0) return { evaluation, view };
      let got: FreshObjects;
      try {
        got = await this.deps.fresh.read(refs, clock.signal);
      } catch (err) {
        if (clock.aborted) throw err;
        this.deps.metrics?.freshReads.inc({ result: 'failed' });
        throw new FreshReadFailed(`fresh read before denial failed: ${(err as Error).message}`, { cause: err });
      }
      // Nothing read (e.g. only KubeVirt objects, and KubeVirt is not served: the reader skips them): the view is the
      // one just evaluated, and evaluating it again would give the same evaluation. A release of a gone pod's record
      // misses its KubeVirt lookups on every review, so this saves it a second evaluation.
      if (Object.values(got).every((m: Map<string, unknown>) => m.size === 0)) return { evaluation, view };
      fresh ??= emptyFresh();
      mergeFresh(fresh, got);
      view = new OverlayView(base, fresh);
    }
  }

  private record(
    req: GuardRequest,
    webhook: WebhookKind,
    judged: Judged[],
    clock: LazyDeadline,
    omitted = 0,
    atLeast = false,
  ): void {
    if (clock.aborted) return; // the request was answered at the deadline: this decision never took effect
    const now = this.now();
    for (const event of auditEventsFor(req, judged, now, omitted, atLeast)) this.deps.audit.write(event);
    for (const j of judged) {
      this.deps.metrics?.decisions.inc({ webhook, rule: j.violation.rule, mode: j.mode, outcome: j.outcome });
      if (
        j.violation.rule === 'UNCONFIRMED_TERMINATION_RELEASE' &&
        (j.outcome === 'denied' || j.outcome === 'repaired')
      ) {
        this.deps.metrics?.heldReleases.inc({ outcome: j.outcome });
      }
    }
    if (judged.length > 0) this.deps.onDecision?.(req, judged);
  }

  private async validate(req: GuardRequest, clock: LazyDeadline): Promise<Verdict> {
    const policy = this.deps.policy;
    const denies = deniedRulesFor(policy, req.user);
    const limits = { ...DEFAULT_LIMITS, decisive: denies };
    const { evaluation } = await this.evaluateFresh(req, (v) => denies(v.rule), true, limits, clock);
    const decision = judgeValidation(
      evaluation.violations,
      policy,
      req.user,
      evaluation.omitted,
      evaluation.stoppedEarly,
    );
    const omitted = decision.omitted.denied + decision.omitted.warned + decision.omitted.audited;
    this.record(req, 'validate', decision.judged, clock, omitted, evaluation.stoppedEarly);
    const verdict = withWarnings(decision.allowed ? allowed() : denied(decision.denials.join('\n')), decision.warnings);
    return decision.auditAnnotations ? { ...verdict, auditAnnotations: decision.auditAnnotations } : verdict;
  }

  private async mutate(req: GuardRequest, clock: LazyDeadline): Promise<Verdict> {
    if (targetOf(req) !== 'poolStatus' || !req.object) return allowed();
    const policy = this.deps.policy;
    const repairable = (v: Violation) => repairsRule(v.rule, policy);
    // no early stop: a repair re-adds every record it keeps (past the limit the validating webhook denies the rest)
    const { evaluation, view } = await this.evaluateFresh(req, repairable, false, DEFAULT_LIMITS, clock);
    const plan = planStatusMutation(evaluation, req.object, view, policy, req.user, this.deps.settings.staticIp);
    if (!plan || !plan.changed) return allowed();
    if (clock.aborted) return allowed();
    this.record(req, 'mutate', plan.repaired, clock);
    if (plan.countFix) {
      this.deps.audit.write(
        countFixEvent(req, evaluation.poolUpdate?.pool ?? req.name ?? '', plan.countFix.message, this.now()),
      );
      this.deps.metrics?.decisions.inc({
        webhook: 'mutate',
        rule: 'COUNT_MISMATCH',
        mode: 'repair',
        outcome: 'repaired',
      });
    }
    const status = { ...((req.object.status as Record<string, unknown>) ?? {}) };
    if (plan.allocatedIPs === undefined) delete status.allocatedIPs;
    else status.allocatedIPs = plan.allocatedIPs;
    status.allocatedIPCount = plan.allocatedIPCount;
    const ops = compare(req.object, { ...req.object, status });
    const judged = [...plan.repaired];
    const rules = [
      ...new Set([...judged.map((j) => j.violation.rule as string), ...(plan.countFix ? ['COUNT_MISMATCH'] : [])]),
    ];
    return patched(ops, {
      rule: cut(rules.join(','), MAX_ANNOTATION_CHARS),
      ips: cut(annotationIps(judged), MAX_ANNOTATION_CHARS),
    });
  }
}
