/**
 * Self-managed TLS: every replica runs this loop; optimistic concurrency on the one Secret makes them converge.
 *
 * One sync cycle (the states and the serving rule are described in ./plan.ts):
 *   read Secret -> read both webhook configurations -> chooseServing() (the Secret's tls.crt, or keep the loaded
 *   cert while the Secret's is not yet trusted and due) -> planSecret() -> (write Secret: create-if-absent or PUT
 *   with resourceVersion; on 409 re-read and re-plan) -> load the chosen cert (hot reload via onChange) -> inject
 *   the Secret's ca.crt into every webhook's caBundle (JSON Patch guarded by resourceVersion) -> readiness. After
 *   an injection that a waiting step depends on, the cycle re-reads at once instead of waiting for the next one.
 * Cycles repeat every `resyncMs` (default 10 s), sooner when a rotation step is due. GET polling keeps the RBAC
 * simple (get/patch by resourceNames) and repairs a wiped caBundle within one resync.
 */
import { X509Certificate } from 'node:crypto';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { certMetrics } from './metrics';
import type { CertMetrics } from './metrics';
import { CertsKubeClient } from './kube-io';
import type { ConfigKind, WebhookConfigView } from './kube-io';
import { canonicalIp, certFacts, splitPemCerts } from './pki';
import type { CertFacts, KeyType } from './pki';
import {
  DAY_MS,
  DEFAULT_POLICY,
  bundleBodies,
  caBundleContains,
  caBundlePatch,
  chooseServing,
  planSecret,
  serviceDnsNames,
  webhooksNeedingInjection,
} from './plan';
import type { RotationPolicy, SecretFacts, SecretPlan, ServingChoice } from './plan';
import { OWN_ANNOTATIONS, applyPlan, decodeSecretData, encodeSecretData, secretFacts } from './secret-codec';
import type { CertBundle } from './secret-codec';
import type { LoadableTlsSource, TlsMaterial } from './tls-source';

export interface SelfManagedOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName: string;
  serviceName: string;
  extraDnsNames: string[];
  extraIps: string[];
  validatingWebhookName: string;
  mutatingWebhookName: string;
  keyType: KeyType;
  /** Default 1825 (5 years). Fractions allowed (tests). */
  caValidityDays?: number;
  /** Default 90. Fractions allowed (tests). */
  certValidityDays?: number;
  now?: () => Date;
  logger: Logger;
  registry?: Registry;
  /** Poll period of Secret and webhook configurations. Default 10 000 ms. */
  resyncMs?: number;
  /** Rotation timing overrides (see RotationPolicy); defaults in DEFAULT_POLICY. */
  caPublishLeadMs?: number;
  caOverlapMs?: number;
  servingRenewFraction?: number;
  caRenewFraction?: number;
  /** CN prefix of generated CAs. Default 'spiderpool-guard-ca'. */
  caCommonName?: string;
  /** Start the loop at once (default true). With false, drive it with sync(). */
  autoStart?: boolean;
}

export interface SelfManagedStatus {
  loaded: boolean;
  servingFingerprint?: string | undefined;
  injected: Record<ConfigKind, boolean>;
  lastPlan?: SecretPlan['action'] | undefined;
  waitingFor?: string | undefined;
  /** Last serving choice: the Secret's cert, or the loaded one kept until the Secret's is trusted and due. */
  serving?: ServingChoice['serve'] | undefined;
  lastError?: string | undefined;
}

export interface SelfManagedTlsSource extends LoadableTlsSource {
  /** Runs one sync cycle now (serialized with the background loop). */
  sync(): Promise<void>;
  status(): SelfManagedStatus;
}

/** Reads per cycle: create + inject + schedule + load take 4; the rest absorbs write conflicts. */
const MAX_STEPS = 8;

type ConfigRead = { kind: ConfigKind; name: string; view: WebhookConfigView | undefined; failed?: boolean };

/** A CA certificate as PEM plus its parsed facts. */
interface KnownCa {
  pem: string;
  facts: CertFacts;
}

