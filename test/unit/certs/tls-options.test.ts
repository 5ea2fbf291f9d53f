// The webhook's TLS settings (certs/tls-options.ts) on a real listening server, spoken to with node:tls and
// node:https. Every refusal is paired with a control: the same client against a permissive server succeeds, so the
// refusal comes from the hardening, not from what this client or this OpenSSL can do.
import express from 'express';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { generate } from 'selfsigned';
import { generateCa, generateServing } from '../../../certs/pki';
import type { KeyPairPem, KeyType } from '../../../certs/pki';
import {
  TLS12_CIPHERS,
  TLS13_CIPHERS,
  createWebhookHttpsServer,
  webhookServerOptions,
} from '../../../certs/tls-options';
import type { WebhookTlsOptions } from '../../../certs/tls-options';
import { startHttpsServer } from '../../../webhook/app/https';

const HOUR = 3600_000;
const now = new Date();

async function servingPair(keyType: KeyType): Promise<KeyPairPem & { ca: string }> {
  const ca = await generateCa({ keyType, now, validityMs: 24 * HOUR, commonName: `test-${keyType}` });
  const leaf = await generateServing({
    ca,
    keyType,
    now,
    validityMs: 24 * HOUR,
    caNotAfter: new Date(now.getTime() + 24 * HOUR),
    dnsNames: ['localhost'],
    ips: ['127.0.0.1'],
  });
  return { ...leaf, ca: ca.cert };
}

async function clientPair(ca: KeyPairPem, cn: string): Promise<KeyPairPem> {
  const out = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - HOUR),
    notAfterDate: new Date(now.getTime() + 24 * HOUR),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { cert: out.cert, key: out.private };
}

const servers: Array<net.Server> = [];
function listen<S extends net.Server>(server: S): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function hardened(
  pair: KeyPairPem,
  opts: WebhookTlsOptions = {},
): Promise<{ server: https.Server; port: number }> {
  const server = createWebhookHttpsServer(pair, opts, (_req, res) => res.end('ok'));
  return { server, port: await listen(server) };
}

