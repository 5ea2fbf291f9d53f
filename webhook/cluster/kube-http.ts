// A minimal keep-alive GET client for the API server. client-node 1.4 builds a new https.Agent for every request,
// so each of its calls pays a fresh TLS handshake (about 25 ms measured on this 2-core machine); fresh reads sit on
// the admission path, so they reuse connections instead. Authentication headers are re-applied on every request
// (service-account tokens rotate); the TLS material is the kubeconfig's.
import { KubeConfig } from '@kubernetes/client-node';
import { IncomingMessage } from 'node:http';
import * as https from 'node:https';
import { LazyList, lazyList } from './lazy-list';
import { ResponseTiming } from './list-costs';

export class KubeHttpError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** An error answer's message: its Status object's, else the start of its text. */
export function statusMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // not a Status object
  }
  return text.slice(0, 300);
}

/** The request was sent on a kept-alive socket that the server had already closed; nothing was answered. */
class ReusedSocketReset extends Error {}

export class KubeHttpClient {
  private agent?: https.Agent;
  private readonly server: URL;

  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs = 5000,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  private async options(): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    if (!this.agent) {
      this.agent = new https.Agent({
        keepAlive: true,
        maxSockets: 16,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        servername: opts.servername,
        rejectUnauthorized: opts.rejectUnauthorized,
      });
    }
    return { headers: { ...(opts.headers ?? {}), accept: 'application/json' }, auth: opts.auth, agent: this.agent };
  }

  /** A GET of `path` on the API server, with the kubeconfig's credentials and the keep-alive agent. */
  private async getOptions(path: string, timeoutMs: number, signal?: AbortSignal): Promise<https.RequestOptions> {
    return {
      ...(await this.options()),
      method: 'GET',
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
      timeout: timeoutMs,
      ...(signal ? { signal } : {}),
    };
  }

  /**
   * GET a path; resolves with the decoded object, or null on 404. `signal` aborts the request.
   * A keep-alive socket the API server closed (it restarted, or dropped idle connections) fails the first request
   * sent on it with a reset before any answer; a GET is idempotent, so that one case is retried once on a new
   * socket instead of failing a decision right after the API server came back.
   * `timing`, when given, receives what the answer cost (time to first byte, body, bytes, parse).
   */
  getJson(path: string, signal?: AbortSignal, timing?: ResponseTiming): Promise<Record<string, unknown> | null> {
    return this.get(path, signal, timing, (text) => JSON.parse(text) as Record<string, unknown>);
  }

  /** GET a list (as getJson), its items parsed one at a time as the caller takes them (lazy-list.ts). */
  getList(path: string, timing?: ResponseTiming): Promise<LazyList | null> {
    return this.get(path, undefined, timing, lazyList);
  }

  private async get<T>(
    path: string,
    signal: AbortSignal | undefined,
    timing: ResponseTiming | undefined,
    decode: (text: string) => T,
  ): Promise<T | null> {
    try {
      return await this.getOnce(path, signal, timing, decode);
    } catch (err) {
      if (!(err instanceof ReusedSocketReset)) throw err;
      return this.getOnce(path, signal, timing, decode);
    }
  }

  private async getOnce<T>(
    path: string,
    signal: AbortSignal | undefined,
    timing: ResponseTiming | undefined,
    decode: (text: string) => T,
  ): Promise<T | null> {
    signal?.throwIfAborted();
    const options = await this.getOptions(path, this.timeoutMs, signal);
    const sentAt = performance.now();
    return new Promise((resolve, reject) => {
      const req = https.request(options, (res) => {
        const firstByteAt = performance.now();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          if (timing) {
            const endAt = performance.now();
            timing.ttfbMs = firstByteAt - sentAt;
            timing.bodyMs = endAt - firstByteAt;
            timing.bytes = body.length;
          }
          const decodeAt = performance.now(); // parse cost = UTF-8 decoding + JSON.parse
          const text = body.toString('utf8');
          if (res.statusCode === 404) return resolve(null);
          if (res.statusCode !== 200) {
            const message = statusMessage(text);
            return reject(new KubeHttpError(`GET ${path}: HTTP ${res.statusCode}: ${message}`, res.statusCode ?? 0));
          }
          try {
            const parsed = decode(text);
            if (timing) timing.parseMs = performance.now() - decodeAt;
            resolve(parsed);
          } catch (err) {
            reject(new Error(`GET ${path}: invalid JSON: ${(err as Error).message}`, { cause: err }));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
        reject(
          req.reusedSocket && reset && !signal?.aborted
            ? new ReusedSocketReset(`GET ${path}: ${err.message} on a reused connection`, { cause: err })
            : err,
        );
      });
      req.end();
    });
  }

  /**
   * GET a path whose answer is read as it arrives (a watch): resolves with the response, whatever its status, once
   * its headers came within `headersTimeoutMs`; from then on the socket has no idle timeout (a watch may be silent
   * for minutes; the API server probe notices a server that went quiet). `signal` aborts the request.
   */
  async stream(path: string, signal: AbortSignal, headersTimeoutMs = this.timeoutMs): Promise<IncomingMessage> {
    signal.throwIfAborted();
    const options = await this.getOptions(path, headersTimeoutMs, signal);
    return new Promise((resolve, reject) => {
      const req = https.request(options, (res) => {
        req.setTimeout(0);
        resolve(res);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${headersTimeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * GET a path and resolve with the HTTP status, whatever it is (the body is discarded); rejects only when no
   * answer came within `timeoutMs` (refused, reset, timed out). For probes: any status means "the server answers".
   */
  async status(path: string, timeoutMs = this.timeoutMs): Promise<number> {
    const options = await this.getOptions(path, timeoutMs);
    return new Promise((resolve, reject) => {
      const req = https.request(options, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent?.destroy();
  }
}