function parseCas(pems: readonly string[]): KnownCa[] {
  return pems.flatMap((pem) => {
    try {
      return [{ pem, facts: certFacts(pem) }];
    } catch {
      return [];
    }
  });
}

/** Every webhook of every configuration (all read, all present) trusts `caPem`. */
function trustedEverywhere(caPem: string, configs: readonly ConfigRead[]): boolean {
  return configs.every((c) => c.view !== undefined && c.view.webhooks.every((w) => caBundleContains(w, caPem)));
}

/** The certificates found in the configurations' caBundles (any webhook), deduplicated. */
function injectedCaPems(configs: readonly ConfigRead[]): string[] {
  const bodies = new Set<string>();
  for (const c of configs) {
    for (const w of c.view?.webhooks ?? []) {
      for (const b of bundleBodies(Buffer.from(w.caBundle ?? '', 'base64').toString('utf8'))) bodies.add(b);
    }
  }
  return [...bodies].flatMap((b) => splitPemCerts(`-----BEGIN CERTIFICATE-----\n${b}\n-----END CERTIFICATE-----\n`));
}

export function selfManagedTlsSource(opts: SelfManagedOptions): SelfManagedTlsSource {
  const src = new SelfManaged(opts);
  if (opts.autoStart !== false) src.start();
  return src;
}

class SelfManaged implements SelfManagedTlsSource {
  private readonly client: CertsKubeClient;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly policy: RotationPolicy;
  private readonly metrics: CertMetrics;
  private readonly dnsNames: string[];
  private readonly ips: string[];
  private readonly resyncMs: number;
  private readonly listeners: Array<(m: TlsMaterial) => void> = [];
  private material: TlsMaterial | undefined;
  /** The served certificate's fingerprint (CertFacts form) and its CA. */
  private servedFingerprint: string | undefined;
  private servedIssuer: KnownCa | undefined;
  /** The CAs of the last Secret read that had any: carried into a recreated Secret. */
  private lastKnownCas: KnownCa[] = [];
  /** The serving choice said this replica may take traffic (see chooseServing). */
  private servingReady = false;
  private lastChoice: ServingChoice | undefined;
  private injected: Record<ConfigKind, boolean> = { validating: false, mutating: false };
  private lastPlan: SecretPlan | undefined;
  private lastError: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private consecutiveErrors = 0;
  private retrySoon = false;
  private loadedResolve!: (m: TlsMaterial) => void;
  private loadedReject!: (e: Error) => void;
  private readonly loadedPromise: Promise<TlsMaterial>;

  constructor(private readonly opts: SelfManagedOptions) {
    this.client = new CertsKubeClient(opts.kubeConfig);
    this.now = opts.now ?? (() => new Date());
    this.log = opts.logger.child({ secret: `${opts.namespace}/${opts.secretName}` });
    this.policy = {
      ...DEFAULT_POLICY,
      ...(opts.caValidityDays !== undefined ? { caValidityMs: opts.caValidityDays * DAY_MS } : {}),
      ...(opts.certValidityDays !== undefined ? { servingValidityMs: opts.certValidityDays * DAY_MS } : {}),
      ...(opts.caPublishLeadMs !== undefined ? { caPublishLeadMs: opts.caPublishLeadMs } : {}),
      ...(opts.caOverlapMs !== undefined ? { caOverlapMs: opts.caOverlapMs } : {}),
      ...(opts.servingRenewFraction !== undefined ? { servingRenewFraction: opts.servingRenewFraction } : {}),
      ...(opts.caRenewFraction !== undefined ? { caRenewFraction: opts.caRenewFraction } : {}),
    };
    if (this.policy.servingValidityMs > this.policy.caValidityMs) {
      throw new Error(
        `certValidityDays (${opts.certValidityDays}) must not exceed caValidityDays (${opts.caValidityDays}) for secret ${opts.namespace}/${opts.secretName}`,
      );
    }
    this.metrics = certMetrics(opts.registry);
    this.dnsNames = serviceDnsNames(opts.serviceName, opts.namespace, opts.extraDnsNames);
    this.ips = opts.extraIps.map((ip) => {
      const c = canonicalIp(ip.trim());
      if (!c)
        throw new Error(
          `extra IP SAN ${JSON.stringify(ip)} for secret ${opts.namespace}/${opts.secretName} is not an IP address`,
        );
      return c;
    });
    this.resyncMs = opts.resyncMs ?? 10_000;
    this.loadedPromise = new Promise<TlsMaterial>((resolve, reject) => {
      this.loadedResolve = resolve;
      this.loadedReject = reject;
    });
    this.loadedPromise.catch(() => undefined); // stop() before load must not be an unhandled rejection
  }

