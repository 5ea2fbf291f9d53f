/**
 * Fills the test bed with a cluster-scale world fast: concurrent POSTs over keep-alive connections (kubectl create
 * does about 110 objects/s here; this does several times that). Returns the created pods' uids from the responses.
 */
import { KubeConfig } from '@kubernetes/client-node';
import * as https from 'node:https';

export interface Poster {
  post(path: string, body: unknown): Promise<Record<string, unknown>>;
  put(path: string, body: unknown): Promise<Record<string, unknown>>;
  close(): void;
}

export async function poster(kc: KubeConfig, sockets = 24): Promise<Poster> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()!.server);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: sockets,
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    rejectUnauthorized: opts.rejectUnauthorized,
  });
  const send = (method: string, path: string, body: unknown, attempt = 0): Promise<Record<string, unknown>> =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const data = Buffer.from(JSON.stringify(body));
      const req = https.request(
        {
          method,
          hostname: server.hostname,
          port: server.port,
          path,
          agent,
          headers: {
            ...(opts.headers ?? {}),
            'content-type': 'application/json',
            accept: 'application/json',
            'content-length': data.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code === 200 || code === 201) return resolve(JSON.parse(text) as Record<string, unknown>);
            const err = Object.assign(new Error(`${method} ${path}: HTTP ${code}: ${text.slice(0, 200)}`), { code });
            reject(err);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    }).catch((err: { code?: number }) => {
      // 429/5xx/connection resets under load: retry a few times
      if (attempt < 5 && (err.code === undefined || err.code === 429 || err.code >= 500)) {
        return new Promise((r) => setTimeout(r, 200 * (attempt + 1))).then(() => send(method, path, body, attempt + 1));
      }
      throw err;
    });
  return { post: (p, b) => send('POST', p, b), put: (p, b) => send('PUT', p, b), close: () => agent.destroy() };
}

/** Runs fn over 0..n-1 with `concurrency` in flight. */
export async function forEachConcurrent(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
  progress?: (done: number) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        await fn(i);
        if (++done % 10_000 === 0) progress?.(done);
      }
    }),
  );
}
