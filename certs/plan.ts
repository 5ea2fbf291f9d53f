/**
 * Pure decisions for self-managed certificates: no I/O, no clock (time comes in as `now`), no crypto.
 * Inputs are plain objects (CertFacts from ./pki.ts, parsed once by the I/O layer), so tests build them by hand.
 *
 * The Secret holds:
 *   ca.crt  = trust bundle, newest CA FIRST (1 CA normally, 2+ during a CA rotation overlap)
 *   ca.key  = key of the newest CA (ca.crt[0]); only the newest CA ever signs
 *   tls.crt / tls.key = serving cert, signed by one CA of the bundle
 *   annotations: ca-published-at (when ca.crt[0] entered the bundle), serving-issued-at
 *
 * CA rotation (states derived from the Secret's content, so every replica agrees):
 *   1. `publish-ca`:     new CA generated, prepended to the bundle; serving cert unchanged (still old CA).
 *   2. (wait)            every replica injects the 2-CA bundle into the webhook configurations.
 *   3. `switch-serving`: once the new CA is seen in every caBundle AND `caPublishLeadMs` has passed since
 *                        publication, a serving cert signed by the new CA replaces the old one (hot reload).
 *   4. (wait)            `caOverlapMs` after the switch, so every replica has reloaded the new serving cert.
 *   5. `drop-old-ca`:    bundle = [new CA]; injected again.
 */
import type { CertFacts, KeyType } from './pki';

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface RotationPolicy {
  /** Validity of a new CA. */
  caValidityMs: number;
  /** Validity of a new serving cert (capped at the CA's expiry). */
  servingValidityMs: number;
  /** Renew the serving cert once this fraction of its lifetime has passed (2/3). */
  servingRenewFraction: number;
  /** Start a CA rotation once this fraction of the CA lifetime has passed (2/3). */
  caRenewFraction: number;
  /** Minimum time between publishing a new CA in the bundle and switching the serving cert to it. */
  caPublishLeadMs: number;
  /** Minimum time the old CA stays in the bundle after the serving cert switched to the new CA. */
  caOverlapMs: number;
}

export const DEFAULT_POLICY: RotationPolicy = {
  caValidityMs: 5 * 365 * DAY_MS,
  servingValidityMs: 90 * DAY_MS,
  servingRenewFraction: 2 / 3,
  caRenewFraction: 2 / 3,
  caPublishLeadMs: 2 * 60 * 1000,
  caOverlapMs: 10 * 60 * 1000,
};

/** What the I/O layer learned from the Secret. */
export interface SecretFacts {
  /** Parse errors that make the CA part unusable (missing keys, garbage PEM). */
  problems: string[];
  /** ca.crt, in order (newest first). */
  cas: CertFacts[];
  /** ca.key is the private key of cas[0]. */
  caKeyMatches: boolean;
  /** tls.crt parsed; undefined when absent or unparsable. */
  serving?: CertFacts | undefined;
  /** tls.key is the private key of tls.crt. */
  servingKeyMatches: boolean;
  /** Fingerprint of the CA in `cas` that signed tls.crt; undefined when none did. */
  servingIssuer?: string | undefined;
  caPublishedAt?: Date | undefined;
  servingIssuedAt?: Date | undefined;
}

export interface Desired {
  dnsNames: string[];
  /** Canonical IPs. */
  ips: string[];
  keyType: KeyType;
}

export type SecretPlan =
  | { action: 'create' }
  | { action: 'regenerate'; reason: string }
  | { action: 'renew-serving'; reason: string; dnsNames: string[]; ips: string[] }
  | { action: 'publish-ca'; reason: string }
  | { action: 'switch-serving'; dnsNames: string[]; ips: string[] }
  | { action: 'drop-old-ca'; keep: string[]; reason: string }
  | { action: 'none'; waitingFor?: 'ca-injection' | 'ca-publish-lead' | 'ca-overlap'; nextCheck?: Date };

export type SecretWrite = Exclude<SecretPlan, { action: 'none' }>;

/** Instant at which `fraction` of the certificate's lifetime (notBefore..notAfter) has passed. */
export function renewAt(cert: Pick<CertFacts, 'notBefore' | 'notAfter'>, fraction: number): Date {
  const nb = cert.notBefore.getTime();
  return new Date(nb + (cert.notAfter.getTime() - nb) * fraction);
}

