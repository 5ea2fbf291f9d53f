// HTTP only: routing, body limits, envelope errors, response encoding. Decisions come from AdmissionHandler.
import express, { NextFunction, Request, Response } from 'express';
import https from 'node:https';
import { createWebhookHttpsServer } from '../../certs';
import type { WebhookTlsOptions } from '../../certs';
import { Logger } from '../log';
import { AdmissionHandler, WebhookKind } from './handler';
import { ReviewDecodeError, decodeReview, encodeReview } from './review';

/** Old + new object of a pool near etcd's 1.5 MiB object limit, JSON-escaped inside a JSON string, with headroom. */
export const BODY_LIMIT_BYTES = 16 * 1024 * 1024;

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

export function createAdmissionApp(handler: AdmissionHandler, readiness: Readiness, log: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const { status, body } = readyzAnswer(readiness);
    res.status(status).json(body);
  });
  const parseJson = express.json({ limit: BODY_LIMIT_BYTES, type: () => true, strict: true });
  for (const [path, kind] of Object.entries(WEBHOOK_PATHS)) {
    app.post(
      path,
      (req: Request, res: Response, next: NextFunction) => {
        const type = req.headers['content-type'] ?? '';
        if (!/^application\/json\b/i.test(type)) {
          badRequest(res, 400, `unsupported Content-Type ${JSON.stringify(type)}: expected application/json`);
          return;
        }
        next();
      },
      parseJson,
      async (req: Request, res: Response) => {
        let decoded;
        try {
          decoded = decodeReview(req.body);
        } catch (err) {
          if (err instanceof ReviewDecodeError) {
            log.warn({ path, reason: err.message }, 'malformed AdmissionReview');
            badRequest(res, 400, err.message);
            return;
          }
          throw err;
        }
        const response = await handler.handle(kind, decoded);
        res.json(encodeReview(response));
      },
    );
  }
  app.use((_req: Request, res: Response) => badRequest(res, 404, 'not found: webhook paths are ' + Object.keys(WEBHOOK_PATHS).join(', ')));
  // body-parser errors (invalid JSON, too large, empty) and anything a route threw: answered, never fatal.
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) log.error({ err, path: req.path }, 'request failed');
    const reason =
      err.type === 'entity.too.large'
        ? `body larger than ${BODY_LIMIT_BYTES} bytes`
        : err.type === 'entity.parse.failed'
          ? `body is not valid JSON: ${err.message}`
          : err.message;
    if (!res.headersSent) badRequest(res, status, reason);
  });
  return app;
}

export interface TlsPair {
  key: string;
  cert: string;
}

/**
 * TLS 1.2+ with ECDHE AEAD suites, a handshake deadline and, with `options.clientCa`, client-certificate
 * verification (see certs/tls-options.ts). `server.setSecureContext({ key, cert })` keeps all of it on reload.
 */
export function startHttpsServer(app: express.Express, tls: TlsPair, port: number, host: string, options: WebhookTlsOptions = {}): Promise<https.Server> {
  const server = createWebhookHttpsServer(tls, options, app);
  // keep-alive from the API server is welcome, but never hold a request forever
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
