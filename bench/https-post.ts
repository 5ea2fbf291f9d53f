// One AdmissionReview POST over HTTPS, timed from the request to the answer's last byte; a failed connection is
// status -1. Shared by the stress bench and its prober process.
import * as https from 'node:https';

export interface Answer {
  status: number;
  ms: number;
  bytes: number;
  body?: string;
}

export function post(url: string, ca: string, body: Buffer, agent: https.Agent | false, keep = false): Promise<Answer> {
  const u = new URL(url);
  const t = performance.now();
  return new Promise((resolve) => {
    const req = https.request(
      {
        agent,
        ca,
        method: 'POST',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (keep) chunks.push(c);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            ms: performance.now() - t,
            bytes,
            body: keep ? Buffer.concat(chunks).toString() : undefined,
          }),
        );
      },
    );
    req.on('error', () => resolve({ status: -1, ms: performance.now() - t, bytes: 0 }));
    req.end(body);
  });
}