  start(): void {
    this.schedule(0);
  }

  current(): TlsMaterial | undefined {
    return this.material;
  }

  ready(): boolean {
    const m = this.material;
    return (
      m !== undefined &&
      this.now() < m.notAfter &&
      this.injected.validating &&
      this.injected.mutating &&
      this.servingReady
    );
  }

  onChange(listener: (m: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  whenLoaded(): Promise<TlsMaterial> {
    return this.loadedPromise;
  }

  status(): SelfManagedStatus {
    const plan = this.lastPlan;
    return {
      loaded: this.material !== undefined,
      servingFingerprint: this.material ? fingerprintOf(this.material.cert) : undefined,
      injected: { ...this.injected },
      lastPlan: plan?.action,
      waitingFor: plan?.action === 'none' ? plan.waitingFor : undefined,
      serving: this.lastChoice?.serve,
      lastError: this.lastError,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.loadedReject(
      new Error(`TLS source for secret ${this.opts.namespace}/${this.opts.secretName} stopped before loading`),
    );
    await this.chain.catch(() => undefined);
  }

  sync(): Promise<void> {
    const run = this.chain.then(() => this.syncOnce());
    this.chain = run.catch(() => undefined);
    return run.then(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sync().then(
        () => {
          this.consecutiveErrors = 0;
          this.schedule(this.nextDelay());
        },
        (err: unknown) => {
          this.consecutiveErrors++;
          this.lastError = err instanceof Error ? err.message : String(err);
          const delay = Math.min(this.resyncMs, 1000 * 2 ** Math.min(this.consecutiveErrors - 1, 6));
          this.log.error({ err, retryInMs: delay }, 'certificate sync failed');
          this.schedule(delay);
        },
      );
    }, delayMs);
    this.timer.unref?.();
  }

  private nextDelay(): number {
    if (this.retrySoon) {
      this.retrySoon = false;
      return Math.min(this.resyncMs, 200);
    }
    const plan = this.lastPlan;
    if (plan?.action === 'none' && plan.nextCheck) {
      const until = plan.nextCheck.getTime() - this.now().getTime();
      return Math.max(50, Math.min(this.resyncMs, until + 10));
    }
    return this.resyncMs;
  }

  private ctx() {
    return {
      now: this.now(),
      policy: this.policy,
      keyType: this.opts.keyType,
      dnsNames: this.dnsNames,
      ips: this.ips,
      caCommonName: this.opts.caCommonName ?? 'spiderpool-guard-ca',
    };
  }

  private async syncOnce(): Promise<void> {
    if (this.stopped) return;
    const { namespace, secretName } = this.opts;
    for (let step = 1; step <= MAX_STEPS; step++) {
      const secret = await this.client.readSecret(namespace, secretName);
      const bundle = secret ? decodeSecretData(secret.data, secret.metadata?.annotations) : undefined;
      const facts = bundle ? secretFacts(bundle) : undefined;
      const configs = await this.readConfigs();
      const secretCas = parseCas(bundle ? splitPemCerts(bundle.caCrt) : []);
      if (secretCas.length > 0) this.lastKnownCas = secretCas;
      const newestPem = bundle ? splitPemCerts(bundle.caCrt)[0] : undefined;
      const issuer = secretCas.find((c) => c.facts.fingerprint === facts?.servingIssuer);
      const servingCaInjected = issuer !== undefined && trustedEverywhere(issuer.pem, configs);
      const now = this.now();
      const served = this.material && this.servedFingerprint && this.servedIssuer ? this.servedIssuer : undefined;
      const choice = chooseServing({
        secret: facts,
        servingCaInjected,
        now,
        current: served && {
          fingerprint: this.servedFingerprint ?? '',
          notAfter: this.material?.notAfter ?? now,
          trusted: trustedEverywhere(served.pem, configs),
        },
        expiryMarginMs: this.resyncMs,
      });
      // what a recreated bundle carries: the CA of what this replica serves, the last bundle read, the caBundles
      const known = [...(served ? [served] : []), ...this.lastKnownCas, ...parseCas(injectedCaPems(configs))];
      const plan = planSecret({
        secret: facts,
        desired: { dnsNames: this.dnsNames, ips: this.ips, keyType: this.opts.keyType },
        now,
        policy: this.policy,
        newestCaInjected: newestPem !== undefined && trustedEverywhere(newestPem, configs),
        servingCaInjected,
        carryCas: known.map((c) => c.facts),
        keptIssuer: choice.serve === 'current' ? served?.facts : undefined,
      });
      this.lastPlan = plan;
      if (plan.action === 'none') {
        if (!bundle || !facts) throw new Error('unreachable: plan none without a Secret');
        if (plan.waitingFor)
          this.log.debug(
            { waitingFor: plan.waitingFor, nextCheck: plan.nextCheck },
            'certificate rotation in progress',
          );
        if (choice.serve !== this.lastChoice?.serve)
          this.log.info({ serving: choice.serve, ready: choice.ready }, 'serving choice');
        this.lastChoice = choice;
        if (choice.serve === 'secret' && issuer) this.load(bundle, facts, issuer);
        this.servingReady = choice.ready;
        const patched = await this.inject(bundle.caCrt, configs);
        if (patched) continue; // a step may be due now (pending cert scheduled, replica ready again): re-read
        this.lastError = undefined;
        return;
      }
      const t0 = performance.now();
      const next = await applyPlan(plan, bundle, {
        ...this.ctx(),
        knownCas: new Map([...known, ...secretCas].map((c) => [c.facts.fingerprint, c.pem])),
      });
      const genMs = Math.round(performance.now() - t0);
      const written = secret
        ? await this.client.replaceSecret(this.secretBody(next, secret))
        : await this.client.createSecret(this.secretBody(next, undefined));
      const logFields = {
        action: plan.action,
        reason: 'reason' in plan ? plan.reason : undefined,
        step,
        generationMs: genMs,
      };
      if (!written) {
        this.log.info(
          logFields,
          secret
            ? 'certificate Secret changed meanwhile (409); re-reading'
            : 'certificate Secret created by another replica (409); using theirs',
        );
        continue;
      }
      this.metrics.rotated(
        plan.action === 'create' || plan.action === 'regenerate'
          ? 'all'
          : plan.action.endsWith('serving')
            ? 'serving'
            : 'ca',
      );
      this.log.info(
        {
          ...logFields,
          ...('carry' in plan ? { carriedCas: plan.carry.length } : {}),
          ...(plan.action === 'schedule-serving' ? { serveAfter: plan.serveAfter.toISOString() } : {}),
        },
        'certificate Secret written',
      );
      // loop: re-read what we wrote (or what won) and continue with the next step / load it
    }
    throw new Error(
      `certificate secret ${namespace}/${secretName}: no stable state after ${MAX_STEPS} reads (conflicting writes)`,
    );
  }

  private secretBody(next: CertBundle, existing: V1Secret | undefined): V1Secret {
    const { data, annotations } = encodeSecretData(next);
    const { namespace, secretName } = this.opts;
    if (existing) {
      // our annotations are replaced as a set: one absent from `next` (serve-after of a pending cert) is removed
      const others = Object.fromEntries(
        Object.entries(existing.metadata?.annotations ?? {}).filter(([k]) => !OWN_ANNOTATIONS.includes(k)),
      );
      return {
        ...existing,
        metadata: { ...existing.metadata, annotations: { ...others, ...annotations } },
        data: { ...existing.data, ...data },
      };
    }
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: secretName,
        namespace,
        labels: { 'app.kubernetes.io/name': 'spiderpool-guard', 'app.kubernetes.io/component': 'webhook-certs' },
        annotations,
      },
      data,
    };
  }

