/**
 * TLS material from files (a mounted Secret: `certs.mode=files` or cert-manager). Files are polled (content
 * compared), not fs.watch'ed: kubelet updates mounted Secrets by swapping a `..data` symlink, which inotify on
 * the file paths misses. A half-updated pair (key not matching cert) is ignored until the next poll.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { certMetrics } from './metrics';
import { certFacts, keyMatchesCert, splitPemCerts } from './pki';
import type { LoadableTlsSource, TlsMaterial } from './tls-source';

export interface FileTlsSourceOptions {
  certFile: string;
  keyFile: string;
  caFile?: string | undefined;
  /** Default 5000 ms. */
  pollMs?: number;
  logger?: Logger;
  registry?: Registry;
  now?: () => Date;
}

export function fileTlsSource(opts: FileTlsSourceOptions): LoadableTlsSource & { reload(): Promise<boolean> } {
  const pollMs = opts.pollMs ?? 5000;
  const now = opts.now ?? (() => new Date());
  // the caller names the component (serve: log.child({ component: 'certs' })); repeating it would repeat the key
  const log = opts.logger?.child({ certFile: opts.certFile, keyFile: opts.keyFile, caFile: opts.caFile });
  const metrics = certMetrics(opts.registry);
  const listeners: Array<(m: TlsMaterial) => void> = [];
  let material: TlsMaterial | undefined;
  let lastProblem: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveLoaded!: (m: TlsMaterial) => void;
  let rejectLoaded!: (e: Error) => void;
  const loaded = new Promise<TlsMaterial>((res, rej) => {
    resolveLoaded = res;
    rejectLoaded = rej;
  });
  loaded.catch(() => undefined);

  /** Reads the files; true when new material was loaded. */
  async function reload(): Promise<boolean> {
    let cert: string;
    let key: string;
    let ca: string;
    try {
      [cert, key, ca] = await Promise.all([
        readFile(opts.certFile, 'utf8'),
        readFile(opts.keyFile, 'utf8'),
        readOptional(opts.caFile),
      ]);
    } catch (err) {
      report(`cannot read TLS files: ${(err as Error).message}`);
      return false;
    }
    if (material && material.cert === cert && material.key === key && material.ca === ca) return false;
    const leaf = splitPemCerts(cert)[0];
    if (!leaf) return report(`${opts.certFile} holds no PEM certificate`);
    if (!keyMatchesCert(leaf, key))
      return report(`${opts.keyFile} does not match ${opts.certFile} (update in progress?)`);
    const facts = certFacts(leaf);
    const m: TlsMaterial = { key, cert, ca, notAfter: facts.notAfter };
    const reloaded = material !== undefined;
    material = m;
    lastProblem = undefined;
    metrics.setExpiry('serving', facts.notAfter);
    const caCerts = splitPemCerts(ca);
    if (caCerts.length > 0) {
      const caExpiry = Math.min(...caCerts.map((c) => certFacts(c).notAfter.getTime()));
      metrics.setExpiry('ca', new Date(caExpiry));
    }
    log?.info(
      { servingFingerprint: facts.fingerprint, notAfter: facts.notAfter.toISOString(), reloaded },
      'TLS material loaded',
    );
    resolveLoaded(m);
    for (const l of listeners) {
      try {
        l(m);
      } catch (err) {
        log?.error({ err }, 'TLS onChange listener failed');
      }
    }
    return true;
  }

  /** The CA file is optional: absent (ENOENT), it yields '' (a mounted Secret without ca.crt). */
  async function readOptional(file: string | undefined): Promise<string> {
    if (!file) return '';
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  function report(problem: string): false {
    if (problem !== lastProblem) log?.warn({ problem }, 'TLS files not usable; keeping previous material');
    lastProblem = problem;
    return false;
  }

  function loop(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      reload().finally(loop);
    }, pollMs);
    timer.unref?.();
  }

  void reload().finally(loop);

  return {
    current: () => material,
    ready: () => material !== undefined && now() < material.notAfter,
    onChange: (l) => {
      listeners.push(l);
    },
    whenLoaded: () => loaded,
    reload,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      rejectLoaded(new Error(`TLS file source ${opts.certFile} stopped before loading`));
    },
  };
}
