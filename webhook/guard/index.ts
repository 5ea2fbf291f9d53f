// webhook/guard: the rules, pure (time and views passed in). Imports only model/.
export { evaluate } from './evaluate';
export type { Evaluation, GuardSettings } from './evaluate';
export { summarizePod } from './facts';
export { PolicyError, annotationIps, buildPolicy, judgeValidation, modeOf, parseMode } from './policy';
export type { Judged, Outcome, Policy } from './policy';
export { planStatusMutation } from './repair';
export { targetOf } from './request';
export type { GuardRequest } from './request';
export { COUNT_MISMATCH, REPAIRABLE_RULES, violationMessage } from './rules';
export type { LivePodSummary, Violation } from './rules';
export { DEFAULT_GUARDED_USERS, UserMatcher, splitGlobList } from './users';
