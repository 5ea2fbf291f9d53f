// The webhook's HTTPS listener: the admission app (admission/server.ts, HTTP only) behind the TLS settings of certs/.
import type { RequestListener } from 'node:http';
import type https from 'node:https';
import { createWebhookHttpsServer } from '../../certs';
import type { WebhookTlsOptions } from '../../certs';

export interface TlsPair {
  key: string;
  cert: string;
}

/**
 * How long an idle kept-alive connection stays open. The API server's webhook client (Go net/http through client-go)
 * closes its idle connections after 90 s; Node closes them after 5 s by default. When the server closes first, a call
 * the API server sends on that connection in the same instant (the FIN not yet read: an API server short of CPU
 * reads it late) is lost after it was written, and a POST is not retried: the call fails open. Longer than the
 * client's, so the client always closes an idle connection first.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/**
 * TLS 1.2+ with ECDHE AEAD suites, a handshake deadline and, with `options.clientCa`, client-certificate
 * verification (see certs/tls-options.ts). `server.setSecureContext({ key, cert })` keeps all of it on reload.
 */
export function startHttpsServer(
  app: RequestListener,
  tls: TlsPair,
  port: number,
  host: string,
  options: WebhookTlsOptions = {},
): Promise<https.Server> {
  const server = createWebhookHttpsServer(tls, options, app);
  // keep-alive from the API server is welcome, but never hold a request forever
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
