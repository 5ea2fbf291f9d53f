// HTTP only: routing, body limits, envelope errors, response encoding. Decisions come from AdmissionHandler.
import express, { NextFunction, Request, Response } from 'express';
import { Logger } from '../log';
import { AdmissionHandler, WebhookKind } from './handler';
import { ReviewDecodeError, decodeReviewBody, encodeReview } from './envelope';
import {
  BODY_LIMIT_BYTES,
  DEFAULT_INFLIGHT_BUDGET_BYTES,
  HEAVY_BODY_BYTES,
  InflightBudget,
  readBudgetedBody,
} from './body';
import { DRAIN_BOUNDS, DrainBounds, closeAfterAnswer } from './close-after-answer';
import { refuseContentHeaders } from './content-headers';
import { decisionBudgetMs } from './deadline';
import { HeavyLane } from './heavy-lane';
import { AdmissionMetrics } from './metrics';

export { BODY_LIMIT_BYTES };

export interface AdmissionAppOptions {
  metrics?: AdmissionMetrics;
  /** bytes of request bodies in flight before answering 429 */
  inflightBudgetBytes?: number;
  /** how much of a refused request's body is read and dropped before its connection is cut (tests shorten it) */
  drainBounds?: DrainBounds;
}

/** Seconds the API server is told to wait before retrying a throttled call (it applies failurePolicy meanwhile). */
const RETRY_AFTER_SECONDS = 1;

const WEBHOOK_PATHS: Record<string, WebhookKind> = {
  '/validate/spiderippools': 'validate',
  '/mutate/spiderippools': 'mutate',
  '/validate/spiderendpoints': 'validate',
};

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

function badRequest(res: Response, status: number, reason: string): void {
  res.status(status).json({ error: reason, code: status });
}

export function createAdmissionApp(
  handler: AdmissionHandler,
  readiness: Readiness,
  log: Logger,
  options: AdmissionAppOptions = {},
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // no ETag: the API server never revalidates an AdmissionReview answer, and express hashed every response for it
  app.set('etag', false);
  const metrics = options.metrics;
  const budget = new InflightBudget(options.inflightBudgetBytes ?? DEFAULT_INFLIGHT_BUDGET_BYTES, (bytes) =>
    metrics?.inflightBytes.set(bytes),
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
  for (const [path, kind] of Object.entries(WEBHOOK_PATHS)) {
    app.post(path, async (req: Request, res: Response) => {
      const arrived = performance.now();
      // the API server always sends ?timeout=; a URL is parsed only when there is a query to read
      const budgetMs = decisionBudgetMs(
        req.url.includes('?') ? new URL(req.url, 'http://webhook').searchParams.get('timeout') : null,
      );
      const refused = refuseContentHeaders(req.headers);
      if (refused) {
        metrics?.requests.inc({ webhook: kind, result: 'bad_request' });
        log.warn({ path, status: refused.status, reason: refused.reason }, 'AdmissionReview refused by its headers');
        closeAfterAnswer(req, res, drainBounds);
        badRequest(res, refused.status, refused.reason);
        return;
      }
      const { outcome, release } = readBudgetedBody(req, budget, BODY_LIMIT_BYTES);
      res.once('close', release);
      const read = await outcome;
      if (!read.ok) {
        // the rest of the body is not read: it is dropped, and the connection closed once the answer is out
        closeAfterAnswer(req, res, drainBounds);
        if (read.status === 429) {
          metrics?.throttled.inc({ webhook: kind });
          res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
          log.warn(
            { path, inflightBytes: budget.inUse, budgetBytes: budget.limitBytes },
            'AdmissionReview throttled (429)',
          );
        } else {
          metrics?.requests.inc({ webhook: kind, result: 'bad_request' });
          log.warn({ path, status: read.status, reason: read.reason }, 'AdmissionReview body refused');
        }
        badRequest(res, read.status, read.reason);
        return;
      }
      const heavy = read.body.length > HEAVY_BODY_BYTES;
      if (heavy) await heavyLane.acquire();
      try {
        let decoded;
        try {
          decoded = decodeReviewBody(read.body);
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
        res.json(encodeReview(response));
      } finally {
        if (heavy) heavyLane.release();
      }
    });
  }
  app.use((_req: Request, res: Response) =>
    badRequest(res, 404, 'not found: webhook paths are ' + Object.keys(WEBHOOK_PATHS).join(', ')),
  );
  // anything a route threw: answered, never fatal.
  app.use((err: Error & { status?: number }, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) log.error({ err, path: req.path }, 'request failed');
    if (!res.headersSent) badRequest(res, status, err.message);
  });
  return app;
}
