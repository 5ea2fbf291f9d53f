// webhook/admission: AdmissionReview in, decision out (handler, HTTPS server, metrics). Sibling of reconciler/.
export { decisionEffects, decisionEvents, healRequests } from './decision-effects';
export { AdmissionHandler } from './handler';
export { createAdmissionMetrics } from './metrics';
export { ReviewDecodeError, decodeReview, decodeReviewBody, encodeReview } from './envelope';
export { createAdmissionApp, readyzAnswer } from './server';
export type { Readiness } from './server';
export { startOpsServer } from './ops-server';
export { BODY_LIMIT_BYTES, DEFAULT_INFLIGHT_BUDGET_BYTES } from './body';
export { decisionBudgetMs, parseGoDuration } from './deadline';
