// webhook/guard: the rules, pure (time and views passed in). Imports only model/.
// How to change this room: a new rule is its name and message in rule-names.ts, its check in pool-rules.ts or endpoint-rules.ts and its section in docs/rules.md (Rules); test/unit/docs/docs.test.ts checks the pair, test/unit/guard/ the behaviour. Modes are decided in policy.ts only.
export { DEFAULT_LIMITS, ViolationCollector } from './collector';
export type { EvaluationLimits } from './collector';
export { evaluate } from './evaluate';
export type { Evaluation, GuardSettings, TerminationSettings } from './evaluate';
export { summarizePod } from './facts';
export {
  MAX_ANNOTATION_CHARS,
  MAX_MESSAGE_VIOLATIONS,
  MAX_WARNINGS,
  PolicyError,
  annotationIps,
  buildPolicy,
  deniedRulesFor,
  judgeValidation,
  modeOf,
  parseMode,
  repairsRule,
} from './policy';
export type { Judged, Outcome, Policy } from './policy';
export { planStatusMutation } from './repair';
export { targetOf } from './request';
export type { GuardRequest } from './request';
export { COUNT_MISMATCH, REPAIRABLE_RULES, violationMessage } from './rule-names';
export type { LivePodSummary, RuleName, Violation } from './rule-names';
export { DEFAULT_GUARDED_USERS, UserMatcher, splitGlobList } from './users';
