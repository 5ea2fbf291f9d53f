// webhook/admission: AdmissionReview in, decision out (handler, HTTPS server, metrics). Sibling of reconciler/.
export { AdmissionHandler } from './handler';
export { createAdmissionMetrics } from './metrics';
export { ReviewDecodeError, decodeReview, decodeReviewBody, encodeReview } from './review';
export { createAdmissionApp, startHttpsServer } from './server';
export { BODY_LIMIT_BYTES, DEFAULT_INFLIGHT_BUDGET_BYTES } from './body';
export { decisionBudgetMs, parseGoDuration } from './deadline';
