// `check` and `reconcile --once` on a snapshot where a pod was recreated under its name and its earlier endpoint
// blocks it: the finding (an error: exit 1) with what to do, and the two actions in order; the twin (the endpoint is
// the live pod's own) reports nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../support/cli-run';
import { endpoint, pod, pool, snapshot } from '../support/reconciler-builders';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'spg-blocking-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function snapshotFile(name: string, endpointUid: string): string {
  const file = join(dir, name);
  const items = [
    pod({ name: 'trainer-0', uid: 'uid-new', phase: 'Pending' }),
    endpoint({ name: 'trainer-0', uid: endpointUid, ips: [['10.6.0.30', 'p']], type: 'Pod' }),
    pool({ name: 'p', records: { '10.6.0.30': ['demo/trainer-0', endpointUid] } }),
  ];
  writeFileSync(file, JSON.stringify(snapshot(...items)));
  return file;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('check and reconcile on a blocked successor', () => {
  it('check: BLOCKING_ENDPOINT is an error (exit 1), the table says what to do', async () => {
    const file = snapshotFile('blocked.json', 'uid-old');
    const table = await run('check', '--snapshot', file);
    expect(table.code).toBe(1);
    expect(table.stdout).toContain('BLOCKING_ENDPOINT (error) × 1');
    expect(table.stdout).toMatch(/being recycled.*RELEASE_IP UID_MISMATCH.*DELETE_ENDPOINT UID_MISMATCH/);
    const json = jsonLines((await run('check', '--snapshot', file, '--output', 'json')).stdout);
    expect(json.map((j) => j.finding)).toEqual(['RECORD_UID_MISMATCH', 'BLOCKING_ENDPOINT']);
    expect(json[1]).toMatchObject({
      severity: 'error',
      endpoint: { name: 'demo/trainer-0', podUid: 'uid-old' },
      pods: [{ uid: 'uid-new' }],
    });
  });

  it('reconcile --once: the release first, then the endpoint', async () => {
    const r = await run('reconcile', '--once', '--snapshot', snapshotFile('plan.json', 'uid-old'), '--output', 'json');
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout).map((j) => `${String(j.action)}/${String(j.reason)}`)).toEqual([
      'RELEASE_IP/UID_MISMATCH',
      'DELETE_ENDPOINT/UID_MISMATCH',
    ]);
  });

  it("twin: the endpoint and record are the Pending pod's own: no finding, no action", async () => {
    const file = snapshotFile('own.json', 'uid-new');
    expect((await run('check', '--snapshot', file)).code).toBe(0);
    expect(jsonLines((await run('reconcile', '--once', '--snapshot', file, '--output', 'json')).stdout)).toEqual([]);
  });
});
