/**
 * A load generator of admission reviews the way Spiderpool causes them: status writes of one SpiderIPPool by
 * spiderpool-agent (impersonated), one after the other, each passing the guard's mutating and validating webhooks.
 * It counts what the writer sees: answers, failures (any non-200) and fail-open answers (the guard's
 * `...(fail-open)` warning); the API server's own fail-open (webhook unreachable with failurePolicy Ignore) is
 * invisible to the writer and is counted from the audit log (failedOpenInAudit).
 */
import * as fs from 'node:fs';
import * as https from 'node:https';

export interface LoadCounts {
  sent: number;
  ok: number;
  failures: number;
  failOpen: number;
  /** status code (or error message) → count, for failures */
  failureKinds: Record<string, number>;
  maxLatencyMs: number;
}

interface Creds {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Client certificate credentials from a test bed admin kubeconfig (JSON, embedded data). */
function credsFrom(kubeconfigPath: string): Creds {
  const cfg = JSON.parse(fs.readFileSync(kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  };
  const b = (s: string) => Buffer.from(s, 'base64');
  return {
    server: cfg.clusters[0].cluster.server,
    ca: b(cfg.clusters[0].cluster['certificate-authority-data']),
    cert: b(cfg.users[0].user['client-certificate-data']),
    key: b(cfg.users[0].user['client-key-data']),
  };
}

function request(c: Creds, method: string, path: string, user: string, body?: unknown): Promise<{ status: number; body: string; warnings: string[] }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      new URL(path, c.server),
      {
        method,
        ca: c.ca,
        cert: c.cert,
        key: c.key,
        timeout: 30_000,
        headers: { 'Impersonate-User': user, Accept: 'application/json', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const w = res.headers.warning;
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), warnings: w === undefined ? [] : Array.isArray(w) ? w : [w] });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

export class AdmissionLoad {
  readonly counts: LoadCounts = { sent: 0, ok: 0, failures: 0, failOpen: 0, failureKinds: {}, maxLatencyMs: 0 };
  private running = false;
  private loop?: Promise<void>;
  private readonly creds: Creds;

  constructor(
    kubeconfigPath: string,
    private readonly pool: string,
    private readonly user: string,
    private readonly pauseMs = 50,
  ) {
    this.creds = credsFrom(kubeconfigPath);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<LoadCounts> {
    this.running = false;
    await this.loop;
    return this.counts;
  }

  private fail(kind: string): void {
    this.counts.failures++;
    this.counts.failureKinds[kind] = (this.counts.failureKinds[kind] ?? 0) + 1;
  }

  private async run(): Promise<void> {
    const path = `/apis/spiderpool.spidernet.io/v2beta1/spiderippools/${this.pool}`;
    let current = JSON.parse((await request(this.creds, 'GET', path, this.user)).body) as Record<string, unknown>;
    while (this.running) {
      const t0 = Date.now();
      this.counts.sent++;
      try {
        const res = await request(this.creds, 'PUT', `${path}/status`, this.user, current);
        this.counts.maxLatencyMs = Math.max(this.counts.maxLatencyMs, Date.now() - t0);
        if (res.warnings.some((w) => w.includes('fail-open'))) this.counts.failOpen++;
        if (res.status === 200) {
          this.counts.ok++;
          current = JSON.parse(res.body) as Record<string, unknown>;
        } else {
          this.fail(String(res.status));
          current = JSON.parse((await request(this.creds, 'GET', path, this.user)).body) as Record<string, unknown>;
        }
      } catch (err) {
        this.fail((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }
}

/** Audit events of writes to `pool` whose webhook call failed and was ignored (failurePolicy Ignore). */
export function failedOpenInAudit(auditLogPath: string, pool: string, sinceMs: number): number {
  let n = 0;
  for (const line of fs.readFileSync(auditLogPath, 'utf8').split('\n')) {
    if (!line.includes(pool) || !line.includes('failed-open')) continue;
    const e = JSON.parse(line) as { objectRef?: { name?: string }; annotations?: Record<string, string>; requestReceivedTimestamp?: string };
    if (e.objectRef?.name !== pool || new Date(e.requestReceivedTimestamp ?? 0).getTime() < sinceMs) continue;
    if (Object.keys(e.annotations ?? {}).some((k) => k.startsWith('failed-open.'))) n++;
  }
  return n;
}
