// HTTP only: routing, body limits, envelope errors, response encoding. Decisions come from AdmissionHandler.
import express, { NextFunction, Request, Response } from 'express';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Logger } from '../log';
import { AdmissionHandler, WebhookKind } from './handler';
import { ReviewDecodeError, decodeReviewBody, encodeReview } from './envelope';
import { BODY_LIMIT_BYTES, readBudgetedBody } from './body';
import { DEFAULT_INFLIGHT_BUDGET_BYTES, HEAVY_BODY_BYTES, InflightBudget } from './inflight-budget';
import { BudgetGate } from './budget-gate';
import { MAX_WAITING_REQUESTS, budgetWaitMs } from './budget-queue';
import { DRAIN_BOUNDS, DrainBounds, closeAfterAnswer } from './close-after-answer';
import { refuseContentHeaders } from './content-headers';
import { decisionBudgetMs } from './deadline';
import { HeavyLane } from './heavy-lane';
import { AdmissionMetrics } from './metrics';

export { BODY_LIMIT_BYTES };

export interface AdmissionAppOptions {
  metrics?: AdmissionMetrics;
  /** bytes of request bodies in flight; past them a request waits (its body unread), then 429 */
  inflightBudgetBytes?: number;
  /** requests that may wait for the budget at once (tests lower it) */
  maxWaitingRequests?: number;
  /** how much of a refused request's body is read and dropped before its connection is cut (tests shorten it) */
  drainBounds?: DrainBounds;
}

/** Seconds the API server is told to wait before retrying a throttled call (it applies failurePolicy meanwhile). */
const RETRY_AFTER_SECONDS = 1;

const WEBHOOK_PATHS = new Map<string, WebhookKind>([
  ['/validate/spiderippools', 'validate'],
  ['/mutate/spiderippools', 'mutate'],
  ['/validate/spiderendpoints', 'validate'],
]);

/** The webhook path of a POST whose request target is exactly one of them (a query allowed), else undefined. */
function exactWebhookPath(req: IncomingMessage): string | undefined {
  if (req.method !== 'POST' || !req.url) return undefined;
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  return WEBHOOK_PATHS.has(path) ? path : undefined;
}

export interface Readiness {
  /** name → ready?; /readyz is 200 only when all are */
  checks(): Record<string, boolean>;
  /** optional detail per check (e.g. each cache's state and why it is not ready), included in the /readyz body */
  details?(): Record<string, unknown>;
}

/** The /readyz answer (on the webhook port and on the metrics listener): 200 only when every check passes. */
export function readyzAnswer(readiness: Readiness): { status: number; body: Record<string, unknown> } {
  const checks = readiness.checks();
  const ready = Object.values(checks).every(Boolean);
  return { status: ready ? 200 : 503, body: { ready, checks, ...(readiness.details ? readiness.details() : {}) } };
}

/** A JSON answer with the headers express's res.json sets (Content-Type with charset, Content-Length), no more. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function badRequest(res: ServerResponse, status: number, reason: string): void {
  sendJson(res, status, { error: reason, code: status });
}

/**
 * The admission server's request listener. A POST to exactly a webhook path (what the API server sends) is answered
 * without express: its router and response helpers were about a tenth of a cache-decided review's CPU. Everything
 * else (the same paths spelled otherwise: another case, a trailing slash; /healthz, /readyz, 404s) goes through
 * express, whose routes call the same review function, so both ways answer alike.
 */
