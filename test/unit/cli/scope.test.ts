// Plugin-style scoping of check and reconcile: --namespace/-n narrows what is reported and acted on (the whole
// snapshot is still judged); --context picks a context of a (merged) kubeconfig, an unknown one is exit 2.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { loadKubeConfigFile } from '../../../webhook/cluster';
import { main } from '../../../webhook/cli/main';
import { Json, endpoint, list, pod, pool, rec, uid } from '../../../testbed/fixtures';

let dir: string;
let snapshotFile: string;

function write(name: string, content: string | Json): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true));
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Json);
const names = (text: string) =>
  jsonLines(text)
    .map(
      (j) =>
        `${String(j.finding ?? j.action)}:${JSON.stringify((j.record as Json | undefined)?.pod ?? (j.endpoint as Json | undefined)?.name ?? j.pool)}`,
    )
    .sort();

function kubeconfig(context: string, server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${context}`,
    `clusters: [{name: ${context}, cluster: {server: '${server}'}}]`,
    `users: [{name: ${context}, user: {token: t}}]`,
    `contexts: [{name: ${context}, context: {cluster: ${context}, user: ${context}}}]`,
    '',
  ].join('\n');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guard-scope-'));
  // Records of two gone pods in team-a and team-b, wrong allocatedIPCounts (pool-level), a live pod in team-a, and
  // a leftover endpoint in team-c whose pod is gone.
  const shared = pool({
    name: 'shared',
    subnet: '10.7.0.0/16',
    ips: ['10.7.0.10-10.7.0.20'],
    records: {
      '10.7.0.11': rec('team-a/gone-1', uid('gone-1')),
      '10.7.0.12': rec('team-b/gone-2', uid('gone-2')),
      '10.7.0.13': rec('team-a/api-1', uid('api-1')),
    },
    allocatedIPCount: 5,
  });
  snapshotFile = write(
    'snapshot.json',
    list(
      shared,
      pool({ name: 'counted', subnet: '10.8.0.0/16', ips: ['10.8.0.10-10.8.0.20'], allocatedIPCount: 2 }),
      pod({ name: 'api-1', namespace: 'team-a', uid: uid('api-1'), ips: ['10.7.0.13'] }),
      endpoint({
        name: 'api-1',
        namespace: 'team-a',
        podUid: uid('api-1'),
        nics: [{ ipv4: '10.7.0.13/16', ipv4Pool: 'shared' }],
      }),
      endpoint({
        name: 'old-3',
        namespace: 'team-c',
        podUid: uid('old-3'),
        nics: [{ ipv4: '10.7.0.14/16', ipv4Pool: 'shared' }],
      }),
    ),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('check --namespace / -n', () => {
  it('without it every finding is reported, pool-level ones included', async () => {
    const r = await run('check', '--snapshot', snapshotFile, '--output', 'json');
    expect(names(r.stdout)).toEqual([
      'COUNT_MISMATCH:"counted"',
      'COUNT_MISMATCH:"shared"',
      'LEFTOVER_ENDPOINT:"team-c/old-3"',
      'RECORD_POD_MISSING:"team-a/gone-1"',
      'RECORD_POD_MISSING:"team-b/gone-2"',
    ]);
  });

  it('keeps the findings that involve a pod or endpoint of the namespaces; pool-level findings are left out', async () => {
    const r = await run('check', '--snapshot', snapshotFile, '--output', 'json', '-n', 'team-a');
    expect(names(r.stdout)).toEqual(['RECORD_POD_MISSING:"team-a/gone-1"']);
    expect(r.code).toBe(0); // only warnings reported
  });

  it('repeatable and comma lists are the same filter', async () => {
    const repeated = await run(
      'check',
      '--snapshot',
      snapshotFile,
      '--output',
      'json',
      '--namespace',
      'team-b',
      '--namespace',
      'team-c',
    );
    const comma = await run('check', '--snapshot', snapshotFile, '--output', 'json', '-n', 'team-b,team-c');
    expect(names(repeated.stdout)).toEqual(['LEFTOVER_ENDPOINT:"team-c/old-3"', 'RECORD_POD_MISSING:"team-b/gone-2"']);
    expect(names(comma.stdout)).toEqual(names(repeated.stdout));
  });

  it('the table says how many findings it left out', async () => {
    const r = await run('check', '--snapshot', snapshotFile, '-n', 'team-a');
    expect(r.stdout).toContain('RECORD_POD_MISSING (warn) × 1');
    expect(r.stdout).not.toContain('COUNT_MISMATCH');
    expect(r.stdout).toContain('(4 finding(s) not involving namespace(s) team-a not shown)');
  });

  it('a namespace with nothing in it: no findings, and no note when nothing was left out', async () => {
    const r = await run('check', '--snapshot', snapshotFile, '-n', 'elsewhere');
    expect(r.stdout).toContain('No findings');
    const all = await run('check', '--snapshot', snapshotFile);
    expect(all.stdout).not.toContain('not shown');
  });

  it('--help shows the short form and what is left out', async () => {
    const r = await run('check', '--help');
    expect(r.stdout).toMatch(/-n, --namespace NS\[,NS\.\.\.\] \(repeatable\)/);
    expect(r.stdout).toContain('COUNT_MISMATCH, MALFORMED_POOL');
  });
});

describe('reconcile --namespace', () => {
  it('plans only the actions that involve the namespaces (never FIX_COUNT)', async () => {
    const all = await run('reconcile', '--once', '--snapshot', snapshotFile, '--output', 'json');
    expect(names(all.stdout)).toEqual([
      'DELETE_ENDPOINT:"team-c/old-3"',
      'FIX_COUNT:"counted"',
      'RELEASE_IP:"team-a/gone-1"',
      'RELEASE_IP:"team-b/gone-2"',
    ]);
    const scoped = await run('reconcile', '--once', '--snapshot', snapshotFile, '--output', 'json', '-n', 'team-b');
    expect(names(scoped.stdout)).toEqual(['RELEASE_IP:"team-b/gone-2"']);
  });

  it('the self-check identity namespace is --guard-namespace now', async () => {
    const r = await run(
      'reconcile',
      '--once',
      '--snapshot',
      snapshotFile,
      '--guard-namespace',
      'ops',
      '--output',
      'json',
      '-n',
      'team-a',
    );
    expect(r.code).toBe(0);
    expect(names(r.stdout)).toEqual(['RELEASE_IP:"team-a/gone-1"']);
  });
});

describe('--context', () => {
  let a: string;
  let b: string;
  beforeAll(() => {
    a = write('a.yaml', kubeconfig('ctx-a', 'https://a.example:6443'));
    b = write('b.yaml', kubeconfig('ctx-b', 'https://b.example:6443'));
  });

  it("picks a context of the merged list instead of the first file's current-context", () => {
    expect(loadKubeConfigFile(`${a}${delimiter}${b}`).getCurrentCluster()?.server).toBe('https://a.example:6443');
    const kc = loadKubeConfigFile(`${a}${delimiter}${b}`, 'ctx-b');
    expect(kc.getCurrentContext()).toBe('ctx-b');
    expect(kc.getCurrentCluster()?.server).toBe('https://b.example:6443');
  });

  it('an unknown context is exit 2 with one line naming the contexts there are', async () => {
    for (const command of [['check'], ['reconcile', '--once']]) {
      const r = await run(...command, '--kubeconfig', `${a}${delimiter}${b}`, '--context', 'nope', '-n', 'team-a');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/has no context "nope" \(it has: ctx-a, ctx-b\)$/),
      ]);
    }
  });

  it('--context with a snapshot is a usage error', async () => {
    const r = await run('check', '--snapshot', snapshotFile, '--context', 'ctx-a');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--context needs --kubeconfig/);
  });
});