export function isExpired(cert: Pick<CertFacts, 'notAfter'>, now: Date): boolean {
  return now.getTime() >= cert.notAfter.getTime();
}

/** The service DNS names every replica needs in the serving cert, plus extras (deduplicated, order kept). */
export function serviceDnsNames(serviceName: string, namespace: string, extra: readonly string[]): string[] {
  const base = [
    serviceName,
    `${serviceName}.${namespace}`,
    `${serviceName}.${namespace}.svc`,
    `${serviceName}.${namespace}.svc.cluster.local`,
  ];
  return dedupe([...base, ...extra.map((n) => n.trim()).filter((n) => n !== '')]);
}

function dedupe(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** Names missing from the serving cert (DNS names compared case-insensitively, IPs canonical). */
export function missingNames(serving: Pick<CertFacts, 'dnsNames' | 'ips'>, desired: Pick<Desired, 'dnsNames' | 'ips'>): string[] {
  const have = new Set([...serving.dnsNames.map((n) => n.toLowerCase()), ...serving.ips]);
  return [...desired.dnsNames.filter((n) => !have.has(n.toLowerCase())), ...desired.ips.filter((ip) => !have.has(ip))];
}

/**
 * SANs for a renewal. When the cert lacks some of our names we issue the union of what it has and what we need,
 * so replicas configured with different extra names (rolling upgrade) converge instead of fighting; a plain
 * renewal (expiry) issues only our own names, which drops names nobody asks for any more.
 */
function sansFor(serving: CertFacts | undefined, desired: Desired, union: boolean): { dnsNames: string[]; ips: string[] } {
  if (!union || !serving) return { dnsNames: [...desired.dnsNames], ips: [...desired.ips] };
  const lower = new Set(desired.dnsNames.map((n) => n.toLowerCase()));
  return {
    dnsNames: dedupe([...desired.dnsNames, ...serving.dnsNames.filter((n) => !lower.has(n.toLowerCase()))]),
    ips: dedupe([...desired.ips, ...serving.ips]),
  };
}

export interface PlanInput {
  /** undefined = the Secret does not exist. */
  secret: SecretFacts | undefined;
  desired: Desired;
  now: Date;
  policy: RotationPolicy;
  /** Every webhook of both configurations currently trusts cas[0] (read in this cycle). */
  newestCaInjected: boolean;
}

/** What must be written to the Secret now (at most one step per call; the caller re-plans after writing). */
export function planSecret(input: PlanInput): SecretPlan {
  const { secret: s, desired, now, policy } = input;
  if (!s) return { action: 'create' };
  const ca = s.cas[0];
  if (s.problems.length > 0) return { action: 'regenerate', reason: s.problems.join('; ') };
  if (!ca) return { action: 'regenerate', reason: 'ca.crt holds no certificate' };
  if (!ca.isCa) return { action: 'regenerate', reason: 'ca.crt[0] is not a CA certificate' };
  if (!s.caKeyMatches) return { action: 'regenerate', reason: 'ca.key does not match ca.crt[0]' };
  if (ca.keyType === 'other') return { action: 'regenerate', reason: 'unsupported CA key type' };
  if (isExpired(ca, now)) return { action: 'regenerate', reason: 'CA expired' };

  // Serving cert unusable: fix at once with the newest CA (nothing better exists).
  const serving = s.serving;
  const issuer = s.cas.find((c) => c.fingerprint === s.servingIssuer);
  const broken = !serving
    ? 'tls.crt missing or unparsable'
    : !s.servingKeyMatches
      ? 'tls.key does not match tls.crt'
      : !issuer
        ? 'tls.crt not signed by a CA of the bundle'
        : isExpired(serving, now)
          ? 'serving certificate expired'
          : isExpired(issuer, now)
            ? 'issuing CA expired'
            : serving.keyType !== ca.keyType
              ? 'serving key type differs from CA key type'
              : undefined;
  if (broken) return { action: 'renew-serving', reason: broken, ...sansFor(serving, desired, false) };
  if (!serving || !issuer) throw new Error('unreachable');

  // Expired extra CAs are dropped whatever else happens (the serving cert is not signed by one: checked above).
  const live = s.cas.filter((c) => !isExpired(c, now));
  if (live.length !== s.cas.length) {
    return { action: 'drop-old-ca', keep: live.map((c) => c.fingerprint), reason: 'expired CA in bundle' };
  }

  if (s.cas.length > 1) {
    if (issuer.fingerprint !== ca.fingerprint) {
      // Phase 2: new CA published, serving cert still from an old CA.
      const publishedAt = s.caPublishedAt ?? ca.notBefore;
      const leadOver = new Date(publishedAt.getTime() + policy.caPublishLeadMs);
      if (!input.newestCaInjected) return { action: 'none', waitingFor: 'ca-injection' };
      if (now < leadOver) return { action: 'none', waitingFor: 'ca-publish-lead', nextCheck: leadOver };
      return { action: 'switch-serving', ...sansFor(serving, desired, true) };
    }
    // Phase 4: serving cert from the new CA; keep old CAs for the overlap.
    const issuedAt = s.servingIssuedAt ?? serving.notBefore;
    const overlapOver = new Date(issuedAt.getTime() + policy.caOverlapMs);
    if (now < overlapOver) return { action: 'none', waitingFor: 'ca-overlap', nextCheck: overlapOver };
    return { action: 'drop-old-ca', keep: [ca.fingerprint], reason: 'CA rotation overlap over' };
  }

  const caDue = renewAt(ca, policy.caRenewFraction);
  if (now >= caDue) return { action: 'publish-ca', reason: `CA passed ${fractionText(policy.caRenewFraction)} of its lifetime` };

  const servingDue = renewAt(serving, policy.servingRenewFraction);
  if (now >= servingDue) {
    return {
      action: 'renew-serving',
      reason: `serving certificate passed ${fractionText(policy.servingRenewFraction)} of its lifetime`,
      ...sansFor(serving, desired, false),
    };
  }
  const missing = missingNames(serving, desired);
  if (missing.length > 0) {
    return { action: 'renew-serving', reason: `serving certificate lacks ${missing.join(',')}`, ...sansFor(serving, desired, true) };
  }
  return { action: 'none', nextCheck: new Date(Math.min(caDue.getTime(), servingDue.getTime())) };
}

function fractionText(f: number): string {
  return `${Math.round(f * 100)}%`;
}

// ---------------------------------------------------------------- caBundle injection (pure)

/** A webhook entry as read from a Validating/MutatingWebhookConfiguration. */
export interface WebhookEntry {
  name: string;
  /** base64 of a PEM bundle, as stored in clientConfig.caBundle. */
  caBundle?: string | undefined;
}

/** Normalizes a PEM bundle to its certificate bodies (no headers, no whitespace), in order. */
export function bundleBodies(pem: string): string[] {
  const re = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g;
  const out: string[] = [];
  for (const m of pem.matchAll(re)) out.push((m[1] ?? '').replace(/\s+/g, ''));
  return out;
}

function decodeCaBundle(b64: string | undefined): string {
  if (!b64) return '';
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** True when the webhook's caBundle holds exactly the certificates of `bundlePem`, in the same order. */
export function caBundleMatches(entry: WebhookEntry, bundlePem: string): boolean {
  const have = bundleBodies(decodeCaBundle(entry.caBundle));
  const want = bundleBodies(bundlePem);
  return have.length === want.length && have.every((b, i) => b === want[i]);
}

/** True when the webhook's caBundle contains the given CA certificate. */
export function caBundleContains(entry: WebhookEntry, caPem: string): boolean {
  const [want] = bundleBodies(caPem);
  return want !== undefined && bundleBodies(decodeCaBundle(entry.caBundle)).includes(want);
}

/** Indices of webhooks whose caBundle must be rewritten to `bundlePem`. */
export function webhooksNeedingInjection(webhooks: readonly WebhookEntry[], bundlePem: string): number[] {
  const out: number[] = [];
  webhooks.forEach((w, i) => {
    if (!caBundleMatches(w, bundlePem)) out.push(i);
  });
  return out;
}

/** JSON Patch that sets caBundle on the given webhooks, guarded by the resourceVersion and the webhook names. */
export function caBundlePatch(
  resourceVersion: string,
  webhooks: readonly WebhookEntry[],
  indices: readonly number[],
  bundlePem: string,
): Array<Record<string, unknown>> {
  const b64 = Buffer.from(bundlePem, 'utf8').toString('base64');
  const ops: Array<Record<string, unknown>> = [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }];
  for (const i of indices) {
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: webhooks[i]?.name });
    ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: b64 });
  }
  return ops;
}
