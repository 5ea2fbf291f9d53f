/**
 * Pure decisions for self-managed certificates: no I/O, no clock (time comes in as `now`), no crypto.
 * Inputs are plain objects (CertFacts from ./pki.ts, parsed once by the I/O layer), so tests build them by hand.
 *
 * The Secret holds:
 *   ca.crt  = trust bundle, newest CA FIRST (1 CA normally, 2+ while an old CA may still sign a served certificate)
 *   ca.key  = key of the newest CA (ca.crt[0]); only the newest CA ever signs
 *   tls.crt / tls.key = the serving cert, signed by one CA of the bundle
 *   annotations: serve-after (when tls.crt may be served; absent = "pending": not before its CA is injected),
 *                ca-published-at, serving-issued-at (informational)
 *
 * The rule every replica follows (chooseServing): serve the Secret's tls.crt only once every webhook's caBundle
 * contains its CA AND serve-after has passed; until then keep serving the certificate already loaded, as long as
 * the caBundles trust it. A replica with nothing loaded serves tls.crt at once but reports not ready; a loaded cert
 * about to expire gives way early to a tls.crt whose CA every caBundle already holds (the lead is only a margin).
 * So a new CA is in every caBundle, next to the old one, before any replica serves a certificate it signed.
 * The Secret's bundle must therefore keep the CA of every certificate still served: a replica keeping its
 * certificate adds that CA back if it is missing (`keep-served-ca`), and a recreated Secret carries the CAs the
 * replica last knew and the CAs found in the caBundles (`carry`). Replicas converge through the Secret's
 * resourceVersion: every write is a create-if-absent or a PUT with the resourceVersion read, and the loser of a
 * race re-reads and re-plans.
 *
 * Secret states (planSecret gives at most one write per call; the caller re-plans after each write):
 *
 *   stateDiagram-v2
 *     [*] --> Pending: Secret absent / create (new CA + carried CAs, tls.crt from the new CA)
 *     Steady --> Pending: CA unusable (any state) / regenerate (same, carrying the parseable CAs too)
 *     Steady --> Pending: tls.crt broken (any state) or due / renew-serving (from the newest CA)
 *     Pending --> Scheduled: tls.crt's CA in every caBundle / schedule-serving (serve-after = now, + lead if 2+ CAs)
 *     Scheduled --> Steady: serve-after passed, 1 CA (replicas load tls.crt; nothing written)
 *     Scheduled --> Overlap: serve-after passed, 2+ CAs (replicas load tls.crt; nothing written)
 *     Overlap --> Steady: serve-after + overlap passed / drop-old-ca (bundle = [newest])
 *     Steady --> Published: CA at 2/3 of its life / publish-ca (bundle = [new, old], tls.crt unchanged)
 *     Published --> Pending: new CA in every caBundle / switch-serving (tls.crt from the new CA)
 *
 *   Steady = 1 CA, serve-after passed. In every state each replica injects the Secret's ca.crt into every caBundle,
 *   and a replica keeping a cert whose CA the bundle lacks writes `keep-served-ca` first. A write that makes a new
 *   tls.crt always enters Pending, so even a plain renewal never reaches a replica before its CA is trusted; the
 *   lead (default 2 min) leaves the API server time to pick up a changed caBundle.
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
  /**
   * With 2+ CAs in the bundle: time between a replica seeing tls.crt's CA in every caBundle and any replica serving
   * tls.crt (serve-after), so that the API server has picked up the changed caBundle.
   */
  caPublishLeadMs: number;
  /** Time the old CAs stay in the bundle after serve-after (every replica has reloaded by then). */
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
  /** When tls.crt may be served; undefined = pending (or unparsable). */
  serveAfter?: Date | undefined;
}

export interface Desired {
  dnsNames: string[];
  /** Canonical IPs. */
  ips: string[];
  keyType: KeyType;
}

/** Most CAs a recreated bundle carries besides the new one (a hostile caBundle must not grow the Secret). */
export const MAX_CARRIED_CAS = 8;

