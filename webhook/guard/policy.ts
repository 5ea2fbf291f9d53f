// Enforcement modes (docs/rules.md, Enforcement modes): what happens to a violation, per rule, for this writer.
import { canonicalIp } from '../../lib/ip';
import { REPAIRABLE_RULES, RuleName, Violation, isRuleName, violationMessage } from './rules';
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
  if (!isRuleName(rule)) throw new PolicyError(`--rule-mode ${JSON.stringify(text)}: unknown rule ${JSON.stringify(rule)}`);
  if (!isMode(mode)) throw new PolicyError(`--rule-mode ${JSON.stringify(text)}: unknown mode ${JSON.stringify(mode)} (enforce|warn|audit|repair)`);
  if (mode === 'repair' && !REPAIRABLE_RULES.has(rule)) {
    throw new PolicyError(`--rule-mode ${JSON.stringify(text)}: ${rule} has no repair mode (only ${[...REPAIRABLE_RULES].join(', ')})`);
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

export interface Judged {
  violation: Violation;
  mode: Mode;
  outcome: Outcome;
  exempt: boolean;
  message: string;
}

export interface ValidationDecision {
  allowed: boolean;
  judged: Judged[];
  /** status.message lines of enforced violations */
  denials: string[];
  warnings: string[];
  auditAnnotations: Record<string, string> | undefined;
}

function auditAnnotationsFor(judged: Judged[]): Record<string, string> | undefined {
  if (judged.length === 0) return undefined;
  const rules = [...new Set(judged.map((j) => j.violation.rule))];
  return { rule: rules.join(','), ips: annotationIps(judged) };
}

/** IPs for the `ips` audit annotation; a malformed key that is not an IP is JSON-quoted so it cannot split the list. */
export function annotationIps(judged: Judged[]): string {
  const ips = [...new Set(judged.map((j) => j.violation.ip).filter((ip): ip is string => !!ip))];
  return ips.map((ip) => (canonicalIp(ip) === ip ? ip : JSON.stringify(ip))).join(',');
}

/** Validating path: enforce (and repair, whose repaired write would no longer violate) denies; exempt users are only audited. */
export function judgeValidation(violations: Violation[], policy: Policy, user: string): ValidationDecision {
  const exempt = policy.exemptUsers.matches(user);
  const judged: Judged[] = violations.map((violation) => {
    const mode = modeOf(violation.rule, policy);
    const outcome: Outcome = exempt || mode === 'audit' ? 'audited' : mode === 'warn' ? 'warned' : 'denied';
    return { violation, mode, outcome, exempt, message: violationMessage(violation) };
  });
  const denials = judged.filter((j) => j.outcome === 'denied').map((j) => j.message);
  const warnings = judged.filter((j) => j.outcome === 'warned').map((j) => j.message);
  return { allowed: denials.length === 0, judged, denials, warnings, auditAnnotations: auditAnnotationsFor(judged) };
}
