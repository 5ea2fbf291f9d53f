// The plain-HTTP operations listener: Prometheus /metrics, and /healthz and /readyz for the kubelet. Health lives
// here as well as on the webhook port because the webhook port may demand a client certificate
// (--client-ca-file), which kubelet probes do not present.
import http from 'node:http';
import type { Registry } from 'prom-client';
import { Logger } from '../log';
import { Readiness, readyzAnswer } from './server';

export function startOpsServer(
  port: number,
  host: string,
  registry: Registry,
  readiness: Readiness,
  log: Logger,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/readyz') {
      const { status, body } = readyzAnswer(readiness);
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      (err: Error) => {
        log.error({ err }, 'metrics rendering failed');
        res.writeHead(500).end();
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
