/**
 * Certificate generation (selfsigned 5.x, SHA-256 always) and parsing (node:crypto X509Certificate) into plain
 * `CertFacts` objects that the pure planning code in ./plan.ts works on. No Kubernetes I/O here.
 */
import { X509Certificate, createPrivateKey, createHash } from 'node:crypto';
import { generate } from 'selfsigned';
import { canonicalIp } from '../lib/ip';

export type KeyType = 'rsa' | 'ec';

export interface KeyPairPem {
  cert: string;
  key: string;
}

/** Everything the planner needs to know about one certificate. */
export interface CertFacts {
  /** SHA-256 fingerprint of the DER, lower-case hex without colons. */
  fingerprint: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  /** Canonical form (see canonicalIp). */
  ips: string[];
  keyType: KeyType | 'other';
  isCa: boolean;
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into its certificate blocks, normalized (trimmed lines, `\n`, trailing newline). */
export function splitPemCerts(bundle: string): string[] {
  const blocks = bundle.match(PEM_CERT_RE) ?? [];
  return blocks.map((b) => {
    const body = b
      .replace('-----BEGIN CERTIFICATE-----', '')
      .replace('-----END CERTIFICATE-----', '')
      .replace(/\s+/g, '');
    const lines = body.match(/.{1,64}/g) ?? [];
    return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
  });
}

/** Joins certificate blocks into one bundle string. */
export function joinPemCerts(certs: readonly string[]): string {
  return certs.map((c) => splitPemCerts(c).join('')).join('');
}

// One definition of an IP's canonical form for the whole project (Go's net.IP.String()).
export { canonicalIp };

function parseSans(san: string | undefined): { dnsNames: string[]; ips: string[] } {
  const dnsNames: string[] = [];
  const ips: string[] = [];
  if (!san) return { dnsNames, ips };
  for (const part of san.split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4));
    else if (part.startsWith('IP Address:')) {
      const ip = canonicalIp(part.slice('IP Address:'.length).trim());
      if (ip) ips.push(ip);
    }
  }
  return { dnsNames, ips };
}

/** Parses one PEM certificate. Throws on malformed input. */
export function certFacts(pem: string): CertFacts {
  const x = new X509Certificate(pem);
  const { dnsNames, ips } = parseSans(x.subjectAltName);
  const kt = x.publicKey.asymmetricKeyType;
  return {
    fingerprint: createHash('sha256').update(x.raw).digest('hex'),
    subject: x.subject,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    dnsNames,
    ips,
    keyType: kt === 'rsa' ? 'rsa' : kt === 'ec' ? 'ec' : 'other',
    isCa: x.ca,
  };
}

/** True when `keyPem` is the private key of `certPem`. False on any parse error. */
export function keyMatchesCert(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when `certPem` was issued and signed by `caPem`. False on any parse error. */
export function isSignedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** Backdating of notBefore against clock skew between replicas and the API server: 1 h, at most 10 % of validity. */
function backdateMs(validityMs: number): number {
  return Math.min(60 * 60 * 1000, Math.floor(validityMs / 10));
}

export interface CaRequest {
  keyType: KeyType;
  now: Date;
  validityMs: number;
  /** Common name; made unique by appending @<unix seconds> so that old and new CA differ in subject. */
  commonName: string;
}

export async function generateCa(req: CaRequest): Promise<KeyPairPem> {
  const notBeforeDate = new Date(req.now.getTime() - backdateMs(req.validityMs));
  const notAfterDate = new Date(req.now.getTime() + req.validityMs);
  const cn = `${req.commonName}@${Math.floor(req.now.getTime() / 1000)}`;
  const out = await generate([{ name: 'commonName', value: cn }], {
    algorithm: 'sha256',
    keyType: req.keyType,
    ...(req.keyType === 'rsa' ? { keySize: 2048 } : { curve: 'P-256' as const }),
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: out.cert, key: out.private };
}

export interface ServingRequest {
  ca: KeyPairPem;
  /** Must equal the CA's key type (selfsigned imports the CA key with the leaf's key type). */
  keyType: KeyType;
  now: Date;
  validityMs: number;
  /** Never issue past the CA's own expiry. */
  caNotAfter: Date;
  dnsNames: readonly string[];
  ips: readonly string[];
}

export async function generateServing(req: ServingRequest): Promise<KeyPairPem> {
  const notBeforeDate = new Date(req.now.getTime() - backdateMs(req.validityMs));
  const notAfterMs = Math.min(req.now.getTime() + req.validityMs, req.caNotAfter.getTime());
  const cn = req.dnsNames[0] ?? req.ips[0] ?? 'spiderpool-guard';
  const out = await generate([{ name: 'commonName', value: cn }], {
    algorithm: 'sha256',
    keyType: req.keyType,
    ...(req.keyType === 'rsa' ? { keySize: 2048 } : { curve: 'P-256' as const }),
    notBeforeDate,
    notAfterDate: new Date(notAfterMs),
    ca: req.ca,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: req.keyType === 'rsa', critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...req.dnsNames.map((value) => ({ type: 2 as const, value })),
          ...req.ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: out.cert, key: out.private };
}
