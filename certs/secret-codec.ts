/**
 * Secret <-> certificate material. Parsing uses node:crypto but no Kubernetes I/O; `applyPlan` generates
 * the new material for one planned step.
 */
import { certFacts, generateCa, generateServing, isSignedBy, joinPemCerts, keyMatchesCert, splitPemCerts } from './pki';
import type { CertFacts, KeyType } from './pki';
import type { RotationPolicy, SecretFacts, SecretWrite } from './plan';

export const ANNOTATION_CA_PUBLISHED_AT = 'spiderpool-guard.spidernet.io/ca-published-at';
export const ANNOTATION_SERVING_ISSUED_AT = 'spiderpool-guard.spidernet.io/serving-issued-at';
export const ANNOTATION_SERVE_AFTER = 'spiderpool-guard.spidernet.io/serve-after';
/** Every annotation this module owns (a write replaces all of them: an absent one is removed). */
export const OWN_ANNOTATIONS = [ANNOTATION_CA_PUBLISHED_AT, ANNOTATION_SERVING_ISSUED_AT, ANNOTATION_SERVE_AFTER];

/** The Secret's data, decoded (PEM strings). */
export interface CertBundle {
  caCrt: string; // bundle, newest first
  caKey: string; // key of the newest CA
  tlsCrt: string;
  tlsKey: string;
  caPublishedAt?: string | undefined;
  servingIssuedAt?: string | undefined;
  /** ISO time from which tls.crt may be served; absent = pending (see ./plan.ts). */
  serveAfter?: string | undefined;
}

export function decodeSecretData(
  data: Record<string, string> | undefined,
  annotations: Record<string, string> | undefined,
): CertBundle {
  const dec = (k: string): string => (data?.[k] ? Buffer.from(data[k], 'base64').toString('utf8') : '');
  return {
    caCrt: dec('ca.crt'),
    caKey: dec('ca.key'),
    tlsCrt: dec('tls.crt'),
    tlsKey: dec('tls.key'),
    caPublishedAt: annotations?.[ANNOTATION_CA_PUBLISHED_AT],
    servingIssuedAt: annotations?.[ANNOTATION_SERVING_ISSUED_AT],
    serveAfter: annotations?.[ANNOTATION_SERVE_AFTER],
  };
}

export function encodeSecretData(b: CertBundle): { data: Record<string, string>; annotations: Record<string, string> } {
  const enc = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  const annotations: Record<string, string> = {};
  if (b.caPublishedAt) annotations[ANNOTATION_CA_PUBLISHED_AT] = b.caPublishedAt;
  if (b.servingIssuedAt) annotations[ANNOTATION_SERVING_ISSUED_AT] = b.servingIssuedAt;
  if (b.serveAfter) annotations[ANNOTATION_SERVE_AFTER] = b.serveAfter;
  return {
    data: { 'ca.crt': enc(b.caCrt), 'ca.key': enc(b.caKey), 'tls.crt': enc(b.tlsCrt), 'tls.key': enc(b.tlsKey) },
    annotations,
  };
}

