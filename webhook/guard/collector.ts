// Collects a request's violations within bounds (docs/rules.md, Enforcement modes, "Bounds"): a write that releases
// 65,536 live records must not cost 65,536 violation objects, messages and audit lines. Counting goes on past the
// per-rule limit; looking stops once a rule that decides a denial on its own has reached it, since nothing found
// later can change the answer.
import { RuleName, Violation } from './rule-names';

export interface EvaluationLimits {
  /** violations kept per rule; more are counted, not kept */
  maxPerRule: number;
  /** a violation of this rule denies the write by itself (its mode enforces, the writer is not exempt) */
  decisive?: (rule: RuleName) => boolean;
}

/** Enough for the 20 message lines and 100 audit lines a response and a request may carry, and for fresh reads. */
export const DEFAULT_LIMITS: EvaluationLimits = { maxPerRule: 256 };

export class ViolationCollector {
  readonly violations: Violation[] = [];
  /** per rule: violations found but not kept */
  readonly omitted = new Map<RuleName, number>();
  private readonly found = new Map<RuleName, number>();
  private stoppedEarly = false;

  constructor(private readonly limits: EvaluationLimits = DEFAULT_LIMITS) {}

  add(v: Violation): void {
    const n = (this.found.get(v.rule) ?? 0) + 1;
    this.found.set(v.rule, n);
    if (n <= this.limits.maxPerRule) this.violations.push(v);
    else this.omitted.set(v.rule, (this.omitted.get(v.rule) ?? 0) + 1);
    if (n >= this.limits.maxPerRule && this.limits.decisive?.(v.rule)) this.stoppedEarly = true;
  }

  addAll(vs: Iterable<Violation>): void {
    for (const v of vs) this.add(v);
  }

  /** true once looking further cannot change the decision: rules stop iterating, counts become lower bounds */
  get done(): boolean {
    return this.stoppedEarly;
  }
}
