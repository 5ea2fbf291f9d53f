/**
 * The Secret state machine end to end, without Kubernetes: real (EC, fast) certificates, an injected clock and
 * a simulated "injected into the webhook configurations" flag.
 */
import { X509Certificate } from 'node:crypto';
import { certFacts, isSignedBy, splitPemCerts } from '../../certs/pki';
import { DAY_MS, DEFAULT_POLICY, planSecret, serviceDnsNames } from '../../certs/plan';
import type { SecretPlan } from '../../certs/plan';
import { applyPlan, decodeSecretData, encodeSecretData, secretFacts } from '../../certs/secret-codec';
import type { CertBundle } from '../../certs/secret-codec';

const dnsNames = serviceDnsNames('guard', 'ns', ['guard.example']);
const ips = ['127.0.0.1'];
const policy = { ...DEFAULT_POLICY, caValidityMs: 30 * DAY_MS, servingValidityMs: 9 * DAY_MS };

describe('secret codec + plan, simulated over a CA lifetime', () => {
  it('creates, renews, rotates the CA with overlap, and never serves a cert the bundle does not trust', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const ctx = () => ({ now, policy, keyType: 'ec' as const, dnsNames, ips, caCommonName: 'test-ca' });
    let bundle: CertBundle | undefined;
    let injectedBundle = ''; // what the webhook configurations trust
    const actions: string[] = [];

    const step = async (): Promise<SecretPlan> => {
      const facts = bundle ? secretFacts(bundle) : undefined;
      const newest = bundle ? splitPemCerts(bundle.caCrt)[0] : undefined;
      const plan = planSecret({
        secret: facts,
        desired: { dnsNames, ips, keyType: 'ec' },
        now,
        policy,
        newestCaInjected: newest !== undefined && splitPemCerts(injectedBundle).includes(newest),
      });
      if (plan.action !== 'none') {
        bundle = await applyPlan(plan, bundle, ctx());
        // round-trip through the Secret encoding like the real store does
        const enc = encodeSecretData(bundle);
        bundle = decodeSecretData(enc.data, enc.annotations);
        actions.push(plan.action);
      }
      return plan;
    };
    const assertTrusted = () => {
      const serving = bundle!.tlsCrt;
      const trusted = splitPemCerts(injectedBundle).some((ca) => isSignedBy(serving, ca));
      expect(trusted).toBe(true);
    };

    expect((await step()).action).toBe('create');
    expect((await step()).action).toBe('none');
    injectedBundle = bundle!.caCrt;
    assertTrusted();
    const leaf = new X509Certificate(bundle!.tlsCrt);
    expect(leaf.subjectAltName).toContain('DNS:guard.ns.svc.cluster.local');
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.ca).toBe(false);

    // walk 3 hours at a time over 25 days; inject the bundle "a bit later" (the next step) like a replica would
    for (let h = 3; h <= 25 * 24; h += 3) {
      now = new Date(now.getTime() + 3 * 60 * 60 * 1000);
      const before = bundle!.tlsCrt;
      const plan = await step();
      if (plan.action !== 'none') await step(); // converge like the loop does
      // serving material changes only to something the CURRENTLY injected bundle trusts (no failed handshake)
      if (bundle!.tlsCrt !== before) assertTrusted();
      injectedBundle = bundle!.caCrt;
      assertTrusted();
      const f = secretFacts(bundle!);
      expect(f.serving!.notAfter.getTime()).toBeGreaterThan(now.getTime());
      expect(f.cas[0]!.notAfter.getTime()).toBeGreaterThan(now.getTime());
    }
    // 9-day serving cert renewed at 6 days; CA (30 days) rotated at day 20: publish, switch after lead, drop after overlap
    expect(actions.filter((a) => a === 'renew-serving').length).toBe(3);
    expect(actions.filter((a) => a !== 'renew-serving')).toEqual(['create', 'publish-ca', 'switch-serving', 'drop-old-ca']);
    expect(splitPemCerts(bundle!.caCrt)).toHaveLength(1);
    expect(certFacts(splitPemCerts(bundle!.caCrt)[0]!).subject).toMatch(/^CN=test-ca@\d+$/);
  }, 30_000);

  it('signs with SHA-256 and the configured key type', async () => {
    const now = new Date();
    for (const keyType of ['ec', 'rsa'] as const) {
      const b = await applyPlan({ action: 'create' }, undefined, { now, policy, keyType, dnsNames, ips, caCommonName: 'x' });
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
    expect(planSecret({ secret: f, desired: { dnsNames, ips, keyType: 'ec' }, now: new Date(), policy, newestCaInjected: false }).action).toBe('regenerate');
  });
});
