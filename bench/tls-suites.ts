/**
 * `npx tsx bench/tls-suites.ts`: which TLS suites and versions the webhook's HTTPS server accepts.
 *
 * Starts two servers with the webhook's TLS settings (certs/tls-options.ts), one with an ECDSA and one with an RSA
 * certificate, and tries one handshake per suite that the local OpenSSL knows (`openssl ciphers -v
 * ALL:COMPLEMENTOFALL:@SECLEVEL=0`), offering only that suite, against both. Prints the accepted suites per
 * version, then how many were refused. Needs the `openssl` command for the list of suite names.
 */
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { generateCa, generateServing } from '../certs/pki';
import type { KeyType } from '../certs/pki';
import { createWebhookHttpsServer } from '../certs/tls-options';

interface Suite {
  name: string;
  version: 'TLSv1.3' | 'TLSv1.2' | 'older';
}

function knownSuites(): Suite[] {
  const out = execFileSync('openssl', ['ciphers', '-v', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' });
  const suites: Suite[] = [];
  for (const line of out.split('\n')) {
    const [name, proto] = line.trim().split(/\s+/);
    if (!name || !proto) continue;
    suites.push({ name, version: proto === 'TLSv1.3' ? 'TLSv1.3' : proto === 'TLSv1.2' ? 'TLSv1.2' : 'older' });
  }
  // TLS 1.3 CCM suites are not in OpenSSL's ALL list; probe them too
  for (const name of ['TLS_AES_128_CCM_SHA256', 'TLS_AES_128_CCM_8_SHA256']) {
    if (!suites.some((s) => s.name === name)) suites.push({ name, version: 'TLSv1.3' });
  }
  return suites;
}

async function server(keyType: KeyType): Promise<{ port: number; close: () => void }> {
  const now = new Date();
  const ca = await generateCa({ keyType, now, validityMs: 3600_000, commonName: `probe-${keyType}` });
  const pair = await generateServing({
    ca,
    keyType,
    now,
    validityMs: 3600_000,
    caNotAfter: new Date(now.getTime() + 3600_000),
    dnsNames: ['localhost'],
    ips: ['127.0.0.1'],
  });
  const s = createWebhookHttpsServer(pair, {}, (_req, res) => res.end());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { port: (s.address() as AddressInfo).port, close: () => s.close() };
}

function accepts(port: number, suite: Suite): Promise<boolean> {
  const opts: tls.ConnectionOptions =
    suite.version === 'TLSv1.3'
      ? { ciphers: suite.name, minVersion: 'TLSv1.3' }
      : { ciphers: `${suite.name}:@SECLEVEL=0`, minVersion: 'TLSv1', maxVersion: 'TLSv1.2' };
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      const ok = sock.getCipher().name === suite.name || sock.getCipher().standardName === suite.name;
      sock.destroy();
      resolve(ok);
    });
    sock.once('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const suites = knownSuites();
  const servers = { ec: await server('ec'), rsa: await server('rsa') };
  const accepted: Record<string, string[]> = { 'TLSv1.3': [], 'TLSv1.2': [], older: [] };
  let refused = 0;
  for (const suite of suites) {
    const by: string[] = [];
    for (const [kind, s] of Object.entries(servers)) if (await accepts(s.port, suite)) by.push(kind);
    if (by.length > 0) accepted[suite.version]?.push(`${suite.name} (${by.join('+')} cert)`);
    else refused++;
  }
  for (const s of Object.values(servers)) s.close();
  process.stdout.write(
    `probed ${suites.length} suites known to ${execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim()}\n`,
  );
  for (const [version, names] of Object.entries(accepted)) {
    process.stdout.write(`${version}: ${names.length} accepted\n${names.map((n) => `  ${n}\n`).join('')}`);
  }
  process.stdout.write(`refused: ${refused}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`tls-suites failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
