// Enforcement modes (docs/rules.md, Enforcement modes): what happens to a violation, per rule, for this writer.
import { canonicalIp } from '../../lib/ip';
import { MAX_DETAIL_CHARS, cut } from '../../lib/bounds';
import { REPAIRABLE_RULES, RuleName, Violation, isRuleName, violationMessage } from './rule-names';
import { UserMatcher } from './users';

const MODES = ['enforce', 'warn', 'audit', 'repair'] as const;
export type Mode = (typeof MODES)[number];
export type Outcome = 'denied' | 'warned' | 'audited' | 'repaired';

function isMode(s: string): s is Mode {
  return (MODES as readonly string[]).includes(s);
}

export interface Policy {
  defaultMode: Mode;
  ruleModes: ReadonlyMap<RuleName, Mode>;
  exemptUsers: UserMatcher;
}

/** A rule/mode setting that names an unknown rule or mode, or a repair the rule does not have. */
export class PolicyError extends Error {}

/** "LIVE_IP_RELEASE=warn" → [rule, mode]; unknown rules/modes and repair on a rule without repair are unusable. */
function parseRuleMode(text: string): [RuleName, Mode] {
  const eq = text.indexOf('=');
  const rule = eq >= 0 ? text.slice(0, eq).trim() : '';
  const mode = eq >= 0 ? text.slice(eq + 1).trim() : '';
  if (!isRuleName(rule))
    throw new PolicyError(`--rule-mode ${JSON.stringify(text)}: unknown rule ${JSON.stringify(rule)}`);
  if (!isMode(mode))
    throw new PolicyError(
      `--rule-mode ${JSON.stringify(text)}: unknown mode ${JSON.stringify(mode)} (enforce|warn|audit|repair)`,
    );
  if (mode === 'repair' && !REPAIRABLE_RULES.has(rule)) {
    throw new PolicyError(
      `--rule-mode ${JSON.stringify(text)}: ${rule} has no repair mode (only ${[...REPAIRABLE_RULES].join(', ')})`,
    );
  }
  return [rule, mode];
}

export function parseMode(text: string): Mode {
  if (!isMode(text)) throw new PolicyError(`--mode ${JSON.stringify(text)}: unknown mode (enforce|warn|audit|repair)`);
  return text;
}

export function buildPolicy(defaultMode: Mode, ruleModes: string[], exemptUsers: UserMatcher): Policy {
  return { defaultMode, ruleModes: new Map(ruleModes.map(parseRuleMode)), exemptUsers };
}

/** The configured mode of a rule; a global `repair` means enforce for rules that cannot be repaired. */
export function modeOf(rule: RuleName, policy: Policy): Mode {
  const explicit = policy.ruleModes.get(rule);
  if (explicit) return explicit;
  if (policy.defaultMode === 'repair' && !REPAIRABLE_RULES.has(rule)) return 'enforce';
  return policy.defaultMode;
}

/**
 * The rules whose violations the validating webhook denies for this writer: enforce, and repair (a repaired write
 * no longer violates, so what is left is denied); nothing for an exempt writer. The admission handler stops
 * evaluating early and re-reads evidence only for these.
 */
export function deniedRulesFor(policy: Policy, user: string): (rule: RuleName) => boolean {
  if (policy.exemptUsers.matches(user)) return () => false;
  return (rule) => {
    const mode = modeOf(rule, policy);
    return mode === 'enforce' || mode === 'repair';
  };
}

/** Whether the mutating webhook repairs violations of this rule (repair mode, on a rule that has a repair). */
export function repairsRule(rule: RuleName, policy: Policy): boolean {
  return REPAIRABLE_RULES.has(rule) && modeOf(rule, policy) === 'repair';
}

export interface Judged {
  violation: Violation;
  mode: Mode;
  outcome: Outcome;
  exempt: boolean;
  message: string;
}