export type SecretPlan =
  /** `carry`: fingerprints of the CAs to keep in the bundle after the new one. */
  | { action: 'create'; carry: string[] }
  | { action: 'regenerate'; reason: string; carry: string[] }
  | { action: 'renew-serving'; reason: string; dnsNames: string[]; ips: string[] }
  | { action: 'publish-ca'; reason: string }
  | { action: 'switch-serving'; dnsNames: string[]; ips: string[] }
  | { action: 'schedule-serving'; serveAfter: Date }
  | { action: 'keep-served-ca'; fingerprint: string; reason: string }
  | { action: 'drop-old-ca'; keep: string[]; reason: string }
  | { action: 'none'; waitingFor?: 'ca-injection' | 'serve-after' | 'ca-overlap'; nextCheck?: Date };

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
export function missingNames(
  serving: Pick<CertFacts, 'dnsNames' | 'ips'>,
  desired: Pick<Desired, 'dnsNames' | 'ips'>,
): string[] {
  const have = new Set([...serving.dnsNames.map((n) => n.toLowerCase()), ...serving.ips]);
  return [...desired.dnsNames.filter((n) => !have.has(n.toLowerCase())), ...desired.ips.filter((ip) => !have.has(ip))];
}

/**
 * SANs for a renewal. When the cert lacks some of our names we issue the union of what it has and what we need,
 * so replicas configured with different extra names (rolling upgrade) converge instead of fighting; a plain
 * renewal (expiry) issues only our own names, which drops names nobody asks for any more.
 */
function sansFor(
  serving: CertFacts | undefined,
  desired: Desired,
  union: boolean,
): { dnsNames: string[]; ips: string[] } {
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
  /** Every webhook of both configurations currently trusts the CA that signed tls.crt (read in this cycle). */
  servingCaInjected: boolean;
  /**
   * CAs a recreated bundle must keep, in order of preference: the CA of the certificate this replica serves, the
   * bundle it last read, the CAs in the caBundles now. Filtered here (CA certificates, not expired, deduplicated).
   */
  carryCas?: readonly CertFacts[];
  /** The CA of the certificate this replica keeps serving instead of tls.crt (see chooseServing). */
  keptIssuer?: CertFacts | undefined;
}

/** Fingerprints of the CAs worth carrying into a new bundle: CA certificates, not expired, first occurrence, capped. */
function carried(cas: readonly CertFacts[], now: Date): string[] {
  const out: string[] = [];
  for (const c of cas) {
    if (out.length >= MAX_CARRIED_CAS) break;
    if (c.isCa && !isExpired(c, now) && !out.includes(c.fingerprint)) out.push(c.fingerprint);
  }
  return out;
}

/** What must be written to the Secret now (at most one step per call; the caller re-plans after writing). */
export function planSecret(input: PlanInput): SecretPlan {
  const { secret: s, desired, now, policy } = input;
  const carry = input.carryCas ?? [];
  if (!s) return { action: 'create', carry: carried(carry, now) };
  const ca = s.cas[0];
  const regenerate = (reason: string): SecretPlan => ({
    action: 'regenerate',
    reason,
    carry: carried([...s.cas, ...carry], now),
  });
  if (s.problems.length > 0) return regenerate(s.problems.join('; '));
  if (!ca) return regenerate('ca.crt holds no certificate');
  if (!ca.isCa) return regenerate('ca.crt[0] is not a CA certificate');
  if (!s.caKeyMatches) return regenerate('ca.key does not match ca.crt[0]');
  if (ca.keyType === 'other') return regenerate('unsupported CA key type');
  if (isExpired(ca, now)) return regenerate('CA expired');

  // A certificate this replica still serves must stay trusted: its CA goes back into the bundle before the next
  // injection could remove it from the caBundles.
  const kept = input.keptIssuer;
  if (kept && kept.isCa && !isExpired(kept, now) && !s.cas.some((c) => c.fingerprint === kept.fingerprint)) {
    return {
      action: 'keep-served-ca',
      fingerprint: kept.fingerprint,
      reason: 'a served certificate is signed by a CA missing from the bundle',
    };
  }

  // Serving cert unusable: a new one from the newest CA at once (it is served only once that CA is injected).
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

  // Pending: tls.crt is new; once its CA is in every caBundle, fix the instant from which replicas may serve it.
  const serveAfter = s.serveAfter;
  if (!serveAfter) {
    if (!input.servingCaInjected) return { action: 'none', waitingFor: 'ca-injection' };
    const lead = s.cas.length > 1 ? policy.caPublishLeadMs : 0;
    return { action: 'schedule-serving', serveAfter: new Date(now.getTime() + lead) };
  }

  if (s.cas.length > 1) {
    if (issuer.fingerprint !== ca.fingerprint) {
      // Published: new CA in the bundle, tls.crt still from an old CA.
      if (!input.newestCaInjected) return { action: 'none', waitingFor: 'ca-injection' };
      return { action: 'switch-serving', ...sansFor(serving, desired, true) };
    }
    if (now < serveAfter) return { action: 'none', waitingFor: 'serve-after', nextCheck: serveAfter };
    // Overlap: tls.crt from the newest CA is served; old CAs stay until every replica has surely reloaded.
    const overlapOver = new Date(serveAfter.getTime() + policy.caOverlapMs);
    if (now < overlapOver) return { action: 'none', waitingFor: 'ca-overlap', nextCheck: overlapOver };
    return { action: 'drop-old-ca', keep: [ca.fingerprint], reason: 'CA rotation overlap over' };
  }

  const caDue = renewAt(ca, policy.caRenewFraction);
  if (now >= caDue)
    return { action: 'publish-ca', reason: `CA passed ${fractionText(policy.caRenewFraction)} of its lifetime` };

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
    return {
      action: 'renew-serving',
      reason: `serving certificate lacks ${missing.join(',')}`,
      ...sansFor(serving, desired, true),
    };
  }
  const checks = [caDue.getTime(), servingDue.getTime(), ...(now < serveAfter ? [serveAfter.getTime()] : [])];
  return { action: 'none', nextCheck: new Date(Math.min(...checks)) };
}

