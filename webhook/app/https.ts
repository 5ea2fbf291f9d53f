// The webhook's HTTPS listener: the admission app (admission/server.ts, HTTP only) behind the TLS settings of certs/.
import type express from 'express';
import type https from 'node:https';
import { createWebhookHttpsServer } from '../../certs';
import type { WebhookTlsOptions } from '../../certs';

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