export interface ValidationDecision {
  allowed: boolean;
  /** the violations kept by the evaluation's limits, judged (audit lines and metrics come from these) */
  judged: Judged[];
  /** per outcome: violations found but not kept (lower bounds when `atLeast`) */
  omitted: Record<Outcome, number>;
  atLeast: boolean;
  /** status.message lines: at most MAX_MESSAGE_VIOLATIONS, then one line saying how many more */
  denials: string[];
  /** at most MAX_WARNINGS; when more, the last one says how many were left out */
  warnings: string[];
  auditAnnotations: Record<string, string> | undefined;
}

/** Bounds of a response (docs/rules.md, Enforcement modes, "Bounds"). */
export const MAX_MESSAGE_VIOLATIONS = 20;
export const MAX_WARNINGS = 20;
export const MAX_ANNOTATION_CHARS = MAX_DETAIL_CHARS;

function moreLine(n: number, atLeast: boolean): string {
  return `... and ${atLeast ? 'at least ' : ''}${n} more violation${n === 1 ? '' : 's'}`;
}

/**
 * At most `max` lines, then one line with the count of the rest (kept beyond the shown ones plus `more`, never kept);
 * `summaryWithin`: the summary line is one of the `max` (warnings) instead of one more (status.message).
 */
function boundedLines(lines: string[], more: number, atLeast: boolean, max: number, summaryWithin: boolean): string[] {
  const total = lines.length + more;
  if (total <= max && more === 0) return lines;
  const shown = lines.slice(0, summaryWithin ? max - 1 : max);
  return [...shown, moreLine(total - shown.length, atLeast)];
}

function auditAnnotationsFor(judged: Judged[]): Record<string, string> | undefined {
  if (judged.length === 0) return undefined;
  const rules = [...new Set(judged.map((j) => j.violation.rule))];
  return { rule: cut(rules.join(','), MAX_ANNOTATION_CHARS), ips: cut(annotationIps(judged), MAX_ANNOTATION_CHARS) };
}

/** IPs for the `ips` audit annotation; a malformed key that is not an IP is JSON-quoted so it cannot split the list. */
export function annotationIps(judged: Judged[]): string {
  const ips = [...new Set(judged.map((j) => j.violation.ip).filter((ip): ip is string => !!ip))];
  return ips.map((ip) => (canonicalIp(ip) === ip ? ip : JSON.stringify(cut(ip)))).join(',');
}

function outcomeOf(rule: RuleName, policy: Policy, exempt: boolean): { mode: Mode; outcome: Outcome } {
  const mode = modeOf(rule, policy);
  return { mode, outcome: exempt || mode === 'audit' ? 'audited' : mode === 'warn' ? 'warned' : 'denied' };
}

/**
 * Validating path: enforce (and repair, whose repaired write would no longer violate) denies; exempt users are only
 * audited. `omitted` (per rule, found beyond the evaluation's limits) is counted in the "... and N more" lines.
 */
export function judgeValidation(
  violations: Violation[],
  policy: Policy,
  user: string,
  omittedByRule: ReadonlyMap<RuleName, number> = new Map(),
  atLeast = false,
): ValidationDecision {
  const exempt = policy.exemptUsers.matches(user);
  const judged: Judged[] = violations.map((violation) => ({
    violation,
    ...outcomeOf(violation.rule, policy, exempt),
    exempt,
    message: violationMessage(violation),
  }));
  const omitted: Record<Outcome, number> = { denied: 0, warned: 0, audited: 0, repaired: 0 };
  for (const [rule, n] of omittedByRule) omitted[outcomeOf(rule, policy, exempt).outcome] += n;
  const denials = judged.filter((j) => j.outcome === 'denied').map((j) => j.message);
  const warnings = judged.filter((j) => j.outcome === 'warned').map((j) => j.message);
  return {
    allowed: denials.length === 0 && omitted.denied === 0,
    judged,
    omitted,
    atLeast,
    denials: boundedLines(denials, omitted.denied, atLeast, MAX_MESSAGE_VIOLATIONS, false),
    warnings: boundedLines(warnings, omitted.warned, atLeast, MAX_WARNINGS, true),
    auditAnnotations: auditAnnotationsFor(judged),
  };
}
