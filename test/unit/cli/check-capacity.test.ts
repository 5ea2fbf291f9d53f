// `check --capacity` on a snapshot: one row per pool (a table, or one JSON object per pool), exit codes judged on the
// findings it does not print, and --namespace refused (pools are cluster-scoped).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Json, list, pod, pool, rec, reservedIP, uid } from '../../../testbed/fixtures';
import { run } from '../support/cli-run';

let dir: string;

function snapshot(name: string, ...objects: Json[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(list(...objects)));
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guard-capacity-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// web-1 alive and recorded; a record of a gone pod; 10.6.0.5 reserved
const quiet = () => [
  pool({
    name: 'blue',
    subnet: '10.6.0.0/24',
    ips: ['10.6.0.1-10.6.0.5'],
    records: { '10.6.0.1': rec('demo/web-1', uid('web-1')), '10.6.0.2': rec('demo/gone', uid('gone')) },
  }),
  pod({ name: 'web-1', uid: uid('web-1'), ips: ['10.6.0.1'] }),
  pool({ name: 'green', subnet: '10.7.0.0/24', ips: ['10.7.0.1-10.7.0.100'], excludeIPs: ['10.7.0.51-10.7.0.100'] }),
  reservedIP({ name: 'gw', ips: ['10.6.0.5'] }),
];

describe('check --capacity', () => {
  it('--output json: one object per pool, in the documented shape; exit 0 with warnings only', async () => {
    const r = await run('check', '--capacity', '--snapshot', snapshot('quiet.json', ...quiet()), '--output', 'json');
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter((l) => l !== '')).toEqual([
      '{"pool":"blue","total":5,"recorded":2,"free":2,"leftover":1,"held_terminating":0}',
      '{"pool":"green","total":50,"recorded":0,"free":50,"leftover":0,"held_terminating":0}',
    ]);
    expect(r.code).toBe(0);
  });

  it('a table by default, one row per pool', async () => {
    const r = await run('check', '--capacity', '--snapshot', snapshot('quiet.json', ...quiet()));
    expect(r.stdout).toBe(
      [
        'POOL   TOTAL  RECORDED  FREE  LEFTOVER  HELD_TERMINATING',
        'blue       5         2     2         1                 0',
        'green     50         0    50         0                 0',
        '',
      ].join('\n'),
    );
    expect(r.code).toBe(0);
  });

  it('exit 1 when check would find an error (an IP on two alive pods), though it prints capacity only', async () => {
    const conflict = [...quiet(), pod({ name: 'web-2', uid: uid('web-2'), ips: ['10.6.0.1'] })];
    const file = snapshot('conflict.json', ...conflict);
    const plain = await run('check', '--snapshot', file, '--output', 'json');
    expect(plain.stdout).toContain('"finding":"IP_CONFLICT"');
    expect(plain.code).toBe(1);
    const r = await run('check', '--capacity', '--snapshot', file, '--output', 'json');
    expect(r.stdout).not.toContain('finding');
    expect(r.code).toBe(1);
  });

  it('exit 2 with --namespace (pools are cluster-scoped) or an unreadable snapshot', async () => {
    const ns = await run('check', '--capacity', '-n', 'demo', '--snapshot', snapshot('quiet.json', ...quiet()));
    expect(ns.code).toBe(2);
    expect(ns.stderr).toMatch(/--capacity.*--namespace/);
    expect((await run('check', '--capacity', '--snapshot', join(dir, 'missing.json'))).code).toBe(2);
  });

  it('no pools: says so', async () => {
    const r = await run('check', '--capacity', '--snapshot', snapshot('empty.json'));
    expect(r.stdout).toBe('No SpiderIPPools.\n');
    expect(r.code).toBe(0);
  });
});
