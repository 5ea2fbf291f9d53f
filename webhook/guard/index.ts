// webhook/guard: the rules, pure (time and views passed in). Imports only model/.
export { DEFAULT_LIMITS, ViolationCollector } from './collector';
export type { EvaluationLimits } from './collector';
export { evaluate } from './evaluate';
export type { Evaluation, GuardSettings } from './evaluate';
export { summarizePod } from './facts';
export { MAX_ANNOTATION_CHARS, MAX_MESSAGE_VIOLATIONS, MAX_WARNINGS, PolicyError, annotationIps, buildPolicy, judgeValidation, modeOf, parseMode } from './policy';
export type { Judged, Outcome, Policy } from './policy';
export { planStatusMutation } from './repair';
export { targetOf } from './request';
export type { GuardRequest } from './request';
export { COUNT_MISMATCH, REPAIRABLE_RULES, violationMessage } from './rule-names';
export type { LivePodSummary, RuleName, Violation } from './rule-names';
export { DEFAULT_GUARDED_USERS, UserMatcher, splitGlobList } from './users';
