// webhook/admission: AdmissionReview in, decision out (handler, HTTP app, metrics); HTTPS and TLS are app/'s. Sibling of reconciler/.
// How to change this room: HTTP concerns go to server.ts and body.ts, the decision flow to handler.ts, which asks guard/ (policy.ts) what each mode means; a new refusal gets a line in docs/operations.md (Requests the guard refuses).
export { decisionEffects, decisionEvents, healRequests } from './decision-effects';
export { AdmissionHandler } from './handler';
export { createAdmissionMetrics } from './metrics';
export { ReviewDecodeError, decodeReview, decodeReviewBody, encodeReview } from './envelope';
export { createAdmissionApp, readyzAnswer } from './server';
export type { Readiness } from './server';
export { startOpsServer } from './ops-server';
export { BODY_LIMIT_BYTES } from './body';
export { DEFAULT_INFLIGHT_BUDGET_BYTES } from './inflight-budget';
export { DEFAULT_WEBHOOK_TIMEOUT_MS, decisionBudgetMs, parseGoDuration } from './deadline';
export { ListenerDrain } from './drain';
export type { DrainResult, DrainTiming, DrainableServer } from './drain';
