import type { CertFacts } from '../../../certs/pki';
import {
  DAY_MS,
  DEFAULT_POLICY,
  MAX_CARRIED_CAS,
  bundleBodies,
  caBundleContains,
  caBundleMatches,
  caBundlePatch,
  chooseServing,
  missingNames,
  planSecret,
  renewAt,
  serviceDnsNames,
  webhooksNeedingInjection,
} from '../../../certs/plan';
import type { PlanInput, SecretFacts, ServedCert } from '../../../certs/plan';

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
const CA2 = cert({
  fingerprint: 'ca2',
  isCa: true,
  dnsNames: [],
  notBefore: at(1200 * DAY_MS),
  notAfter: at(3000 * DAY_MS),
});

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
    serveAfter: T0,
    ...p,
  };
}
function input(secret: SecretFacts | undefined, now: Date, p: Partial<PlanInput> = {}): PlanInput {
  return {
    secret,
    now,
    desired: { dnsNames: DNS, ips: [], keyType: 'ec' },
    policy: DEFAULT_POLICY,
    newestCaInjected: true,
    servingCaInjected: true,
    ...p,
  };
}

describe('planSecret: what does the Secret need?', () => {
  it('creates when absent', () => {
    expect(planSecret(input(undefined, T0))).toEqual({ action: 'create', carry: [] });
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
    expect(planSecret(input(healthy(patch), at(DAY_MS)))).toMatchObject({ action: 'regenerate', reason });
  });

  it('regenerates when the CA expired', () => {
    expect(planSecret(input(healthy(), at(1800 * DAY_MS)))).toMatchObject({
      action: 'regenerate',
      reason: 'CA expired',
    });
  });

  it.each([
    ['missing tls.crt', { serving: undefined, servingIssuer: undefined }, 'tls.crt missing or unparsable'],
    ['key mismatch', { servingKeyMatches: false }, 'tls.key does not match tls.crt'],
    ['foreign issuer', { servingIssuer: undefined }, 'tls.crt not signed by a CA of the bundle'],
  ])('renews the serving cert at once on %s', (_name, patch, reason) => {
    expect(planSecret(input(healthy(patch), at(DAY_MS)))).toEqual({
      action: 'renew-serving',
      reason,
      dnsNames: DNS,
      ips: [],
    });
  });

  it('renews an expired serving cert even mid-rotation without waiting for injection (the new cert is pending)', () => {
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
    const plan = planSecret({
      ...input(s, at(DAY_MS)),
      desired: { dnsNames: [...DNS, 'mine.example'], ips: ['127.0.0.1'], keyType: 'ec' },
    });
    expect(plan).toEqual({
      action: 'renew-serving',
      reason: 'serving certificate lacks mine.example,127.0.0.1',
      dnsNames: [...DNS, 'mine.example', 'other.example'],
      ips: ['127.0.0.1', '10.0.0.1'],
    });
    // the other replica, seeing the union, has nothing to do
    const after = healthy({
      serving: cert({
        fingerprint: 's2',
        dnsNames: plan.action === 'renew-serving' ? plan.dnsNames : [],
        ips: ['127.0.0.1', '10.0.0.1'],
      }),
    });
    expect(
      planSecret({
        ...input(after, at(DAY_MS)),
        desired: { dnsNames: [...DNS, 'other.example'], ips: ['10.0.0.1'], keyType: 'ec' },
      }).action,
    ).toBe('none');
  });

  describe('CA rotation with overlap', () => {
    const policy = DEFAULT_POLICY;
    const caDue = renewAt(CA1, policy.caRenewFraction);

    it('publishes a new CA at 2/3 of the CA lifetime', () => {
      const fresh = healthy({
        serving: cert({ fingerprint: 's9', notBefore: at(1199 * DAY_MS), notAfter: at(1289 * DAY_MS) }),
      });
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
      expect(planSecret(input(phase2, at(1201 * DAY_MS), { newestCaInjected: false }))).toEqual({
        action: 'none',
        waitingFor: 'ca-injection',
      });
    });

    it('switches the serving cert as soon as the new CA is in every caBundle; the new cert is pending', () => {
      expect(planSecret(input(phase2, at(1201 * DAY_MS)))).toMatchObject({ action: 'switch-serving', dnsNames: DNS });
    });

    const switchedAt = at(1200 * DAY_MS + 5 * 60_000);
    const pending = {
      ...phase2,
      serving: cert({
        fingerprint: 's10',
        notBefore: switchedAt,
        notAfter: new Date(switchedAt.getTime() + 90 * DAY_MS),
      }),
      servingIssuer: 'ca2',
      servingIssuedAt: switchedAt,
      serveAfter: undefined,
    };

    it('schedules the pending cert a lead after its CA is seen in every caBundle (2 CAs in the bundle)', () => {
      expect(planSecret(input(pending, switchedAt, { servingCaInjected: false }))).toEqual({
        action: 'none',
        waitingFor: 'ca-injection',
      });
      expect(planSecret(input(pending, switchedAt))).toEqual({
        action: 'schedule-serving',
        serveAfter: new Date(switchedAt.getTime() + policy.caPublishLeadMs),
      });
    });

    it('waits for serve-after, keeps the old CA for the overlap after it, then drops it', () => {
      const serveAfter = new Date(switchedAt.getTime() + policy.caPublishLeadMs);
      const scheduled = { ...pending, serveAfter };
      expect(planSecret(input(scheduled, switchedAt))).toEqual({
        action: 'none',
        waitingFor: 'serve-after',
        nextCheck: serveAfter,
      });
      const over = new Date(serveAfter.getTime() + policy.caOverlapMs);
      expect(planSecret(input(scheduled, new Date(over.getTime() - 1)))).toEqual({
        action: 'none',
        waitingFor: 'ca-overlap',
        nextCheck: over,
      });
      expect(planSecret(input(scheduled, over))).toEqual({
        action: 'drop-old-ca',
        keep: ['ca2'],
        reason: 'CA rotation overlap over',
      });
    });

    it('drops an expired old CA from the bundle at once', () => {
      const old = { ...CA1, notAfter: at(1210 * DAY_MS) };
      const s = healthy({
        cas: [CA2, old],
        serving: cert({ fingerprint: 's10', notBefore: at(1201 * DAY_MS), notAfter: at(1291 * DAY_MS) }),
        servingIssuer: 'ca2',
      });
      expect(planSecret(input(s, at(1210 * DAY_MS)))).toEqual({
        action: 'drop-old-ca',
        keep: ['ca2'],
        reason: 'expired CA in bundle',
      });
    });

    it('renews a serving cert whose issuing (old) CA expired', () => {
      const old = { ...CA1, notAfter: at(1210 * DAY_MS) };
      const s = healthy({
        cas: [CA2, old],
        serving: cert({ fingerprint: 's9', notBefore: at(1199 * DAY_MS), notAfter: at(1289 * DAY_MS) }),
        servingIssuer: 'ca1',
      });
      expect(planSecret(input(s, at(1210 * DAY_MS)))).toMatchObject({
        action: 'renew-serving',
        reason: 'issuing CA expired',
      });
    });
  });
});

