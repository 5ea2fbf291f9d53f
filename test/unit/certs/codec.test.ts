/**
 * The Secret state machine end to end, without Kubernetes: real (EC, fast) certificates, an injected clock, a
 * simulated caBundle and one replica's serving choice.
 */
import { X509Certificate } from 'node:crypto';
import { certFacts, isSignedBy, splitPemCerts } from '../../../certs/pki';
import { DAY_MS, DEFAULT_POLICY, chooseServing, planSecret, serviceDnsNames } from '../../../certs/plan';
import type { SecretPlan } from '../../../certs/plan';
import { applyPlan, decodeSecretData, encodeSecretData, secretFacts } from '../../../certs/secret-codec';
import type { CertBundle } from '../../../certs/secret-codec';

const dnsNames = serviceDnsNames('guard', 'ns', ['guard.example']);
const ips = ['127.0.0.1'];
const policy = { ...DEFAULT_POLICY, caValidityMs: 30 * DAY_MS, servingValidityMs: 9 * DAY_MS };

describe('secret codec + plan, simulated over a CA lifetime', () => {
  it('creates, renews, rotates the CA with overlap, and a replica never serves a cert the injected bundle does not trust', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const ctx = () => ({ now, policy, keyType: 'ec' as const, dnsNames, ips, caCommonName: 'test-ca' });
    let bundle: CertBundle | undefined;
    let injectedBundle = ''; // what the webhook configurations trust
    let served: { cert: string; issuer: string } | undefined; // what the replica serves
    const actions: string[] = [];
    const trusts = (caPem: string | undefined) => caPem !== undefined && splitPemCerts(injectedBundle).includes(caPem);

    /** One replica cycle: choose what to serve, plan, write (round-tripped like the real store), or load. */
    const step = async (): Promise<SecretPlan> => {
      const facts = bundle ? secretFacts(bundle) : undefined;
      const cas = bundle ? splitPemCerts(bundle.caCrt) : [];
      const issuer = cas.find((ca) => bundle !== undefined && isSignedBy(bundle.tlsCrt, ca));
      const servingCaInjected = trusts(issuer);
      const choice = chooseServing({
        secret: facts,
        servingCaInjected,
        now,
        current: served && {
          fingerprint: certFacts(served.cert).fingerprint,
          notAfter: certFacts(served.cert).notAfter,
          trusted: trusts(served.issuer),
        },
      });
      const plan = planSecret({
        secret: facts,
        desired: { dnsNames, ips, keyType: 'ec' },
        now,
        policy,
        newestCaInjected: trusts(cas[0]),
        servingCaInjected,
      });
      if (plan.action !== 'none') {
        bundle = await applyPlan(plan, bundle, ctx());
        const enc = encodeSecretData(bundle);
        bundle = decodeSecretData(enc.data, enc.annotations);
        actions.push(plan.action);
      } else if (choice.serve === 'secret' && bundle && issuer) {
        served = { cert: bundle.tlsCrt, issuer };
      }
      return plan;
    };
    /** Steps until nothing is written, then injects the Secret's bundle (as the replica does after planning). */
    const cycle = async () => {
      for (let i = 0; i < 6 && (await step()).action !== 'none'; i++);
      const before = served?.cert;
      injectedBundle = bundle!.caCrt;
      await step(); // the step that may follow the injection (schedule-serving), then load
      await step();
      if (served && served.cert !== before) expect(trusts(served.issuer)).toBe(true);
    };
    const assertTrusted = () =>
      expect(served !== undefined && trusts(served.issuer) && isSignedBy(served.cert, served.issuer)).toBe(true);

    await cycle();
    assertTrusted();
    const leaf = new X509Certificate(served!.cert);
    expect(leaf.subjectAltName).toContain('DNS:guard.ns.svc.cluster.local');
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.ca).toBe(false);

    // walk 3 hours at a time over 25 days; every cycle the served cert must be trusted by what is injected
    for (let h = 3; h <= 25 * 24; h += 3) {
      now = new Date(now.getTime() + 3 * 60 * 60 * 1000);
      const before = served!.cert;
      await step();
      if (served!.cert !== before) assertTrusted(); // switched only to something the CURRENT bundle trusts
      await cycle();
      assertTrusted();
      expect(certFacts(served!.cert).notAfter.getTime()).toBeGreaterThan(now.getTime());
      const f = secretFacts(bundle!);
      expect(f.cas[0]!.notAfter.getTime()).toBeGreaterThan(now.getTime());
    }
    // 9-day serving cert renewed at 6 days; CA (30 days) rotated at day 20: publish, switch once injected, schedule
    // (serve-after = lead), drop after the overlap. Every new tls.crt is scheduled before it is served.
    expect(actions.filter((a) => a === 'renew-serving').length).toBe(3);
    expect(actions.filter((a) => a !== 'renew-serving' && a !== 'schedule-serving')).toEqual([
      'create',
      'publish-ca',
      'switch-serving',
      'drop-old-ca',
    ]);
    expect(actions.filter((a) => a === 'schedule-serving').length).toBe(5);
    expect(splitPemCerts(bundle!.caCrt)).toHaveLength(1);
    expect(certFacts(splitPemCerts(bundle!.caCrt)[0]!).subject).toMatch(/^CN=test-ca@\d+$/);
  }, 30_000);

  it('a recreated Secret carries the given CAs after the new one; keep-served-ca appends one', async () => {
    const now = new Date();
    const c = { now, policy, keyType: 'ec' as const, dnsNames, ips, caCommonName: 'x' };
    const old = await applyPlan({ action: 'create', carry: [] }, undefined, c);
    const oldCa = splitPemCerts(old.caCrt)[0]!;
    const knownCas = new Map([[certFacts(oldCa).fingerprint, oldCa]]);
    const fresh = await applyPlan({ action: 'create', carry: [certFacts(oldCa).fingerprint] }, undefined, {
      ...c,
      knownCas,
    });
    const cas = splitPemCerts(fresh.caCrt);
    expect(cas).toHaveLength(2);
    expect(cas[1]).toBe(oldCa);
    expect(isSignedBy(fresh.tlsCrt, cas[0]!)).toBe(true);
    expect(fresh.serveAfter).toBeUndefined(); // pending
    const single = { ...fresh, caCrt: cas[0]!, serveAfter: now.toISOString() };
    const back = await applyPlan(
      { action: 'keep-served-ca', fingerprint: certFacts(oldCa).fingerprint, reason: 'r' },
      single,
      { ...c, knownCas },
    );
    expect(splitPemCerts(back.caCrt)).toEqual([cas[0], oldCa]);
    expect(back.serveAfter).toBe(single.serveAfter);
    // serve-after round-trips through the annotations and is removed by a new tls.crt
    const enc = encodeSecretData(back);
    expect(decodeSecretData(enc.data, enc.annotations).serveAfter).toBe(single.serveAfter);
    const renewed = await applyPlan({ action: 'renew-serving', reason: 'r', dnsNames, ips }, back, c);
    expect(Object.keys(encodeSecretData(renewed).annotations)).not.toContain(
      'spiderpool-guard.spidernet.io/serve-after',
    );
  });

  it('signs with SHA-256 and the configured key type', async () => {
    const now = new Date();
    for (const keyType of ['ec', 'rsa'] as const) {
      const b = await applyPlan({ action: 'create', carry: [] }, undefined, {
        now,
        policy,
        keyType,
        dnsNames,
        ips,
        caCommonName: 'x',
      });
      const leaf = certFacts(b.tlsCrt);
      expect(leaf.keyType).toBe(keyType);
      // signature algorithm OID: ecdsa-with-SHA256 1.2.840.10045.4.3.2 / sha256WithRSAEncryption 1.2.840.113549.1.1.11
      const der = new X509Certificate(b.tlsCrt).raw.toString('hex');
      expect(der).toContain(keyType === 'ec' ? '06082a8648ce3d040302' : '06092a864886f70d01010b');
      expect(isSignedBy(b.tlsCrt, b.caCrt)).toBe(true);
    }
  });

  it('reports problems for a garbage Secret instead of throwing', () => {
    const f = secretFacts(decodeSecretData({ 'ca.crt': Buffer.from('nope').toString('base64') }, undefined));
    expect(f.problems).toEqual(['ca.crt missing or holds no certificate', 'ca.key missing']);
    expect(
      planSecret({
        secret: f,
        desired: { dnsNames, ips, keyType: 'ec' },
        now: new Date(),
        policy,
        newestCaInjected: false,
        servingCaInjected: false,
      }).action,
    ).toBe('regenerate');
  });
});