  private async readConfigs(): Promise<ConfigRead[]> {
    const pairs: Array<[ConfigKind, string]> = [
      ['validating', this.opts.validatingWebhookName],
      ['mutating', this.opts.mutatingWebhookName],
    ];
    // A failed read (403: RBAC resourceNames not matching, API hiccup) must not block loading the serving cert:
    // that configuration just counts as not injected (not ready) until a later cycle reads it.
    return Promise.all(
      pairs.map(async ([kind, name]) => {
        try {
          return { kind, name, view: await this.client.readWebhookConfig(kind, name) };
        } catch (err) {
          this.log.error(
            { err, kind, configuration: name },
            'cannot read webhook configuration; not ready, will retry',
          );
          this.retrySoon = true;
          return { kind, name, view: undefined, failed: true };
        }
      }),
    );
  }

  private load(bundle: CertBundle, facts: SecretFacts, issuer: KnownCa): void {
    const serving = facts.serving;
    if (!serving) return;
    const m: TlsMaterial = { key: bundle.tlsKey, cert: bundle.tlsCrt, ca: bundle.caCrt, notAfter: serving.notAfter };
    this.servedFingerprint = serving.fingerprint;
    this.servedIssuer = issuer;
    const caExpiry = facts.cas.reduce<Date | undefined>(
      (min, c) => (!min || c.notAfter < min ? c.notAfter : min),
      undefined,
    );
    this.metrics.setExpiry('serving', serving.notAfter);
    if (caExpiry) this.metrics.setExpiry('ca', caExpiry);
    const prev = this.material;
    if (prev && prev.cert === m.cert && prev.key === m.key && prev.ca === m.ca) return;
    this.material = m;
    this.log.info(
      {
        servingFingerprint: serving.fingerprint,
        issuer: issuer.facts.subject,
        notAfter: serving.notAfter.toISOString(),
        cas: facts.cas.length,
        reloaded: prev !== undefined,
      },
      'TLS material loaded',
    );
    this.loadedResolve(m);
    for (const l of this.listeners) {
      try {
        l(m);
      } catch (err) {
        this.log.error({ err }, 'TLS onChange listener failed');
      }
    }
  }

