/**
 * A keep-alive HTTPS load generator measured in slices: fixed concurrency, a slice lasts at least `seconds` and at
 * least `minRequests` requests (capped at `maxSeconds`), and returns its latency percentiles and throughput.
 *
 * One `LoadTarget` per server keeps its keep-alive connections open across slices, so the slices of a case measure
 * requests, not TLS handshakes, for the guard and the baseline alike.
 */
import * as https from 'node:https';

export interface SliceResult {
  p50Ms: number;
  p99Ms: number;
  rps: number;
  requests: number;
  errors: number;
  seconds: number;
  /** every latency of the slice (ms), for pooled percentiles over a case's slices */
  latencies: number[];
}

export interface SliceOptions {
  body: Buffer;
  concurrency: number;
  seconds: number;
  minRequests?: number;
  maxSeconds?: number;
}

export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export class LoadTarget {
  private readonly url: URL;
  private readonly agent: https.Agent;

  constructor(
    url: string,
    private readonly ca: string,
    maxSockets: number,
  ) {
    this.url = new URL(url);
    this.agent = new https.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, keepAliveMsecs: 30_000 });
  }

  private post(body: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          agent: this.agent,
          ca: this.ca,
          method: 'POST',
          hostname: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async slice(o: SliceOptions): Promise<SliceResult> {
    const latencies: number[] = [];
    let errors = 0;
    const minRequests = o.minRequests ?? 0;
    const start = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
    const more = () => {
      const s = elapsed();
      return s < (o.maxSeconds ?? Infinity) && (s < o.seconds || latencies.length < minRequests);
    };
    const worker = async () => {
      while (more()) {
        const t = process.hrtime.bigint();
        try {
          if ((await this.post(o.body)) !== 200) errors++;
        } catch {
          errors++;
        }
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    const seconds = elapsed();
    latencies.sort((a, b) => a - b);
    return {
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      rps: latencies.length / seconds,
      requests: latencies.length,
      errors,
      seconds,
      latencies,
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
