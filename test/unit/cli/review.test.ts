// `review` (docs/operations.md#review): decides one AdmissionReview offline against a snapshot; exit 0 whatever the decision, 2 on
// unusable input with a one-line reason on stderr.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Run, run } from '../support/cli-run';
import {
  AGENT_USER,
  Json,
  NS,
  list,
  pod,
  pool,
  poolStatusReview,
  rec,
  statefulSet,
  uid,
  withRecords,
} from '../../../testbed/fixtures';

const X = '10.6.168.101';
const C = uid('api#C');
const API = 'api-6d9f7c-x2k8q';

let dir: string;
let snapshotFile: string;
let denyFile: string;
let agentReleaseFile: string;
let countFile: string;

function write(name: string, content: string | Json): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guard-cli-'));
  const old = pool({ name: 'v4-pool', subnet: '10.6.0.0/16', records: { [X]: rec(`${NS}/${API}`, C) } });
  snapshotFile = write(
    'snapshot.json',
    list(old, pod({ name: API, uid: C, ips: [X] }), statefulSet({ name: 'web', replicas: 1 })),
  );
  denyFile = write('deny.json', poolStatusReview(old, withRecords(old, {})));
  agentReleaseFile = write('agent.json', poolStatusReview(old, withRecords(old, {}), AGENT_USER));
  countFile = write(
    'count.json',
    poolStatusReview(old, withRecords(old, { [X]: rec(`${NS}/${API}`, C) }, { allocatedIPCount: 4 }), AGENT_USER),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function response(r: Run): Json {
  const doc = JSON.parse(r.stdout) as Json;
  expect(doc).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
  return doc.response as Json;
}

describe('review: decisions (exit 0)', () => {
  it('prints the denial as an AdmissionReview response', async () => {
    const r = await run('review', '--snapshot', snapshotFile, denyFile);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const res = response(r);
    expect(res.allowed).toBe(false);
    expect(res.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect((res.status as Json).message).toMatch(/^LIVE_IP_RELEASE: IP 10\.6\.168\.101, pool v4-pool/);
    expect(res.auditAnnotations).toEqual({ rule: 'LIVE_IP_RELEASE', ips: X });
  });

  it('an allowed write (the agent is not guarded)', async () => {
    const r = await run('review', '--snapshot', snapshotFile, agentReleaseFile);
    expect(r.code).toBe(0);
    expect(response(r)).toEqual({ uid: expect.any(String), allowed: true });
  });

  it('--guarded-users makes the agent a guarded writer', async () => {
    const r = await run(
      'review',
      '--snapshot',
      snapshotFile,
      '--guarded-users',
      'system:serviceaccount:*:spiderpool-agent, x',
      agentReleaseFile,
    );
    expect(response(r).allowed).toBe(false);
  });

  it('--exempt-users: allowed, still annotated', async () => {
    const r = await run(
      'review',
      '--snapshot',
      snapshotFile,
      '--exempt-users',
      'system:serviceaccount:kube-system:*',
      denyFile,
    );
    expect(response(r)).toMatchObject({ allowed: true, auditAnnotations: { rule: 'LIVE_IP_RELEASE' } });
  });

  it('--mode warn and --rule-mode RULE=audit', async () => {
    const warn = response(await run('review', '--snapshot', snapshotFile, '--mode', 'warn', denyFile));
    expect(warn.allowed).toBe(true);
    expect(warn.warnings).toEqual([expect.stringMatching(/^LIVE_IP_RELEASE: /)]);
    const audit = response(
      await run('review', '--snapshot', snapshotFile, '--rule-mode', 'LIVE_IP_RELEASE=audit', denyFile),
    );
    expect(audit).toMatchObject({ allowed: true, auditAnnotations: { rule: 'LIVE_IP_RELEASE' } });
    expect(audit.warnings).toBeUndefined();
  });

  it('--webhook mutate prints the patch; --mode repair restores the record', async () => {
    const count = response(await run('review', '--snapshot', snapshotFile, '--webhook', 'mutate', countFile));
    expect(count.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(count.patch as string, 'base64').toString())).toEqual([
      { op: 'replace', path: '/status/allocatedIPCount', value: 1 },
    ]);
    const repair = response(
      await run('review', '--snapshot', snapshotFile, '--webhook', 'mutate', '--mode', 'repair', denyFile),
    );
    expect(repair).toMatchObject({
      allowed: true,
      patchType: 'JSONPatch',
      auditAnnotations: { rule: 'LIVE_IP_RELEASE', ips: X },
    });
  });

  it('--audit prints the audit events on stderr, one JSON line each', async () => {
    const r = await run('review', '--snapshot', snapshotFile, '--audit', denyFile);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ event: 'admission.denied', rule: 'LIVE_IP_RELEASE', ip: X });
  });
});

