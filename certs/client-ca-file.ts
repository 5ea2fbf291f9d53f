/**
 * The client CA bundle of the webhook port (--client-ca-file): the CAs whose client certificates are accepted (the
 * API server's webhook client certificate). Read once at start (unusable = refuse to start), then polled: a changed
 * file holding at least one valid certificate replaces the bundle; anything else keeps the previous one and is logged.
 * Polled rather than fs.watch'ed for the same reason as file-source.ts (mounted ConfigMaps swap a symlink).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { splitPemCerts } from './pki';

/** The certificates of a PEM bundle, re-encoded; throws when there is none or one does not parse. */
function validBundle(pem: string, file: string): string {
  const certs = splitPemCerts(pem);
  if (certs.length === 0) throw new Error(`${file} holds no PEM certificate`);
  for (const c of certs) new X509Certificate(c);
  return certs.join('\n');
}

export interface ClientCaFile {
  /** the bundle in force */
  current(): string;
  stop(): void;
}

export function watchClientCaFile(
  file: string,
  onChange: (pem: string) => void,
  log: Logger,
  pollMs = 5000,
): ClientCaFile {
  let raw = readFileSync(file, 'utf8');
  let bundle = validBundle(raw, file);
  let lastProblem: string | undefined;
  const timer = setInterval(() => {
    readFile(file, 'utf8').then(
      (next) => {
        if (next === raw) return;
        let parsed: string;
        try {
          parsed = validBundle(next, file);
        } catch (err) {
          const problem = (err as Error).message;
          if (problem !== lastProblem)
            log.warn({ file, problem }, 'client CA file not usable; keeping the previous bundle');
          lastProblem = problem;
          return;
        }
        raw = next;
        bundle = parsed;
        lastProblem = undefined;
        log.info({ file, certificates: splitPemCerts(parsed).length }, 'client CA bundle reloaded');
        onChange(bundle);
      },
      (err: Error) => {
        if (err.message !== lastProblem)
          log.warn({ file, problem: err.message }, 'cannot read client CA file; keeping the previous bundle');
        lastProblem = err.message;
      },
    );
  }, pollMs);
  timer.unref();
  return { current: () => bundle, stop: () => clearInterval(timer) };
}
