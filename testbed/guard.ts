/**
 * Runs the real guard (`node dist/webhook/cli/main.js serve`) against a test bed and registers it with the API
 * server the way the Helm chart does, but with clientConfig.url on 127.0.0.1. Shared by the e2e tests and the demo.
 *
 *   const certs = await loopbackCerts();
 *   const guard = await startGuard({ kubeconfigPath, certs, args: ['--mode', 'enforce'] });
 *   await registerWebhooks(kc, { baseUrl: guard.url, caBundle: certs.ca, name: 'spg-e2e' });
 *   ...; await unregisterWebhooks(kc, 'spg-e2e'); await guard.stop();
 *
 * Client verification is on by default, as in production with --client-ca-file: the guard accepts only callers
 * with a certificate from the test bed's webhook client CA (<state dir>/pki, see pki.ts), which kube-apiserver
 * presents (webhook-client.ts). Tests calling the guard directly use `guard.caller`.
 */
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateCa, generateServing } from '../certs/pki';
import { issueWebhookCallerCert, pkiPaths } from './pki';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const CLI_ENTRY = path.join(REPO_ROOT, 'dist', 'webhook', 'cli', 'main.js');

/** Runs the built CLI once (`node dist/webhook/cli/main.js ARGS`) and collects its exit code and output. */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI_ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export interface LoopbackCerts {
  ca: string;
  cert: string;
  key: string;
  dir: string;
  certFile: string;
  keyFile: string;
}

