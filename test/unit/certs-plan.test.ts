import type { CertFacts } from '../../certs/pki';
import {
  DAY_MS,
  DEFAULT_POLICY,
  bundleBodies,
  caBundleContains,
  caBundleMatches,
  caBundlePatch,
  missingNames,
  planSecret,
  renewAt,
  serviceDnsNames,
  webhooksNeedingInjection,
} from '../../certs/plan';
import type { PlanInput, SecretFacts } from '../../certs/plan';

const T0 = new Date('2030-01-01T00:00:00Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const DNS = serviceDnsNames('guard', 'ns', []);

function cert(p: Partial<CertFacts> & { fingerprint: string }): CertFacts {
  return {
    subject: `CN=${p.fingerprint}`,
    notBefore: T0,
    notAfter: at(90 * DAY_MS),
    dnsNames: DNS,
    ips: [],
    keyType: 'ec',
    isCa: false,
    ...p,
  };
}
const CA1 = cert({ fingerprint: 'ca1', isCa: true, dnsNames: [], notAfter: at(1800 * DAY_MS) });
const CA2 = cert({ fingerprint: 'ca2', isCa: true, dnsNames: [], notBefore: at(1200 * DAY_MS), notAfter: at(3000 * DAY_MS) });

function healthy(p: Partial<SecretFacts> = {}): SecretFacts {
  return {
    problems: [],
    cas: [CA1],
    caKeyMatches: true,
    serving: cert({ fingerprint: 's1' }),
    servingKeyMatches: true,
    servingIssuer: 'ca1',
    caPublishedAt: T0,
    servingIssuedAt: T0,
    ...p,
  };
}
function input(secret: SecretFacts | undefined, now: Date, p: Partial<PlanInput> = {}): PlanInput {
  return { secret, now, desired: { dnsNames: DNS, ips: [], keyType: 'ec' }, policy: DEFAULT_POLICY, newestCaInjected: true, ...p };
}

describe('planSecret: what does the Secret need?', () => {
  it('creates when absent', () => {
    expect(planSecret(input(undefined, T0))).toEqual({ action: 'create' });
  });

  it('does nothing for a healthy Secret and says when to look again (serving renewal at 2/3 of its lifetime)', () => {
    const plan = planSecret(input(healthy(), at(DAY_MS)));
    expect(plan).toEqual({ action: 'none', nextCheck: at(60 * DAY_MS) });
  });

  it.each([
    ['garbage ca.crt', { problems: ['ca.crt[0] unparsable'] }, 'ca.crt[0] unparsable'],
    ['no CA', { cas: [] }, 'ca.crt holds no certificate'],
    ['ca.key mismatch', { caKeyMatches: false }, 'ca.key does not match ca.crt[0]'],
    ['leaf in ca.crt', { cas: [{ ...CA1, isCa: false }] }, 'ca.crt[0] is not a CA certificate'],
  ])('regenerates everything on %s', (_name, patch, reason) => {
    expect(planSecret(input(healthy(patch), at(DAY_MS)))).toEqual({ action: 'regenerate', reason });
  });

  it('regenerates when the CA expired', () => {
    expect(planSecret(input(healthy(), at(1800 * DAY_MS)))).toMatchObject({ action: 'regenerate', reason: 'CA expired' });
  });

  it.each([
    ['missing tls.crt', { serving: undefined, servingIssuer: undefined }, 'tls.crt missing or unparsable'],
    ['key mismatch', { servingKeyMatches: false }, 'tls.key does not match tls.crt'],
    ['foreign issuer', { servingIssuer: undefined }, 'tls.crt not signed by a CA of the bundle'],
  ])('renews the serving cert at once on %s', (_name, patch, reason) => {
    expect(planSecret(input(healthy(patch), at(DAY_MS)))).toEqual({ action: 'renew-serving', reason, dnsNames: DNS, ips: [] });
  });

  it('renews an expired serving cert even mid-rotation without waiting for injection', () => {
    const s = healthy({ cas: [CA2, CA1] });
    expect(planSecret(input(s, at(91 * DAY_MS), { newestCaInjected: false }))).toMatchObject({
      action: 'renew-serving',
      reason: 'serving certificate expired',
    });
  });

  it('renews at 2/3 of the serving lifetime, not before', () => {
    expect(planSecret(input(healthy(), at(60 * DAY_MS - 1))).action).toBe('none');
    expect(planSecret(input(healthy(), at(60 * DAY_MS)))).toMatchObject({ action: 'renew-serving', dnsNames: DNS });
  });

  it('adds missing SANs as a union with the existing ones so replicas with different extras converge', () => {
    const s = healthy({ serving: cert({ fingerprint: 's1', dnsNames: [...DNS, 'other.example'], ips: ['10.0.0.1'] }) });
    const plan = planSecret({ ...input(s, at(DAY_MS)), desired: { dnsNames: [...DNS, 'mine.example'], ips: ['127.0.0.1'], keyType: 'ec' } });
    expect(plan).toEqual({
      action: 'renew-serving',
      reason: 'serving certificate lacks mine.example,127.0.0.1',
      dnsNames: [...DNS, 'mine.example', 'other.example'],
      ips: ['127.0.0.1', '10.0.0.1'],
    });
    // the other replica, seeing the union, has nothing to do
    const after = healthy({ serving: cert({ fingerprint: 's2', dnsNames: plan.action === 'renew-serving' ? plan.dnsNames : [], ips: ['127.0.0.1', '10.0.0.1'] }) });
    expect(planSecret({ ...input(after, at(DAY_MS)), desired: { dnsNames: [...DNS, 'other.example'], ips: ['10.0.0.1'], keyType: 'ec' } }).action).toBe('none');
  });

  describe('CA rotation with overlap', () => {
    const policy = DEFAULT_POLICY;
    const caDue = renewAt(CA1, policy.caRenewFraction);

    it('publishes a new CA at 2/3 of the CA lifetime', () => {
      const fresh = healthy({ serving: cert({ fingerprint: 's9', notBefore: at(1199 * DAY_MS), notAfter: at(1289 * DAY_MS) }) });
      expect(planSecret(input(fresh, new Date(caDue.getTime() - 1))).action).toBe('none');
      expect(planSecret(input(fresh, caDue))).toMatchObject({ action: 'publish-ca' });
    });

    const published = at(1200 * DAY_MS);
    const phase2 = healthy({
      cas: [CA2, CA1],
      serving: cert({ fingerprint: 's9', notBefore: at(1199 * DAY_MS), notAfter: at(1289 * DAY_MS) }),
      servingIssuer: 'ca1',
      caPublishedAt: published,
    });

    it('waits until every caBundle trusts the new CA before switching the serving cert', () => {
      expect(planSecret(input(phase2, at(1201 * DAY_MS), { newestCaInjected: false }))).toEqual({ action: 'none', waitingFor: 'ca-injection' });
    });

    it('waits for the publish lead even when injected', () => {
      const lead = new Date(published.getTime() + policy.caPublishLeadMs);
      expect(planSecret(input(phase2, new Date(lead.getTime() - 1)))).toEqual({ action: 'none', waitingFor: 'ca-publish-lead', nextCheck: lead });
      expect(planSecret(input(phase2, lead))).toMatchObject({ action: 'switch-serving', dnsNames: DNS });
    });

    it('keeps the old CA for the overlap after the switch, then drops it', () => {
      const switchedAt = at(1200 * DAY_MS + 5 * 60_000);
      const phase4 = { ...phase2, serving: cert({ fingerprint: 's10', notBefore: switchedAt, notAfter: new Date(switchedAt.getTime() + 90 * DAY_MS) }), servingIssuer: 'ca2', servingIssuedAt: switchedAt };
      const over = new Date(switchedAt.getTime() + policy.caOverlapMs);
      expect(planSecret(input(phase4, new Date(over.getTime() - 1)))).toEqual({ action: 'none', waitingFor: 'ca-overlap', nextCheck: over });
      expect(planSecret(input(phase4, over))).toEqual({ action: 'drop-old-ca', keep: ['ca2'], reason: 'CA rotation overlap over' });
    });

    it('drops an expired old CA from the bundle at once', () => {
      const old = { ...CA1, notAfter: at(1210 * DAY_MS) };
      const s = healthy({ cas: [CA2, old], serving: cert({ fingerprint: 's10', notBefore: at(1201 * DAY_MS), notAfter: at(1291 * DAY_MS) }), servingIssuer: 'ca2' });
      expect(planSecret(input(s, at(1210 * DAY_MS)))).toEqual({ action: 'drop-old-ca', keep: ['ca2'], reason: 'expired CA in bundle' });
    });

    it('renews a serving cert whose issuing (old) CA expired', () => {
      const old = { ...CA1, notAfter: at(1210 * DAY_MS) };
      const s = healthy({ cas: [CA2, old], serving: cert({ fingerprint: 's9', notBefore: at(1199 * DAY_MS), notAfter: at(1289 * DAY_MS) }), servingIssuer: 'ca1' });
      expect(planSecret(input(s, at(1210 * DAY_MS)))).toMatchObject({ action: 'renew-serving', reason: 'issuing CA expired' });
    });
  });
});

describe('renewAt / missingNames / serviceDnsNames', () => {
  it('computes the fraction of the lifetime', () => {
    expect(renewAt({ notBefore: T0, notAfter: at(90 * DAY_MS) }, 2 / 3)).toEqual(at(60 * DAY_MS));
  });
  it('compares DNS names case-insensitively', () => {
    expect(missingNames({ dnsNames: ['A.example'], ips: ['::1'] }, { dnsNames: ['a.example', 'b'], ips: ['::1', '10.0.0.1'] })).toEqual(['b', '10.0.0.1']);
  });
  it('lists the four service names first, then extras, deduplicated', () => {
    expect(serviceDnsNames('svc', 'ns', ['x', ' svc ', ''])).toEqual(['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local', 'x']);
  });
});

describe('caBundle injection (pure)', () => {
  const pemA = '-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n';
  const pemB = '-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n';
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('normalizes PEM whitespace', () => {
    expect(bundleBodies(`junk\r\n${pemA.replace(/\n/g, '\r\n')}${pemB}`)).toEqual(['AAAABBBB', 'CCCC']);
  });
  it('matches exact bundles regardless of line breaks, in order', () => {
    expect(caBundleMatches({ name: 'w', caBundle: b64(pemA.replace('AAAA\n', 'AAAA')) }, pemA)).toBe(true);
    expect(caBundleMatches({ name: 'w', caBundle: b64(pemB + pemA) }, pemA + pemB)).toBe(false);
    expect(caBundleMatches({ name: 'w' }, pemA)).toBe(false);
  });
  it('finds which webhooks need the bundle', () => {
    const hooks = [
      { name: 'ok', caBundle: b64(pemA + pemB) },
      { name: 'wiped', caBundle: undefined },
      { name: 'old', caBundle: b64(pemB) },
    ];
    expect(webhooksNeedingInjection(hooks, pemA + pemB)).toEqual([1, 2]);
    expect(caBundleContains(hooks[2]!, pemB)).toBe(true);
    expect(caBundleContains(hooks[2]!, pemA)).toBe(false);
  });
  it('builds a JSON Patch guarded by resourceVersion and webhook names', () => {
    const hooks = [{ name: 'a' }, { name: 'b' }];
    expect(caBundlePatch('42', hooks, [1], pemA)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'test', path: '/webhooks/1/name', value: 'b' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64(pemA) },
    ]);
  });
});