export function createAdmissionApp(
  handler: AdmissionHandler,
  readiness: Readiness,
  log: Logger,
  options: AdmissionAppOptions = {},
): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  // no ETag: the API server never revalidates an AdmissionReview answer, and express hashed every response for it
  app.set('etag', false);
  const metrics = options.metrics;
  const budget = new InflightBudget(options.inflightBudgetBytes ?? DEFAULT_INFLIGHT_BUDGET_BYTES, (bytes) =>
    metrics?.inflightBytes.set(bytes),
  );
  const gate = new BudgetGate(
    budget,
    {
      waiting: (n) => metrics?.budgetWaiting.set(n),
      waited: (outcome, ms) => {
        metrics?.budgetWaits.inc({ outcome });
        if (outcome !== 'full') metrics?.budgetWaitSeconds.observe(ms / 1000);
      },
    },
    options.maxWaitingRequests ?? MAX_WAITING_REQUESTS,
  );
  const heavyLane = new HeavyLane();
  const drainBounds = options.drainBounds ?? DRAIN_BOUNDS;
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const { status, body } = readyzAnswer(readiness);
    res.status(status).json(body);
  });
  /** Anything a review threw: answered, never fatal (express's error middleware below does the same for its routes). */
  const answerFailure = (err: Error & { status?: number }, path: string, res: ServerResponse) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) log.error({ err, path }, 'request failed');
    if (!res.headersSent) badRequest(res, status, err.message);
  };
  const review = async (path: string, kind: WebhookKind, req: IncomingMessage, res: ServerResponse) => {
    const arrived = performance.now();
    const url = req.url ?? path;
    // the API server always sends ?timeout=; a URL is parsed only when there is a query to read
    const budgetMs = decisionBudgetMs(
      url.includes('?') ? new URL(url, 'http://webhook').searchParams.get('timeout') : null,
    );
    const refused = refuseContentHeaders(req.headers);
    if (refused) {
      metrics?.requests.inc({ webhook: kind, result: 'bad_request' });
      log.warn({ path, status: refused.status, reason: refused.reason }, 'AdmissionReview refused by its headers');
      closeAfterAnswer(req, res, drainBounds);
      badRequest(res, refused.status, refused.reason);
      return;
    }
    const waitUntil = arrived + budgetWaitMs(budgetMs);
    const { outcome, release } = readBudgetedBody(req, gate, BODY_LIMIT_BYTES, waitUntil);
    res.once('close', release);
    const read = await outcome;
    if (!read.ok) {
      // the rest of the body is not read: it is dropped, and the connection closed once the answer is out
      closeAfterAnswer(req, res, drainBounds);
      if (read.status === 429) {
        metrics?.throttled.inc({ webhook: kind });
        res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
        log.warn(
          {
            path,
            reason: read.reason,
            waitedMs: Math.round(performance.now() - arrived),
            waiting: gate.waiting,
            inflightBytes: budget.inUse,
            budgetBytes: budget.limitBytes,
          },
          'AdmissionReview throttled (429)',
        );
      } else {
        metrics?.requests.inc({ webhook: kind, result: 'bad_request' });
        log.warn({ path, status: read.status, reason: read.reason }, 'AdmissionReview body refused');
      }
      badRequest(res, read.status, read.reason);
      return;
    }
    const heavy = read.bytes > HEAVY_BODY_BYTES;
    if (heavy) await heavyLane.acquire();
    try {
      let decoded;
      try {
        decoded = decodeReviewBody(read.text);
      } catch (err) {
        if (err instanceof ReviewDecodeError) {
          metrics?.requests.inc({ webhook: kind, result: 'bad_request' });
          log.warn({ path, reason: err.message }, 'malformed AdmissionReview');
          badRequest(res, 400, err.message);
          return;
        }
        throw err;
      }
      const response = await handler.handle(kind, decoded, { budgetMs: budgetMs - (performance.now() - arrived) });
      sendJson(res, 200, encodeReview(response));
    } finally {
      if (heavy) heavyLane.release();
    }
  };
  for (const [path, kind] of WEBHOOK_PATHS)
    app.post(path, (req: Request, res: Response) => review(path, kind, req, res));
  app.use((_req: Request, res: Response) =>
    badRequest(res, 404, 'not found: webhook paths are ' + [...WEBHOOK_PATHS.keys()].join(', ')),
  );
  app.use((err: Error & { status?: number }, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    answerFailure(err, req.path, res);
  });
  return (req, res) => {
    const path = exactWebhookPath(req);
    if (path === undefined) return app(req, res);
    review(path, WEBHOOK_PATHS.get(path) as WebhookKind, req, res).catch((err: Error) => answerFailure(err, path, res));
  };
}
