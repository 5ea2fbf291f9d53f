/** A keep-alive HTTPS load generator: fixed concurrency, fixed duration, latency percentiles and throughput. */
import * as https from 'node:https';

export interface LoadResult {
  p50Ms: number;
  p99Ms: number;
  rps: number;
  requests: number;
  errors: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function post(agent: https.Agent, url: URL, ca: string, body: Buffer): Promise<number> {
  // the client certificate (when the guard verifies callers) is the agent's
  return new Promise((resolve, reject) => {
    const req = https.request(
      { agent, ca, method: 'POST', hostname: url.hostname, port: url.port, path: url.pathname, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runLoad(opts: {
  url: string;
  ca: string;
  body: Buffer;
  concurrency: number;
  seconds: number;
  warmupSeconds?: number;
  /** client certificate for a guard run with --client-ca-file */
  caller?: { cert: string; key: string };
}): Promise<LoadResult> {
  const url = new URL(opts.url);
  const agent = new https.Agent({ keepAlive: true, maxSockets: opts.concurrency, ...opts.caller });
  const latencies: number[] = [];
  let errors = 0;
  const worker = async (until: number, record: boolean) => {
    while (Date.now() < until) {
      const t = process.hrtime.bigint();
      try {
        const status = await post(agent, url, opts.ca, opts.body);
        if (status !== 200) errors++;
      } catch {
        errors++;
      }
      if (record) latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  };
  const warm = Date.now() + (opts.warmupSeconds ?? 0.5) * 1000;
  await Promise.all(Array.from({ length: opts.concurrency }, () => worker(warm, false)));
  const start = Date.now();
  const end = start + opts.seconds * 1000;
  await Promise.all(Array.from({ length: opts.concurrency }, () => worker(end, true)));
  const elapsed = (Date.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), rps: latencies.length / elapsed, requests: latencies.length, errors };
}
