// `reconcile --once` exit codes (docs/operations.md#command-line): 0 when every planned action was done (or only planned), 1 when one
// failed or was blocked, 2 when it could not run. Snapshot runs go through main() as a user's would.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reconcileExitCode } from '../../../webhook/cli/reconcile';
import { ActionOutcome } from '../../../webhook/reconciler/executor';
import { Json, NS, endpoint, list, pod, pool, rec, uid } from '../../../testbed/fixtures';
import { run } from '../support/cli-run';

const P = 'v4-pool';
const X = '10.6.168.101';
const Y = '10.6.168.102';

let dir: string;
function write(name: string, content: string | Json): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guard-reconcile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const subnet = { name: P, subnet: '10.6.0.0/16', ips: ['10.6.168.101-10.6.168.110'] };

describe('reconcile --once: exit 0', () => {
  it('a snapshot with planned actions: only planned (dry run), exit 0', async () => {
    // a record whose pod is gone: RELEASE_IP POD_GONE is planned
    const snap = write('gone.json', list(pool({ ...subnet, records: { [X]: rec(`${NS}/gone-1`, uid('gone')) } })));
    const r = await run('reconcile', '--once', '--snapshot', snap, '--output', 'json');
    expect(r.code).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json);
    expect(rows).toEqual([expect.objectContaining({ action: 'RELEASE_IP', reason: 'POD_GONE', ip: X, dryRun: true })]);
  });

  it('a consistent snapshot: nothing to do, exit 0', async () => {
    const snap = write('clean.json', list(pool(subnet)));
    const r = await run('reconcile', '--once', '--snapshot', snap);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No actions');
  });
});

describe('reconcile --once: exit 1', () => {
  it("a planned action the guard blocks: restoring a record while another alive pod's endpoint lists the IP", async () => {
    // api-1 runs with X and its endpoint lists X, but the pool lost the record (MISSING_RECORD → RESTORE_RECORD);
    // web-2 (alive, Pending, no IPs yet) has an endpoint listing X in the same pool: the restore is a DOUBLE_ALLOCATION.
    const snap = write(
      'blocked.json',
      list(
        pool({ ...subnet, records: { [Y]: rec(`${NS}/web-2`, uid('web-2')) } }),
        pod({ name: 'api-1', uid: uid('api-1'), ips: [X] }),
        endpoint({ name: 'api-1', podUid: uid('api-1'), nics: [{ ipv4: `${X}/16`, ipv4Pool: P }] }),
        pod({ name: 'web-2', uid: uid('web-2'), phase: 'Pending' }),
        endpoint({
          name: 'web-2',
          podUid: uid('web-2'),
          nics: [
            { ipv4: `${X}/16`, ipv4Pool: P },
            { interface: 'net1', ipv4: `${Y}/16`, ipv4Pool: P },
          ],
        }),
      ),
    );
    const r = await run('reconcile', '--once', '--snapshot', snap, '--output', 'json');
    expect(r.code).toBe(1);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json);
    expect(rows).toContainEqual(
      expect.objectContaining({
        action: 'RESTORE_RECORD',
        ip: X,
        result: 'blocked',
        detail: expect.stringMatching(/^DOUBLE_ALLOCATION: /),
      }),
    );
  });

  it.each<[ActionOutcome | 'planned', 0 | 1]>([
    ['done', 0],
    ['dry-run', 0],
    ['planned', 0],
    ['stale', 0],
    ['gone', 0],
    ['deferred', 0],
    ['failed', 1],
    ['blocked', 1],
    ['conflict', 1],
  ])('a live pass with one action %s next to done ones → %s', (outcome, code) => {
    const result = outcome === 'planned' ? undefined : outcome;
    expect(reconcileExitCode([{ result: 'done' }, { result }, { result: 'gone' }])).toBe(code);
  });
});

describe('reconcile --once: exit 2 (could not run), one line on stderr', () => {
  let closed: Server;
  let port: number;
  beforeAll(async () => {
    // a port nothing listens on: bind, note the port, close
    closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
  });

  it.each([
    ['--once missing', () => ['reconcile', '--snapshot', write('any.json', list())]],
    ['both sources', () => ['reconcile', '--once', '--snapshot', 'a.json', '--kubeconfig', 'b']],
    ['a snapshot that does not exist', () => ['reconcile', '--once', '--snapshot', join(dir, 'missing.json')]],
    ['a snapshot that is not JSON', () => ['reconcile', '--once', '--snapshot', write('bad.json', '{')]],
    [
      'a kubeconfig that does not exist',
      () => ['reconcile', '--once', '--kubeconfig', join(dir, 'missing-kubeconfig')],
    ],
    [
      'an API server that does not answer',
      () => [
        'reconcile',
        '--once',
        '--settle-seconds',
        '0',
        '--kubeconfig',
        write(
          'kubeconfig',
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: [
              { name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
            ],
            users: [{ name: 'u', user: { token: 'x' } }],
            contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
            'current-context': 'ctx',
          }),
        ),
      ],
    ],
  ])('%s', async (_what, argv) => {
    const r = await run(...argv());
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^spiderpool-guard reconcile: /);
  });
});
