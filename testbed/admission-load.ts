/**
 * A load generator of admission reviews the way Spiderpool causes them: status writes of one SpiderIPPool by
 * spiderpool-agent (impersonated), one after the other, each passing the guard's mutating and validating webhooks.
 * It counts what the writer sees: answers, failures (any non-200) and fail-open answers (the guard's
 * `...(fail-open)` warning); the API server's own fail-open (webhook unreachable with failurePolicy Ignore) is
 * invisible to the writer and is found in the audit log (failedOpenInAudit), its cause in the API server's log
 * (webhookFailuresInApiserverLog).
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
  /** when each failure or guard fail-open answer happened and what it was (the first 50) */
  incidents: { sentAt: number; at: number; what: string }[];
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

function request(
  c: Creds,
  method: string,
  path: string,
  user: string,
  body?: unknown,
): Promise<{ status: number; body: string; warnings: string[] }> {
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
        headers: {
          'Impersonate-User': user,
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const w = res.headers.warning;
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            warnings: w === undefined ? [] : Array.isArray(w) ? w : [w],
          });
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
  readonly counts: LoadCounts = {
    sent: 0,
    ok: 0,
    failures: 0,
    failOpen: 0,
    failureKinds: {},
    maxLatencyMs: 0,
    incidents: [],
  };
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

  private fail(kind: string, sentAt: number, detail = ''): void {
    this.counts.failures++;
    this.counts.failureKinds[kind] = (this.counts.failureKinds[kind] ?? 0) + 1;
    this.incident(sentAt, `failed: ${kind}${detail ? ` ${detail}` : ''}`);
  }

  private incident(sentAt: number, what: string): void {
    if (this.counts.incidents.length < 50) this.counts.incidents.push({ sentAt, at: Date.now(), what });
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
        const failOpen = res.warnings.find((w) => w.includes('fail-open'));
        if (failOpen) {
          this.counts.failOpen++;
          this.incident(t0, `guard fail-open: ${failOpen}`);
        }
        if (res.status === 200) {
          this.counts.ok++;
          current = JSON.parse(res.body) as Record<string, unknown>;
        } else {
          this.fail(String(res.status), t0, res.body.slice(0, 300));
          current = JSON.parse((await request(this.creds, 'GET', path, this.user)).body) as Record<string, unknown>;
        }
      } catch (err) {
        this.fail((err as Error).message, t0);
      }
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }
}

/** A write to the pool whose webhook call failed and was ignored (failurePolicy Ignore), from the audit log. */
export interface FailedOpenWrite {
  /** requestReceivedTimestamp, ms */
  at: number;
  auditID: string;
  /** the failed-open.* annotations: which webhook (round and index) the API server let through */
  webhooks: string[];
}

/** Audit events of writes to `pool` whose webhook call failed and was ignored (failurePolicy Ignore). */
export function failedOpenInAudit(auditLogPath: string, pool: string, sinceMs: number): FailedOpenWrite[] {
  const out: FailedOpenWrite[] = [];
  for (const line of fs.readFileSync(auditLogPath, 'utf8').split('\n')) {
    if (!line.includes(pool) || !line.includes('failed-open')) continue;
    const e = JSON.parse(line) as {
      auditID?: string;
      objectRef?: { name?: string };
      annotations?: Record<string, string>;
      requestReceivedTimestamp?: string;
    };
    const at = new Date(e.requestReceivedTimestamp ?? 0).getTime();
    if (e.objectRef?.name !== pool || at < sinceMs) continue;
    const webhooks = Object.entries(e.annotations ?? {})
      .filter(([k]) => k.startsWith('failed-open.'))
      .map(([k, v]) => `${k}=${v}`);
    if (webhooks.length > 0) out.push({ at, auditID: e.auditID ?? '', webhooks });
  }
  return out;
}

/**
 * The API server's own account of webhook calls that failed (its log: "Failed calling webhook, failing open ...: <the
 * error>"), between two moments: the audit event says a call failed open, this line says why (refused, reset, timeout).
 */
export function webhookFailuresInApiserverLog(logPath: string, fromMs: number, toMs: number): string[] {
  let text: string;
  try {
    text = fs.readFileSync(logPath, 'utf8');
  } catch {
    return [];
  }
  const year = new Date(fromMs).getUTCFullYear();
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!/failing open|Failed calling webhook|failed calling webhook/.test(line)) continue;
    // klog: Lmmdd hh:mm:ss.uuuuuu (UTC on the test bed's machine)
    const m = /^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d+)/.exec(line);
    const at = m
      ? Date.UTC(
          year,
          Number(m[1]) - 1,
          Number(m[2]),
          Number(m[3]),
          Number(m[4]),
          Number(m[5]),
          Number(m[6].slice(0, 3)),
        )
      : NaN;
    if (at >= fromMs && at <= toMs) out.push(line.slice(0, 1000));
  }
  return out;
}