function parseDate(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Parses the bundle into the plain facts the planner needs. Never throws. */
export function secretFacts(b: CertBundle): SecretFacts {
  const problems: string[] = [];
  const caPems = splitPemCerts(b.caCrt);
  const cas: CertFacts[] = [];
  if (caPems.length === 0) problems.push('ca.crt missing or holds no certificate');
  for (const [i, pem] of caPems.entries()) {
    try {
      cas.push(certFacts(pem));
    } catch (err) {
      problems.push(`ca.crt[${i}] unparsable: ${(err as Error).message}`);
    }
  }
  if (!b.caKey) problems.push('ca.key missing');
  const caKeyMatches = caPems[0] !== undefined && b.caKey !== '' && keyMatchesCert(caPems[0], b.caKey);
  let serving: CertFacts | undefined;
  let servingIssuer: string | undefined;
  const servingPem = splitPemCerts(b.tlsCrt)[0];
  if (servingPem) {
    try {
      serving = certFacts(servingPem);
      const idx = caPems.findIndex((ca) => isSignedBy(servingPem, ca));
      servingIssuer = idx >= 0 ? cas[idx]?.fingerprint : undefined;
    } catch {
      serving = undefined;
    }
  }
  return {
    problems,
    cas,
    caKeyMatches,
    serving,
    servingKeyMatches: servingPem !== undefined && b.tlsKey !== '' && keyMatchesCert(servingPem, b.tlsKey),
    servingIssuer,
    caPublishedAt: parseDate(b.caPublishedAt),
    servingIssuedAt: parseDate(b.servingIssuedAt),
    serveAfter: parseDate(b.serveAfter),
  };
}

export interface GenerateContext {
  now: Date;
  policy: RotationPolicy;
  keyType: KeyType;
  dnsNames: string[];
  ips: string[];
  caCommonName: string;
  /** PEM of the CAs a plan may carry or keep, by fingerprint (see CertFacts.fingerprint). */
  knownCas?: ReadonlyMap<string, string>;
}

function pemsOf(fingerprints: readonly string[], ctx: GenerateContext): string[] {
  return fingerprints.flatMap((fp) => {
    const pem = ctx.knownCas?.get(fp);
    return pem ? [pem] : [];
  });
}

/** A new CA (first in the bundle, before `carry`) and a pending serving cert signed by it. */
async function fresh(ctx: GenerateContext, carry: readonly string[]): Promise<CertBundle> {
  const ca = await generateCa({
    keyType: ctx.keyType,
    now: ctx.now,
    validityMs: ctx.policy.caValidityMs,
    commonName: ctx.caCommonName,
  });
  const caNotAfter = certFacts(ca.cert).notAfter;
  const serving = await generateServing({
    ca,
    keyType: ctx.keyType,
    now: ctx.now,
    validityMs: ctx.policy.servingValidityMs,
    caNotAfter,
    dnsNames: ctx.dnsNames,
    ips: ctx.ips,
  });
  const iso = ctx.now.toISOString();
  return {
    caCrt: joinPemCerts([ca.cert, ...pemsOf(carry, ctx)]),
    caKey: ca.key,
    tlsCrt: serving.cert,
    tlsKey: serving.key,
    caPublishedAt: iso,
    servingIssuedAt: iso,
  };
}

/**
 * Produces the next Secret content for a planned write. `current` is the decoded Secret (absent for create).
 * A new tls.crt always comes without serve-after (pending): only `schedule-serving` sets it.
 */
export async function applyPlan(
  plan: SecretWrite,
  current: CertBundle | undefined,
  ctx: GenerateContext,
): Promise<CertBundle> {
  const iso = ctx.now.toISOString();
  if (plan.action === 'create' || plan.action === 'regenerate') return fresh(ctx, plan.carry);
  const caPems = current ? splitPemCerts(current.caCrt) : [];
  const newest = caPems[0];
  if (!current || !newest) return fresh(ctx, []);
  // The CA's key type wins over the configured one: the serving key must match the signing CA's type.
  const caKeyType = certFacts(newest).keyType;
  const keyType: KeyType = caKeyType === 'ec' || caKeyType === 'rsa' ? caKeyType : ctx.keyType;
  switch (plan.action) {
    case 'renew-serving':
    case 'switch-serving': {
      const serving = await generateServing({
        ca: { cert: newest, key: current.caKey },
        keyType,
        now: ctx.now,
        validityMs: ctx.policy.servingValidityMs,
        caNotAfter: certFacts(newest).notAfter,
        dnsNames: plan.dnsNames,
        ips: plan.ips,
      });
      return { ...current, tlsCrt: serving.cert, tlsKey: serving.key, servingIssuedAt: iso, serveAfter: undefined };
    }
    case 'schedule-serving':
      return { ...current, serveAfter: plan.serveAfter.toISOString() };
    case 'publish-ca': {
      // A new CA uses the configured key type only if it matches the current one; switching key types needs a
      // fresh Secret (delete it), so replicas with different settings never fight over it.
      const ca = await generateCa({
        keyType,
        now: ctx.now,
        validityMs: ctx.policy.caValidityMs,
        commonName: ctx.caCommonName,
      });
      return { ...current, caCrt: joinPemCerts([ca.cert, ...caPems]), caKey: ca.key, caPublishedAt: iso };
    }
    case 'keep-served-ca':
      return { ...current, caCrt: joinPemCerts([...caPems, ...pemsOf([plan.fingerprint], ctx)]) };
    case 'drop-old-ca': {
      const keep = new Set(plan.keep);
      const kept = caPems.filter((pem) => keep.has(certFacts(pem).fingerprint));
      return { ...current, caCrt: joinPemCerts(kept) };
    }
  }
}