/** A server that accepts everything this OpenSSL can speak (the control). */
async function permissive(pair: KeyPairPem): Promise<number> {
  const server = tls.createServer(
    { ...pair, ciphers: 'ALL:COMPLEMENTOFALL:@SECLEVEL=0', minVersion: 'TLSv1', dhparam: 'auto' },
    (s) => s.end(),
  );
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

/** Resolves with "<suite> <protocol>" or "refused: <code>". */
function handshake(port: number, o: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...o }, () => {
      const result = `${sock.getCipher().name} ${sock.getProtocol() ?? ''}`;
      sock.destroy();
      resolve(result);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`));
  });
}
const tls12 = (suite: string): tls.ConnectionOptions => ({ ciphers: `${suite}:@SECLEVEL=0`, maxVersion: 'TLSv1.2' });

let rsa: KeyPairPem & { ca: string };
let ec: KeyPairPem & { ca: string };
beforeAll(async () => {
  [rsa, ec] = await Promise.all([servingPair('rsa'), servingPair('ec')]);
}, 30_000);

afterAll(async () => {
  for (const s of servers) {
    if (s instanceof https.Server) s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('cipher suites and protocol versions', () => {
  const forbidden: Array<[string, 'rsa' | 'ec']> = [
    ['ECDHE-RSA-AES128-SHA', 'rsa'], // SHA-1 CBC
    ['ECDHE-ECDSA-AES256-SHA', 'ec'], // SHA-1 CBC
    ['ECDHE-RSA-AES128-SHA256', 'rsa'], // CBC
    ['ECDHE-ECDSA-AES128-CCM8', 'ec'],
    ['ECDHE-ECDSA-AES128-CCM', 'ec'],
    ['ECDHE-ARIA128-GCM-SHA256', 'rsa'],
    ['ECDHE-ECDSA-ARIA256-GCM-SHA384', 'ec'],
    ['ECDHE-ECDSA-CAMELLIA128-SHA256', 'ec'],
    ['AES128-GCM-SHA256', 'rsa'], // static RSA key exchange: no forward secrecy
    ['DHE-RSA-AES128-GCM-SHA256', 'rsa'], // finite-field DHE
  ];

  it.each(forbidden)(
    'refuses TLS 1.2 %s (a permissive server accepts it from the same client)',
    async (suite, kind) => {
      const pair = kind === 'rsa' ? rsa : ec;
      expect(await handshake(await permissive(pair), tls12(suite))).toBe(`${suite} TLSv1.2`);
      expect(await handshake((await hardened(pair)).port, tls12(suite))).toMatch(/^refused: /);
    },
  );

  it.each(TLS12_CIPHERS.map((s) => [s]))('accepts TLS 1.2 %s', async (suite) => {
    const pair = suite.startsWith('ECDHE-ECDSA-') ? ec : rsa;
    expect(await handshake((await hardened(pair)).port, tls12(suite))).toBe(`${suite} TLSv1.2`);
  });

  it.each(TLS13_CIPHERS.map((s) => [s]))('accepts TLS 1.3 %s', async (suite) => {
    expect(await handshake((await hardened(ec)).port, { ciphers: suite, minVersion: 'TLSv1.3' })).toBe(
      `${suite} TLSv1.3`,
    );
  });

  it('refuses TLS 1.1 and TLS 1.0 (a permissive server accepts them from the same client)', async () => {
    for (const v of ['TLSv1.1', 'TLSv1'] as const) {
      const old: tls.ConnectionOptions = { ciphers: 'ALL:@SECLEVEL=0', minVersion: v, maxVersion: v };
      expect(await handshake(await permissive(rsa), old)).toMatch(new RegExp(` ${v.replace('.', '\\.')}$`));
      expect(await handshake((await hardened(rsa)).port, old)).toMatch(/^refused: /);
    }
  });

  it('a client offering defaults gets TLS 1.3', async () => {
    expect(await handshake((await hardened(ec)).port, {})).toMatch(/ TLSv1\.3$/);
  });
});

describe('certificate hot reload keeps the hardening', () => {
  it('after setSecureContext({ key, cert }) the new certificate is served; refused suites and versions stay refused', async () => {
    const { server, port } = await hardened(ec);
    const next = await servingPair('rsa');
    server.setSecureContext({ key: next.key, cert: next.cert });
    const served = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: next.ca }, () => {
        resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
        s.destroy();
      });
      s.once('error', reject);
    });
    expect(served).toBe(new X509Certificate(next.cert).fingerprint256);
    expect(await handshake(port, tls12('ECDHE-RSA-AES128-GCM-SHA256'))).toBe('ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2');
    expect(await handshake(port, tls12('ECDHE-RSA-AES128-SHA'))).toMatch(/^refused: /);
    expect(await handshake(port, tls12('AES128-GCM-SHA256'))).toMatch(/^refused: /);
    expect(await handshake(port, { ciphers: 'ALL:@SECLEVEL=0', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' })).toMatch(
      /^refused: /,
    );
  });

  it('after setSecureContext({ key, cert }) client certificates are still required and still verified against the client CA', async () => {
    const clientCa = await generateCa({ keyType: 'ec', now, validityMs: 24 * HOUR, commonName: 'clients' });
    const client = await clientPair(clientCa, 'kube-apiserver');
    const { server, port } = await hardened(ec, { clientCa: clientCa.cert });
    const next = await servingPair('ec');
    server.setSecureContext({ key: next.key, cert: next.cert });
    expect(await get(port, next.ca, client)).toBe('200');
    expect(await get(port, next.ca, undefined)).toMatch(/^error: /);
  });
});

describe('client CA bundle swap (what serve does when --client-ca-file changes)', () => {
  it('setting opts.clientCa and calling setSecureContext again trusts the new CA and no longer the old one', async () => {
    const [oldCa, newCa] = await Promise.all([
      generateCa({ keyType: 'ec', now, validityMs: 24 * HOUR, commonName: 'old-clients' }),
      generateCa({ keyType: 'ec', now, validityMs: 24 * HOUR, commonName: 'new-clients' }),
    ]);
    const [oldClient, newClient] = await Promise.all([
      clientPair(oldCa, 'kube-apiserver'),
      clientPair(newCa, 'kube-apiserver'),
    ]);
    const opts: WebhookTlsOptions = { clientCa: oldCa.cert };
    const { server, port } = await hardened(ec, opts);
    expect(await get(port, ec.ca, oldClient)).toBe('200');
    expect(await get(port, ec.ca, newClient)).toMatch(/^error: /);
    opts.clientCa = newCa.cert;
    server.setSecureContext({ key: ec.key, cert: ec.cert });
    expect(await get(port, ec.ca, newClient)).toBe('200');
    expect(await get(port, ec.ca, oldClient)).toMatch(/^error: /);
    expect(await get(port, ec.ca, undefined)).toMatch(/^error: /);
  });
});

describe('handshake deadline', () => {
  function rawConnection(port: number, trickle: boolean): Promise<number> {
    return new Promise((resolve) => {
      const t0 = performance.now();
      const sock = net.connect(port, '127.0.0.1');
      // a TLS record header and the start of a ClientHello, one byte per 50 ms: never completes
      const bytes = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
      let i = 0;
      const timer = trickle
        ? setInterval(() => sock.write(Buffer.from([bytes[i++ % bytes.length] ?? 0])), 50)
        : undefined;
      sock.on('error', () => undefined);
      sock.on('close', () => {
        clearInterval(timer);
        resolve(performance.now() - t0);
      });
    });
  }

  it('closes a raw TCP connection that never sends a ClientHello, and one that trickles it, at the deadline', async () => {
    const { port } = await hardened(ec, { handshakeTimeoutMs: 300 });
    const [silent, trickling] = await Promise.all([rawConnection(port, false), rawConnection(port, true)]);
    for (const ms of [silent, trickling]) {
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(2000);
    }
  });

  it('leaves a connection that finished its handshake open past the deadline (keep-alive from the API server)', async () => {
    const { port } = await hardened(ec, { handshakeTimeoutMs: 300 });
    const sock = tls.connect({ host: '127.0.0.1', port, ca: ec.ca });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 700));
    expect(sock.destroyed).toBe(false);
    const reply = new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString('utf8'))));
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await reply).toMatch(/^HTTP\/1\.1 200/);
    sock.destroy();
  });

  it('defaults to 10 s', () => {
    expect(webhookServerOptions(ec).handshakeTimeout).toBe(10_000);
  });
});

/** GET /healthz through node:https; "<status>" or "error: <code>" (a TLS failure: no HTTP answer at all). */
function get(port: number, ca: string, client: KeyPairPem | undefined): Promise<string> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false, ...(client ?? {}) }, (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
  });
}

describe('client-certificate verification through the admission server (startHttpsServer)', () => {
  let port: number;
  let clients: { right: KeyPairPem; foreign: KeyPairPem };
  beforeAll(async () => {
    const [apiserverCa, otherCa] = await Promise.all([
      generateCa({ keyType: 'ec', now, validityMs: 24 * HOUR, commonName: 'apiserver-client-ca' }),
      generateCa({ keyType: 'ec', now, validityMs: 24 * HOUR, commonName: 'other-ca' }),
    ]);
    clients = {
      right: await clientPair(apiserverCa, 'kube-apiserver'),
      foreign: await clientPair(otherCa, 'kube-apiserver'),
    };
    const app = express();
    app.get('/healthz', (_req, res) => {
      res.send('ok');
    });
    const server = await startHttpsServer(app, ec, 0, '127.0.0.1', { clientCa: apiserverCa.cert });
    servers.push(server);
    port = (server.address() as AddressInfo).port;
  }, 30_000);

  it('no client certificate: TLS failure, no HTTP answer', async () => {
    expect(await get(port, ec.ca, undefined)).toMatch(/^error: /);
  });
  it('a client certificate from another CA: TLS failure, no HTTP answer', async () => {
    expect(await get(port, ec.ca, clients.foreign)).toMatch(/^error: /);
  });
  it('a client certificate from the configured CA: 200', async () => {
    expect(await get(port, ec.ca, clients.right)).toBe('200');
  });
  it('without a client CA, no certificate is asked for', async () => {
    const { port: open } = await hardened(ec);
    expect(await get(open, ec.ca, undefined)).toBe('200');
  });
});
