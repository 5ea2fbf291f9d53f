/**
 * TLS settings of the webhook's HTTPS server, in one place:
 *   - TLS 1.2 and 1.3 only;
 *   - TLS 1.2 restricted to forward-secret AEAD suites (ECDHE with ECDSA or RSA, AES-GCM or CHACHA20-POLY1305): no
 *     CBC/SHA-1, no CCM/CCM8, no ARIA/CAMELLIA, no static-RSA or DHE key exchange;
 *   - TLS 1.3 with OpenSSL's default suites (all AEAD);
 *   - optional client-certificate verification: with a client CA, a caller without a certificate signed by it fails
 *     the handshake and never reaches HTTP;
 *   - a handshake deadline: a connection that has not finished the handshake in time (default 10 s) is closed,
 *     whether it is silent or trickles bytes (Node's handshakeTimeout is measured from the connection, not idle time).
 *
 * `https.Server.setSecureContext(o)` replaces the whole secure context with what `o` holds: reloading only
 * {key, cert} would silently drop the cipher list, the minimum version and the client CA. The server built here
 * therefore merges these settings into every setSecureContext call, so a certificate reload keeps them. The options
 * object is read at each call: to swap the client CA bundle, set `opts.clientCa` and call setSecureContext again
 * (verification itself is decided when the server is created: a server started without a client CA never asks).
 */
import https from 'node:https';
import type { RequestListener } from 'node:http';
import type { SecureContextOptions, TLSSocket } from 'node:tls';

/** TLS 1.2 suites, strongest first (the server's order wins). */
export const TLS12_CIPHERS: readonly string[] = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
];

/** TLS 1.3 suites: OpenSSL's defaults, named explicitly because Node sets both lists from one `ciphers` string. */
export const TLS13_CIPHERS: readonly string[] = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
];

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface ServingPair {
  /** PEM private key. */
  key: string;
  /** PEM certificate (chain). */
  cert: string;
}

export interface WebhookTlsOptions {
  /** PEM bundle of the CAs whose client certificates are accepted; unset = no client certificate asked for. */
  clientCa?: string | undefined;
  /** Connections that have not completed the TLS handshake after this long are closed. Default 10 000 ms. */
  handshakeTimeoutMs?: number | undefined;
}

/** The secure-context settings that must survive every certificate reload. */
function hardening(opts: WebhookTlsOptions): SecureContextOptions {
  return {
    minVersion: 'TLSv1.2',
    ciphers: [...TLS13_CIPHERS, ...TLS12_CIPHERS].join(':'),
    honorCipherOrder: true,
    // For a server, `ca` is the set of CAs trusted for CLIENT certificates; never the serving trust bundle.
    ca: opts.clientCa !== undefined && opts.clientCa !== '' ? opts.clientCa : undefined,
  };
}

/** Options for https.createServer: the serving pair plus the hardening above. */
export function webhookServerOptions(pair: ServingPair, opts: WebhookTlsOptions = {}): https.ServerOptions {
  const verifyClients = opts.clientCa !== undefined && opts.clientCa !== '';
  return {
    key: pair.key,
    cert: pair.cert,
    ...hardening(opts),
    requestCert: verifyClients,
    rejectUnauthorized: verifyClients,
    handshakeTimeout: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  };
}

/**
 * An HTTPS server with the settings above. Its setSecureContext keeps them: callers pass only {key, cert}.
 * Handshake failures (timeout, bad client certificate, refused suite) destroy the socket here rather than relying
 * on whatever `clientError` listeners the HTTP layer may have.
 */
export function createWebhookHttpsServer(
  pair: ServingPair,
  opts: WebhookTlsOptions,
  handler?: RequestListener,
): https.Server {
  const server = handler
    ? https.createServer(webhookServerOptions(pair, opts), handler)
    : https.createServer(webhookServerOptions(pair, opts));
  const replaceContext = server.setSecureContext.bind(server);
  server.setSecureContext = (o: SecureContextOptions): void => replaceContext({ ...o, ...hardening(opts) });
  server.on('tlsClientError', (_err: Error, socket: TLSSocket) => {
    socket.destroy();
  });
  return server;
}