describe('recovery keeps a CA overlap: a new CA is trusted before any replica serves a cert it signed', () => {
  // Replica state at T1: it serves s1 (from ca1), and every caBundle holds [ca1].
  const T1 = at(10 * DAY_MS);
  const served: ServedCert = { fingerprint: 's1', notAfter: at(90 * DAY_MS), trusted: true };
  const CA3 = cert({ fingerprint: 'ca3', isCa: true, dnsNames: [], notBefore: T1, notAfter: at(1810 * DAY_MS) });
  /** The Secret a create/regenerate writes: new CA ca3 first, the carried CAs after it, tls.crt s3 from ca3, pending. */
  const recreated = (carry: CertFacts[]): SecretFacts =>
    healthy({
      cas: [CA3, ...carry],
      serving: cert({ fingerprint: 's3', notBefore: T1 }),
      servingIssuer: 'ca3',
      caPublishedAt: T1,
      servingIssuedAt: T1,
      serveAfter: undefined,
    });

  it('Secret deleted: recreated with the new CA in front of the CAs the replica knows (served, last read, injected)', () => {
    const expiredCa = cert({ fingerprint: 'old', isCa: true, notAfter: at(DAY_MS) });
    const leaf = cert({ fingerprint: 'leaf' });
    const plan = planSecret(input(undefined, T1, { carryCas: [CA1, CA1, expiredCa, leaf, CA2] }));
    // deduplicated; expired CAs and non-CA certificates are not carried
    expect(plan).toEqual({ action: 'create', carry: ['ca1', 'ca2'] });
  });

  it('carries at most MAX_CARRIED_CAS CAs (a hostile caBundle cannot grow the Secret)', () => {
    const many = Array.from({ length: 20 }, (_, i) => cert({ fingerprint: `x${i}`, isCa: true }));
    const plan = planSecret(input(undefined, T1, { carryCas: many }));
    expect(plan.action === 'create' && plan.carry).toHaveLength(MAX_CARRIED_CAS);
  });

  it.each([
    ['ca.key corrupted', { caKeyMatches: false }, 'ca.key does not match ca.crt[0]', ['ca1']],
    ['ca.key missing', { problems: ['ca.key missing'], caKeyMatches: false }, 'ca.key missing', ['ca1']],
    [
      'ca.crt garbage (only what the replica knows)',
      { problems: ['ca.crt missing or holds no certificate'], cas: [] },
      'ca.crt missing or holds no certificate',
      ['ca1'],
    ],
  ])('%s: regenerated with the old CA carried into the new bundle', (_name, patch, reason, carry) => {
    const plan = planSecret(input(healthy(patch), T1, { carryCas: [CA1] }));
    expect(plan).toEqual({ action: 'regenerate', reason, carry });
  });

  it('after a recreation the new cert is pending: nothing is scheduled until the new CA is in every caBundle', () => {
    const s = recreated([CA1]);
    expect(planSecret(input(s, T1, { servingCaInjected: false, newestCaInjected: false }))).toEqual({
      action: 'none',
      waitingFor: 'ca-injection',
    });
    // and meanwhile the replica keeps serving its ca1 certificate, still trusted
    expect(chooseServing({ secret: s, servingCaInjected: false, now: T1, current: served })).toEqual({
      serve: 'current',
      ready: true,
    });
    // once injected: serve-after = now + lead (two CAs in the bundle: the API server needs time to pick it up)
    const sched = planSecret(input(s, T1));
    expect(sched).toEqual({
      action: 'schedule-serving',
      serveAfter: new Date(T1.getTime() + DEFAULT_POLICY.caPublishLeadMs),
    });
    const serveAfter = sched.action === 'schedule-serving' ? sched.serveAfter : T1;
    const scheduled = { ...s, serveAfter };
    expect(
      chooseServing({
        secret: scheduled,
        servingCaInjected: true,
        now: new Date(serveAfter.getTime() - 1),
        current: served,
      }),
    ).toEqual({ serve: 'current', ready: true });
    expect(chooseServing({ secret: scheduled, servingCaInjected: true, now: serveAfter, current: served })).toEqual({
      serve: 'secret',
      ready: true,
    });
    // if a caBundle lost the new CA meanwhile (wiped), nobody switches: the replica re-injects first
    expect(chooseServing({ secret: scheduled, servingCaInjected: false, now: serveAfter, current: served })).toEqual({
      serve: 'current',
      ready: true,
    });
  });

  it('a first install (nothing to carry) schedules at once: no lead when the bundle holds one CA', () => {
    expect(planSecret(input(recreated([]), T1))).toEqual({ action: 'schedule-serving', serveAfter: T1 });
  });

  it('a replica with nothing loaded serves the pending cert but is not ready', () => {
    expect(chooseServing({ secret: recreated([CA1]), servingCaInjected: false, now: T1 })).toEqual({
      serve: 'secret',
      ready: false,
    });
  });

  it('a replica whose loaded cert is no longer trusted (its CA gone from a caBundle) or expired takes the Secret cert', () => {
    const s = recreated([CA1]);
    expect(
      chooseServing({ secret: s, servingCaInjected: false, now: T1, current: { ...served, trusted: false } }),
    ).toEqual({ serve: 'secret', ready: false });
    expect(
      chooseServing({ secret: s, servingCaInjected: false, now: T1, current: { ...served, notAfter: T1 } }),
    ).toEqual({ serve: 'secret', ready: false });
  });

  it('tls.crt corrupted: a new cert from the (injected) newest CA, pending, so replicas keep theirs for one step', () => {
    const s = healthy({ serving: undefined, servingIssuer: undefined, servingKeyMatches: false });
    expect(planSecret(input(s, T1))).toMatchObject({
      action: 'renew-serving',
      reason: 'tls.crt missing or unparsable',
    });
    expect(chooseServing({ secret: s, servingCaInjected: false, now: T1, current: served })).toEqual({
      serve: 'current',
      ready: true,
    });
    const renewed = healthy({ serving: cert({ fingerprint: 's4', notBefore: T1 }), serveAfter: undefined });
    expect(chooseServing({ secret: renewed, servingCaInjected: true, now: T1, current: served })).toEqual({
      serve: 'current',
      ready: true,
    });
    expect(planSecret(input(renewed, T1))).toEqual({ action: 'schedule-serving', serveAfter: T1 });
    expect(
      chooseServing({ secret: { ...renewed, serveAfter: T1 }, servingCaInjected: true, now: T1, current: served }),
    ).toEqual({ serve: 'secret', ready: true });
  });

  it('a replica keeping a cert whose CA is missing from the bundle puts that CA back before anything else', () => {
    const s = recreated([]); // created by a replica that knew nothing of ca1
    expect(planSecret(input(s, T1, { keptIssuer: CA1 }))).toEqual({
      action: 'keep-served-ca',
      fingerprint: 'ca1',
      reason: 'a served certificate is signed by a CA missing from the bundle',
    });
    expect(planSecret(input(recreated([CA1]), T1, { keptIssuer: CA1 })).action).toBe('schedule-serving');
  });

  it("two replicas racing: both plan the same create; the loser re-plans on the winner's Secret and writes nothing more", () => {
    const a = planSecret(input(undefined, T1, { carryCas: [CA1] }));
    const b = planSecret(input(undefined, T1, { carryCas: [CA1] }));
    expect(a).toEqual(b); // both try create-if-absent; the API server lets one through (409 for the other)
    const winner = recreated([CA1]);
    // the loser (B) re-reads the winner's Secret: nothing to write before injection, and it keeps serving s1
    expect(
      planSecret(input(winner, T1, { servingCaInjected: false, newestCaInjected: false, keptIssuer: CA1 })),
    ).toEqual({ action: 'none', waitingFor: 'ca-injection' });
    // both see the injection and both plan schedule-serving: the second PUT carries a stale resourceVersion (409);
    // re-planned on the first one's Secret, it finds serve-after set and waits for the same instant
    const serveAfter = new Date(T1.getTime() + DEFAULT_POLICY.caPublishLeadMs);
    expect(planSecret(input({ ...winner, serveAfter }, at(10 * DAY_MS + 1000)))).toEqual({
      action: 'none',
      waitingFor: 'serve-after',
      nextCheck: serveAfter,
    });
    // both replicas switch at that instant, whoever scheduled it; the old CA stays for the overlap
    for (const current of [served, { ...served, fingerprint: 's1-b' }]) {
      expect(
        chooseServing({ secret: { ...winner, serveAfter }, servingCaInjected: true, now: serveAfter, current }),
      ).toEqual({ serve: 'secret', ready: true });
    }
    expect(planSecret(input({ ...winner, serveAfter }, serveAfter))).toMatchObject({
      action: 'none',
      waitingFor: 'ca-overlap',
    });
  });

  it('a loaded cert that would expire before serve-after gives way to a Secret cert every caBundle already trusts', () => {
    const serveAfter = new Date(T1.getTime() + 60_000);
    const scheduled = { ...recreated([CA1]), serveAfter };
    const expiring = { ...served, notAfter: new Date(T1.getTime() + 50_000) };
    expect(chooseServing({ secret: scheduled, servingCaInjected: true, now: T1, current: expiring })).toEqual({
      serve: 'secret',
      ready: true,
    });
    // ... with the margin (the next cycle may come that late)
    const later = { ...served, notAfter: new Date(T1.getTime() + 65_000) };
    expect(chooseServing({ secret: scheduled, servingCaInjected: true, now: T1, current: later })).toEqual({
      serve: 'current',
      ready: true,
    });
    expect(
      chooseServing({ secret: scheduled, servingCaInjected: true, now: T1, current: later, expiryMarginMs: 10_000 }),
    ).toEqual({ serve: 'secret', ready: true });
    // but never to a cert whose CA is not in every caBundle yet: the loaded one stays until it expires
    expect(chooseServing({ secret: scheduled, servingCaInjected: false, now: T1, current: expiring })).toEqual({
      serve: 'current',
      ready: true,
    });
  });

  it('no usable tls.crt in the Secret: keep the loaded cert while trusted, else nothing changes and not ready', () => {
    const broken = healthy({ servingKeyMatches: false });
    expect(chooseServing({ secret: broken, servingCaInjected: true, now: T1, current: served })).toEqual({
      serve: 'current',
      ready: true,
    });
    expect(chooseServing({ secret: undefined, servingCaInjected: false, now: T1, current: served })).toEqual({
      serve: 'current',
      ready: true,
    });
    expect(chooseServing({ secret: undefined, servingCaInjected: false, now: T1 })).toEqual({
      serve: 'unchanged',
      ready: false,
    });
  });
});

describe('renewAt / missingNames / serviceDnsNames', () => {
  it('computes the fraction of the lifetime', () => {
    expect(renewAt({ notBefore: T0, notAfter: at(90 * DAY_MS) }, 2 / 3)).toEqual(at(60 * DAY_MS));
  });
  it('compares DNS names case-insensitively', () => {
    expect(
      missingNames(
        { dnsNames: ['A.example'], ips: ['::1'] },
        { dnsNames: ['a.example', 'b'], ips: ['::1', '10.0.0.1'] },
      ),
    ).toEqual(['b', '10.0.0.1']);
  });
  it('lists the four service names first, then extras, deduplicated', () => {
    expect(serviceDnsNames('svc', 'ns', ['x', ' svc ', ''])).toEqual([
      'svc',
      'svc.ns',
      'svc.ns.svc',
      'svc.ns.svc.cluster.local',
      'x',
    ]);
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
