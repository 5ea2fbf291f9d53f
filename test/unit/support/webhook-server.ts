// The real admission HTTPS server on 127.0.0.1:0 with a throw-away certificate, and a client that speaks to it with
// node:https as the kube-apiserver would. Shared by the HTTP-level unit tests.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { AdmissionHandler } from '../../../webhook/admission/handler';
import { AdmissionAppOptions, Readiness, createAdmissionApp } from '../../../webhook/admission/server';
import { startHttpsServer } from '../../../webhook/app/https';
import { Logger } from '../../../webhook/log/logger';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  contentType: string;
  text: string;
  json: () => Record<string, unknown>;
}

export interface TestWebhook {
  port: number;
  ca: string;
  request(method: string, path: string, body?: string | Buffer, headers?: Record<string, string>): Promise<Reply>;
  stop(): Promise<void>;
}

async function loopbackPems(): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

export async function startTestWebhook(
  handler: AdmissionHandler,
  readiness: Readiness,
  log: Logger,
  options: AdmissionAppOptions = {},
): Promise<TestWebhook> {
  const pems = await loopbackPems();
  const server = await startHttpsServer(createAdmissionApp(handler, readiness, log, options), pems, 0, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  const request = (
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          agent: false,
          ca: pems.cert,
          servername: 'localhost',
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              contentType: String(res.headers['content-type'] ?? ''),
              text,
              json: () => JSON.parse(text) as Record<string, unknown>,
            });
          });
        },
      );
      // the server may answer (413, 429) and close before the whole body is sent
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  return {
    port,
    ca: pems.cert,
    request,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