  /** Writes the Secret's bundle into every caBundle that differs; true when a patch went through. */
  private async inject(bundlePem: string, configs: readonly ConfigRead[]): Promise<boolean> {
    let patched = false;
    for (const { kind, name, view, failed } of configs) {
      if (!view) {
        if (!failed && (this.injected[kind] || this.lastError === undefined)) {
          this.log.warn({ kind, configuration: name }, 'webhook configuration not found; not ready, will retry');
        }
        this.injected[kind] = false;
        continue;
      }
      const indices = webhooksNeedingInjection(view.webhooks, bundlePem);
      let ok = true;
      if (indices.length > 0) {
        ok = await this.client.patchWebhookConfig(
          kind,
          name,
          caBundlePatch(view.resourceVersion, view.webhooks, indices, bundlePem),
        );
        if (ok) {
          patched = true;
          this.metrics.injected(kind);
          this.log.info(
            { kind, configuration: name, webhooks: indices.map((i) => view.webhooks[i]?.name) },
            'caBundle injected',
          );
        } else {
          this.log.info(
            { kind, configuration: name },
            'webhook configuration changed meanwhile; re-injecting next cycle',
          );
        }
      }
      // the served certificate's CA is trusted by this configuration (after the patch: the bundle holds it)
      const issuer = this.servedIssuer?.pem;
      const bundleHoldsIssuer = issuer !== undefined && bundleBodies(bundlePem).includes(bundleBodies(issuer)[0] ?? '');
      this.injected[kind] =
        ok && indices.length > 0
          ? bundleHoldsIssuer
          : issuer !== undefined && view.webhooks.every((w) => caBundleContains(w, issuer));
      if (!ok) this.retrySoon = true;
    }
    return patched;
  }
}

function fingerprintOf(certPem: string): string | undefined {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch {
    return undefined;
  }
}