/** A throw-away CA and a serving certificate for 127.0.0.1 / localhost, written to a temp dir. */
export async function loopbackCerts(): Promise<LoopbackCerts> {
  const now = new Date();
  const day = 24 * 3600 * 1000;
  const ca = await generateCa({ keyType: 'ec', now, validityMs: 7 * day, commonName: 'spiderpool-guard-test-ca' });
  const leaf = await generateServing({
    ca,
    keyType: 'ec',
    now,
    validityMs: 2 * day,
    caNotAfter: new Date(now.getTime() + 7 * day),
    dnsNames: ['localhost'],
    ips: ['127.0.0.1'],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-certs-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  fs.writeFileSync(certFile, leaf.cert);
  fs.writeFileSync(keyFile, leaf.key, { mode: 0o600 });
  return { ca: ca.cert, cert: leaf.cert, key: leaf.key, dir, certFile, keyFile };
}

/** A client certificate for calling the guard directly (absent when it runs without client verification). */
export interface Caller {
  cert: string;
  key: string;
}

export interface GuardProcess {
  url: string;
  port: number;
  caller: Caller | undefined;
  proc: ChildProcess;
  /** every stdout line so far (pino JSON) */
  lines: string[];
  /** parsed audit events (lines with audit: true) */
  auditEvents(): Record<string, unknown>[];
  /** resolves when a line matching the predicate appears (or rejects after timeoutMs) */
  waitForLine(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface StartGuardOptions {
  kubeconfigPath: string;
  certs: LoopbackCerts;
  /** extra serve flags (mode, rule modes, users, --audit-log, ...) */
  args?: string[];
  /** default true: the reconciler is off unless a test asks for it */
  noReconcile?: boolean;
  /** echo the guard's log to stderr (the demo does its own printing) */
  echo?: boolean;
  /**
   * --client-ca-file: default the webhook client CA of the test bed whose kubeconfig this is (<state dir>/pki);
   * false runs the guard without client verification.
   */
  clientCaFile?: string | false;
  /** node flags before the entry point (e.g. --cpu-prof --cpu-prof-dir=DIR: a profile written when it stops) */
  nodeArgs?: string[];
  /** the CLI to run (default this checkout's dist/webhook/cli/main.js; a bench may run another checkout's build) */
  cliEntry?: string;
  /** the guard's environment (default this process's; a bench passes the image's allocator, bench/allocator.ts) */
  env?: NodeJS.ProcessEnv;
}

/** The webhook client CA of the test bed that owns `kubeconfigPath` (its state directory holds both). */
export function webhookClientCaOf(kubeconfigPath: string): string {
  const pkiDir = path.join(path.dirname(path.resolve(kubeconfigPath)), 'pki');
  const file = pkiPaths(pkiDir).webhookClientCaCert;
  if (!fs.existsSync(file))
    throw new Error(
      `${file} missing: start the guard with clientCaFile: false, or restart the test bed (it predates webhook client certificates)`,
    );
  return file;
}

function parseLine(l: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(l) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function getReady(url: string, ca: string, caller: Caller | undefined): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/readyz`, { ca, ...caller, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

export async function startGuard(opts: StartGuardOptions): Promise<GuardProcess> {
  const cliEntry = opts.cliEntry ?? CLI_ENTRY;
  if (!fs.existsSync(cliEntry)) throw new Error(`${cliEntry} missing: run npm run build first`);
  const clientCaFile =
    opts.clientCaFile === false ? undefined : (opts.clientCaFile ?? webhookClientCaOf(opts.kubeconfigPath));
  // a caller certificate can be minted only from the test bed's own webhook client CA
  const caller =
    clientCaFile && opts.clientCaFile === undefined
      ? await issueWebhookCallerCert(path.dirname(clientCaFile), 'spiderpool-guard-test-caller')
      : undefined;
  const args = [
    ...(opts.nodeArgs ?? []),
    cliEntry,
    'serve',
    '--kubeconfig',
    opts.kubeconfigPath,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--tls-cert-file',
    opts.certs.certFile,
    '--tls-key-file',
    opts.certs.keyFile,
    ...(opts.noReconcile === false ? [] : ['--no-reconcile']),
    ...(clientCaFile ? ['--client-ca-file', clientCaFile] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...(opts.env ?? process.env), LOG_LEVEL: 'info' },
  });
  const lines: string[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  let buffered = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      if (opts.echo) process.stderr.write(`[guard] ${line}\n`);
      const parsed = parseLine(line);
      if (!parsed) continue;
      for (const w of [...waiters]) {
        if (w.pred(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => {
    stderr += c;
    if (opts.echo) process.stderr.write(c);
  });
  const exited = new Promise<number>((resolve) => proc.once('exit', (code) => resolve(code ?? -1)));

  const waitForLine = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const existing = lines.map(parseLine).find((l) => l && pred(l));
    if (existing) return Promise.resolve(existing);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`guard: no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      timer.unref();
    });
  };

  const serving = await Promise.race([
    waitForLine((l) => l.msg === 'spiderpool-guard serving', 60_000),
    exited.then((code) => {
      throw new Error(`guard exited with ${code} before serving: ${stderr.slice(-2000)} ${lines.slice(-5).join('\n')}`);
    }),
  ]);
  const port = Number(serving.port);
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while ((await getReady(url, opts.certs.ca, caller)) !== 200) {
    if (Date.now() > deadline) throw new Error(`guard at ${url} never became ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    caller,
    proc,
    lines,
    auditEvents: () => lines.map(parseLine).filter((l): l is Record<string, unknown> => !!l && l.audit === true),
    waitForLine,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export interface WebhookRegistration {
  baseUrl: string;
  caBundle: string;
  /** metadata.name of both configurations (and prefix of the webhook names) */
  name: string;
  failurePolicy?: 'Fail' | 'Ignore';
  /** register the validating rule on `spiderippools` instead of `spiderippools/status` (to prove that it misses) */
  mainResourceOnly?: boolean;
}

const GROUP = 'spiderpool.spidernet.io';

/** docs/rules.md#what-is-intercepted: the two configurations, with the rules exactly as the table gives them. */
export function webhookConfigurations(r: WebhookRegistration): {
  validating: k8s.V1ValidatingWebhookConfiguration;
  mutating: k8s.V1MutatingWebhookConfiguration;
} {
  const caBundle = Buffer.from(r.caBundle).toString('base64');
  const common = {
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    failurePolicy: r.failurePolicy ?? 'Fail',
    timeoutSeconds: 10,
  };
  const poolResource = r.mainResourceOnly ? 'spiderippools' : 'spiderippools/status';
  return {
    validating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: r.name },
      webhooks: [
        {
          name: `spiderippools.${r.name}.spiderpool-guard.io`,
          clientConfig: { url: `${r.baseUrl}/validate/spiderippools`, caBundle },
          rules: [
            {
              apiGroups: [GROUP],
              apiVersions: ['v2beta1'],
              resources: [poolResource],
              operations: ['UPDATE'],
              scope: '*',
            },
          ],
          ...common,
        },
        {
          name: `spiderendpoints.${r.name}.spiderpool-guard.io`,
          clientConfig: { url: `${r.baseUrl}/validate/spiderendpoints`, caBundle },
          rules: [
            {
              apiGroups: [GROUP],
              apiVersions: ['v2beta1'],
              resources: ['spiderendpoints'],
              operations: ['CREATE', 'UPDATE', 'DELETE'],
              scope: '*',
            },
          ],
          ...common,
        },
      ],
    },
    mutating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: r.name },
      webhooks: [
        {
          name: `spiderippools.${r.name}.spiderpool-guard.io`,
          clientConfig: { url: `${r.baseUrl}/mutate/spiderippools`, caBundle },
          rules: [
            {
              apiGroups: [GROUP],
              apiVersions: ['v2beta1'],
              resources: [poolResource],
              operations: ['UPDATE'],
              scope: '*',
            },
          ],
          reinvocationPolicy: 'Never',
          ...common,
        },
      ],
    },
  };
}

export async function registerWebhooks(kc: k8s.KubeConfig, r: WebhookRegistration): Promise<void> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const { validating, mutating } = webhookConfigurations(r);
  await unregisterWebhooks(kc, r.name);
  await api.createValidatingWebhookConfiguration({ body: validating });
  await api.createMutatingWebhookConfiguration({ body: mutating });
  // The API server picks up new configurations asynchronously (informer); give it a moment to see them.
  await new Promise((res) => setTimeout(res, 1500));
}

export async function unregisterWebhooks(kc: k8s.KubeConfig, name: string): Promise<void> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const ignore404 = (err: unknown) => {
    if ((err as { code?: number }).code !== 404) throw err;
  };
  await api.deleteValidatingWebhookConfiguration({ name }).catch(ignore404);
  await api.deleteMutatingWebhookConfiguration({ name }).catch(ignore404);
}
