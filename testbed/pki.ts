/**
 * The test bed's PKI, made with the openssl CLI: one CA, the kube-apiserver serving certificate, client
 * certificates (admin in system:masters, kube-controller-manager) and the service-account signing key pair.
 * issueClientCert() mints further client certificates for any user/groups (used by clientCertKubeConfig()).
 *
 * A second, separate CA signs webhook client certificates only: the one kube-apiserver presents to admission
 * webhooks (webhook-client.ts wires it in) and those tests mint to call the guard directly (issueWebhookCallerCert).
 * The guard trusts that CA alone (--client-ca-file), so no API user's certificate opens its webhook port.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runOk } from './util';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  kcmCert: string;
  kcmKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  webhookClientCaCert: string;
  webhookClientCaKey: string;
  /** presented by kube-apiserver when it calls admission webhooks */
  apiserverWebhookClientCert: string;
  apiserverWebhookClientKey: string;
}

export function pkiPaths(dir: string): Pki {
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    servingCert: p('apiserver.crt'),
    servingKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    kcmCert: p('kube-controller-manager.crt'),
    kcmKey: p('kube-controller-manager.key'),
    saPublicKey: p('sa.pub'),
    saPrivateKey: p('sa.key'),
    webhookClientCaCert: p('webhook-client-ca.crt'),
    webhookClientCaKey: p('webhook-client-ca.key'),
    apiserverWebhookClientCert: p('apiserver-webhook-client.crt'),
    apiserverWebhookClientKey: p('apiserver-webhook-client.key'),
  };
}

function writeKey(file: string, type: 'ec' | 'rsa'): crypto.KeyObject {
  const { privateKey, publicKey } =
    type === 'ec'
      ? crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return publicKey;
}

function subjectLines(cn: string, orgs: string[]): string {
  // openssl config values: escape nothing fancy; our names are plain ASCII (':' and '-' are fine).
  return [`CN = ${cn}`, ...orgs.map((o, i) => `${i}.O = ${o}`)].join('\n');
}

async function signCert(opts: {
  dir: string;
  name: string;
  cn: string;
  orgs?: string[];
  keyFile: string;
  ca?: { cert: string; key: string };
  ext: string[];
}): Promise<string> {
  const cfg = path.join(opts.dir, `${opts.name}.cnf`);
  const csr = path.join(opts.dir, `${opts.name}.csr`);
  const crt = path.join(opts.dir, `${opts.name}.crt`);
  fs.writeFileSync(
    cfg,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      subjectLines(opts.cn, opts.orgs ?? []),
      '[ext]',
      ...opts.ext,
      '',
    ].join('\n'),
  );
  const serial = '0x' + crypto.randomBytes(12).toString('hex');
  if (!opts.ca) {
    await runOk('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      opts.keyFile,
      '-config',
      cfg,
      '-extensions',
      'ext',
      '-days',
      '3650',
      '-set_serial',
      serial,
      '-out',
      crt,
    ]);
  } else {
    await runOk('openssl', ['req', '-new', '-key', opts.keyFile, '-config', cfg, '-out', csr]);
    await runOk('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      opts.ca.cert,
      '-CAkey',
      opts.ca.key,
      '-set_serial',
      serial,
      '-days',
      '3650',
      '-extfile',
      cfg,
      '-extensions',
      'ext',
      '-out',
      crt,
    ]);
    fs.rmSync(csr, { force: true });
  }
  fs.rmSync(cfg, { force: true });
  return crt;
}

const caExt = [
  'basicConstraints = critical,CA:TRUE',
  'keyUsage = critical,digitalSignature,keyEncipherment,keyCertSign',
  'subjectKeyIdentifier = hash',
];
const clientExt = [
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage = clientAuth',
];

/** Creates the whole PKI in `dir` (fresh); `extraIps` are further IP SANs of the API server's certificate. */
export async function createPki(dir: string, extraIps: string[] = []): Promise<Pki> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = pkiPaths(dir);
  writeKey(pki.caKey, 'ec');
  await signCert({
    dir,
    name: 'ca',
    cn: 'spiderpool-guard-testbed-ca',
    keyFile: pki.caKey,
    ext: caExt,
  });
  const ca = { cert: pki.caCert, key: pki.caKey };
  writeKey(pki.servingKey, 'ec');
  const sans = [
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    'IP:127.0.0.1',
    ...[...new Set(extraIps)].map((ip) => `IP:${ip}`),
  ];
  await signCert({
    dir,
    name: 'apiserver',
    cn: 'kube-apiserver',
    keyFile: pki.servingKey,
    ca,
    ext: [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${sans.join(',')}`,
    ],
  });
  writeKey(pki.adminKey, 'ec');
  await signCert({
    dir,
    name: 'admin',
    cn: 'testbed-admin',
    orgs: ['system:masters'],
    keyFile: pki.adminKey,
    ca,
    ext: clientExt,
  });
  writeKey(pki.kcmKey, 'ec');
  await signCert({
    dir,
    name: 'kube-controller-manager',
    cn: 'system:kube-controller-manager',
    keyFile: pki.kcmKey,
    ca,
    ext: clientExt,
  });
  const saPub = writeKey(pki.saPrivateKey, 'rsa');
  fs.writeFileSync(pki.saPublicKey, saPub.export({ type: 'spki', format: 'pem' }));
  writeKey(pki.webhookClientCaKey, 'ec');
  await signCert({
    dir,
    name: 'webhook-client-ca',
    cn: 'spiderpool-guard-testbed-webhook-client-ca',
    keyFile: pki.webhookClientCaKey,
    ext: caExt,
  });
  writeKey(pki.apiserverWebhookClientKey, 'ec');
  await signCert({
    dir,
    name: 'apiserver-webhook-client',
    cn: 'kube-apiserver-webhook-client',
    keyFile: pki.apiserverWebhookClientKey,
    ca: { cert: pki.webhookClientCaCert, key: pki.webhookClientCaKey },
    ext: clientExt,
  });
  return pki;
}

/**
 * Mints a client certificate signed by the test bed's CA: the API server authenticates it as user `cn` with
 * groups `orgs` (+ system:authenticated). Returns PEM strings.
 */
export async function issueClientCert(
  pkiDir: string,
  cn: string,
  orgs: string[] = [],
): Promise<{ cert: string; key: string }> {
  const pki = pkiPaths(pkiDir);
  return issueSigned(pkiDir, cn, orgs, { cert: pki.caCert, key: pki.caKey });
}

/** A client certificate from the webhook client CA: what a caller needs to reach a guard run with --client-ca-file. */
export async function issueWebhookCallerCert(pkiDir: string, cn: string): Promise<{ cert: string; key: string }> {
  const pki = pkiPaths(pkiDir);
  if (!fs.existsSync(pki.webhookClientCaKey))
    throw new Error(
      `${pki.webhookClientCaKey} missing: a test bed from before webhook client certificates; restart it`,
    );
  return issueSigned(pkiDir, cn, [], { cert: pki.webhookClientCaCert, key: pki.webhookClientCaKey });
}

async function issueSigned(
  pkiDir: string,
  cn: string,
  orgs: string[],
  ca: { cert: string; key: string },
): Promise<{ cert: string; key: string }> {
  const work = fs.mkdtempSync(path.join(pkiDir, 'client-'));
  try {
    const keyFile = path.join(work, 'client.key');
    writeKey(keyFile, 'ec');
    const crt = await signCert({ dir: work, name: 'client', cn, orgs, keyFile, ca, ext: clientExt });
    return { cert: fs.readFileSync(crt, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
