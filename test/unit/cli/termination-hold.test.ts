// --termination-hold-max on review, check and reconcile (docs/operations.md, Held IPs), and snapshots with Nodes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durationFlag } from '../../../webhook/cli/args';
import { UsageError } from '../../../webhook/cli/errors';
import { run } from '../support/cli-run';
import {
  Json,
  NS,
  OUT_OF_SERVICE,
  list,
  node,
  pod,
  pool,
  poolStatusReview,
  rec,
  uid,
  withRecords,
} from '../../../testbed/fixtures';

const X = '10.6.168.101';
const A = uid('api#A');
const API = 'api-6d9f7c-x2k8q';
const HOUR_AGO = new Date(Date.now() - 3_600_000).toISOString();

let dir: string;
const write = (name: string, content: Json): string => {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
};
const old = () => pool({ name: 'v4-pool', subnet: '10.6.0.0/16', records: { [X]: rec(`${NS}/${API}`, A) } });
const zombie = () => pod({ name: API, uid: A, ips: [X], deleting: true, deletedAt: HOUR_AGO, nodeName: 'worker-1' });
let releaseFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guard-hold-'));
  releaseFile = write('release.json', poolStatusReview(old(), withRecords(old(), {})));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('durationFlag', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['250ms', 250],
  ])('%s is %d ms', (text, ms) => expect(durationFlag({ d: text }, 'd')).toBe(ms));

  it('unset is no limit', () => expect(durationFlag({}, 'd')).toBeUndefined());

  it.each(['', '30', 'm', '0s', '-5m', '5 m', '5d', '1h junk', 'true'])('%j is unusable', (text) => {
    expect(() => durationFlag({ d: text }, 'd')).toThrow(UsageError);
  });
});

const allowedOf = (stdout: string) => (JSON.parse(stdout) as { response: { allowed: boolean } }).response.allowed;

describe('review', () => {
  it("denies the release of a zombie's record; allows it past --termination-hold-max", async () => {
    const snapshot = write('zombie.json', list(old(), zombie(), node({ name: 'worker-1', ready: 'Unknown' })));
    expect(allowedOf((await run('review', '--snapshot', snapshot, releaseFile)).stdout)).toBe(false);
    expect(
      allowedOf((await run('review', '--snapshot', snapshot, '--termination-hold-max', '30m', releaseFile)).stdout),
    ).toBe(true);
    expect(
      allowedOf((await run('review', '--snapshot', snapshot, '--termination-hold-max', '2h', releaseFile)).stdout),
    ).toBe(false);
  });

  it('a snapshot whose Node carries the out-of-service taint lets it through', async () => {
    const snapshot = write(
      'tainted.json',
      list(old(), zombie(), node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] })),
    );
    expect(allowedOf((await run('review', '--snapshot', snapshot, releaseFile)).stdout)).toBe(true);
  });

  it('a bad duration is unusable input: exit 2 with one line', async () => {
    const snapshot = write('plain.json', list(old(), zombie()));
    const r = await run('review', '--snapshot', snapshot, '--termination-hold-max', '30', releaseFile);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('--termination-hold-max "30"')]);
  });
});

describe('check and reconcile', () => {
  it('check reports TERMINATION_UNCONFIRMED (warn: exit 0) and not past the hold max', async () => {
    const snapshot = write('check.json', list(old(), zombie(), node({ name: 'worker-1', ready: 'Unknown' })));
    const r = await run('check', '--snapshot', snapshot, '--output', 'json');
    expect(r.code).toBe(0);
    const found = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { finding: string; node?: string });
    expect(found).toEqual(
      expect.arrayContaining([expect.objectContaining({ finding: 'TERMINATION_UNCONFIRMED', node: 'worker-1' })]),
    );
    const past = await run('check', '--snapshot', snapshot, '--output', 'json', '--termination-hold-max', '30m');
    expect(past.stdout).not.toContain('TERMINATION_UNCONFIRMED');
  });

  it('check reports ZOMBIE_IP_REUSE (error: exit 1)', async () => {
    const reused = pool({ name: 'v4-pool', subnet: '10.6.0.0/16', records: { [X]: rec(`${NS}/next`, uid('next')) } });
    const snapshot = write('reuse.json', list(reused, zombie(), pod({ name: 'next', uid: uid('next'), ips: [X] })));
    const r = await run('check', '--snapshot', snapshot, '--output', 'json');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('"finding":"ZOMBIE_IP_REUSE"');
  });

  it('reconcile and check take the flag and refuse a bad one (exit 2)', async () => {
    const snapshot = write('rec.json', list(old(), zombie()));
    expect((await run('reconcile', '--once', '--snapshot', snapshot, '--termination-hold-max', '1h')).code).toBe(0);
    expect((await run('reconcile', '--once', '--snapshot', snapshot, '--termination-hold-max', 'soon')).code).toBe(2);
    expect((await run('check', '--snapshot', snapshot, '--termination-hold-max', '0s')).code).toBe(2);
  });
});