/** The certificate a replica serves at the moment: what chooseServing needs to know about it. */
export interface ServedCert {
  fingerprint: string;
  notAfter: Date;
  /** Its CA is in every webhook's caBundle (read in this cycle). */
  trusted: boolean;
}

export interface ServingChoiceInput {
  secret: SecretFacts | undefined;
  /** Every webhook of both configurations trusts the CA that signed the Secret's tls.crt (read in this cycle). */
  servingCaInjected: boolean;
  now: Date;
  /** undefined when this replica serves nothing yet. */
  current?: ServedCert | undefined;
  /**
   * How long before its expiry the loaded cert gives way to a Secret cert that is already trusted by every caBundle
   * but whose lead is still running (the next cycle may come that late). Default 0.
   */
  expiryMarginMs?: number;
}

export type ServingChoice =
  /** Load the Secret's tls.crt. `ready`: it is trusted and due, so this replica may take traffic. */
  | { serve: 'secret'; ready: boolean }
  /** Keep serving the loaded certificate (trusted); the Secret's is not due yet. */
  | { serve: 'current'; ready: true }
  /** Keep whatever is loaded (or nothing): the Secret holds nothing servable. */
  | { serve: 'unchanged'; ready: false };

/** Which certificate a replica serves now (see the header: the Secret's only once trusted and due). */
export function chooseServing(input: ServingChoiceInput): ServingChoice {
  const { secret: s, now, current } = input;
  const keepCurrent = current !== undefined && current.trusted && now < current.notAfter;
  const serving = s?.serving;
  if (!s || !serving || !s.servingKeyMatches || s.servingIssuer === undefined || isExpired(serving, now)) {
    return keepCurrent ? { serve: 'current', ready: true } : { serve: 'unchanged', ready: false };
  }
  if (input.servingCaInjected && s.serveAfter !== undefined && now >= s.serveAfter)
    return { serve: 'secret', ready: true };
  if (keepCurrent && current.fingerprint !== serving.fingerprint) {
    // The lead is a margin for the API server to pick up the caBundle; an expired cert fails for certain.
    const dueAt = s.serveAfter ?? now;
    const expiresFirst =
      current.notAfter.getTime() - (input.expiryMarginMs ?? 0) <= Math.max(dueAt.getTime(), now.getTime());
    if (input.servingCaInjected && expiresFirst) return { serve: 'secret', ready: true };
    return { serve: 'current', ready: true };
  }
  // nothing trusted to keep: tls.crt is the best there is, but this replica must not take traffic yet
  return { serve: 'secret', ready: false };
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
  const ops: Array<Record<string, unknown>> = [
    { op: 'test', path: '/metadata/resourceVersion', value: resourceVersion },
  ];
  for (const i of indices) {
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: webhooks[i]?.name });
    ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: b64 });
  }
  return ops;
}