describe('review: unusable input (exit 2, one line on stderr)', () => {
  async function expectUsage(argv: string[], reason: RegExp) {
    const r = await run('review', ...argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/\n$/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(reason);
  }

  it('a missing snapshot file', async () => {
    await expectUsage(['--snapshot', join(dir, 'nope.json'), denyFile], /snapshot.*ENOENT/);
  });
  it('a snapshot that is not JSON', async () => {
    await expectUsage(
      ['--snapshot', write('broken.json', '{"kind": "List", "items": [\n  {"kind": '), denyFile],
      /not valid JSON/,
    );
  });
  it.each([
    ['a number', '42'],
    ['a string', '"pods"'],
    ['an object without items or kind', '{"apiVersion": "v1"}'],
    ['null', 'null'],
    ['a List whose items are not objects', '{"kind": "List", "apiVersion": "v1", "items": [1, 2]}'],
    ['a List item without kind', '{"kind": "List", "apiVersion": "v1", "items": [{"metadata": {}}]}'],
  ])('a snapshot that is not a List: %s', async (_what, content) => {
    await expectUsage(
      ['--snapshot', write(`nonlist-${_what.replace(/\W+/g, '-')}.json`, content), denyFile],
      /snapshot/,
    );
  });
  it('a malformed review (wrong apiVersion)', async () => {
    const bad = JSON.parse(
      JSON.stringify(
        poolStatusReview(pool({ name: 'p', subnet: '10.6.0.0/16' }), pool({ name: 'p', subnet: '10.6.0.0/16' })),
      ),
    ) as Json;
    bad.apiVersion = 'admission.k8s.io/v1beta1';
    await expectUsage(['--snapshot', snapshotFile, write('bad-review.json', bad)], /apiVersion/);
  });
  it('a review file that is not JSON', async () => {
    await expectUsage(
      ['--snapshot', snapshotFile, write('bad-review2.json', 'apiVersion: admission.k8s.io/v1\n')],
      /not valid JSON/,
    );
  });
  it('a missing review file', async () => {
    await expectUsage(['--snapshot', snapshotFile, join(dir, 'missing-review.json')], /ENOENT/);
  });
  it('--rule-mode for an unknown rule', async () => {
    await expectUsage(['--snapshot', snapshotFile, '--rule-mode', 'FOO=warn', denyFile], /unknown rule/);
  });
  it('--rule-mode repair for a rule without repair', async () => {
    await expectUsage(
      ['--snapshot', snapshotFile, '--rule-mode', 'DOUBLE_ALLOCATION=repair', denyFile],
      /DOUBLE_ALLOCATION has no repair/,
    );
  });
  it('--rule-mode with an unknown mode', async () => {
    await expectUsage(['--snapshot', snapshotFile, '--rule-mode', 'LIVE_IP_RELEASE=block', denyFile], /unknown mode/);
  });
  it('--mode bogus', async () => {
    await expectUsage(['--snapshot', snapshotFile, '--mode', 'bogus', denyFile], /unknown mode/);
  });
  it('--webhook other', async () => {
    await expectUsage(['--snapshot', snapshotFile, '--webhook', 'other', denyFile], /webhook/);
  });
  it('no --snapshot', async () => {
    await expectUsage([denyFile], /--snapshot/);
  });
  it('no review file, or two', async () => {
    await expectUsage(['--snapshot', snapshotFile], /REVIEW_FILE/);
    await expectUsage(['--snapshot', snapshotFile, denyFile, denyFile], /REVIEW_FILE/);
  });
  it('an unknown flag', async () => {
    await expectUsage(['--snapshot', snapshotFile, '--frobnicate', denyFile], /frobnicate/);
  });
});

describe('review as a process', () => {
  it('exits 0 with the response on stdout, and 2 with one stderr line', () => {
    const cli = join(__dirname, '..', '..', '..', 'webhook', 'cli', 'main.ts');
    const tsx = require.resolve('tsx/cli');
    const ok = spawnSync(process.execPath, [tsx, cli, 'review', '--snapshot', snapshotFile, denyFile], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(ok.status).toBe(0);
    expect((JSON.parse(ok.stdout) as Json).response).toMatchObject({ allowed: false });
    const bad = spawnSync(
      process.execPath,
      [tsx, cli, 'review', '--snapshot', snapshotFile, '--mode', 'bogus', denyFile],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);
});
