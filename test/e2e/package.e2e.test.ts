/**
 * The guard as operators get it, without a container engine or a registry of our own:
 *  - the Docker image's runtime stage, recreated from the Dockerfile (its COPY lines, its `npm ci --omit=dev`, its
 *    Debian packages, ENV, USER and ENTRYPOINT) in a directory of its own: `serve --help` and `check --snapshot` run
 *    from there alone, under the image's allocator (jemalloc);
 *  - `npm pack`: the tarball holds what the runtime stage holds; installed from the tarball,
 *    `npx spiderpool-guard check --kubeconfig` reads the test bed, and `kubectl spiderpool-guard check` (the test
 *    bed's kubectl, the plugin on PATH) reads the current context of a two-file KUBECONFIG.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import * as fx from '../../testbed/fixtures';
import { ensureKubernetesBinaries } from '../../testbed/binaries';
import { CLI_ENTRY, REPO_ROOT } from '../../testbed/guard';
import { adminClients, createPool, deletePool, kubeconfigPath, writePoolStatus } from './support';
import { recreateRuntimeStage, runImage, runtimeFilesFromBuild, type RuntimeImage } from './support/dockerfile';

const execFileP = promisify(execFile);
const DOCKERFILE = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
/** npm's cache first: the registry only for what this machine's cache lacks. */
const NPM_OFFLINE_FIRST = ['--prefer-offline', '--no-audit', '--no-fund'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runFile(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(file, args, { ...opts, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const timings: Record<string, number> = {};
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await fn();
  } finally {
    timings[what] = Date.now() - start;
  }
}

let work: string;
beforeAll(() => {
  if (!fs.existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} missing: run npm run build first`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-package-'));
  fs.chmodSync(work, 0o755); // the image's USER (uid 1000) must reach its directory
});
afterAll(() => {
  process.stderr.write(`package e2e timings (ms): ${JSON.stringify(timings)}\n`);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A snapshot with one pool record whose pod is gone: `check` must find RECORD_POD_MISSING in it. */
function writeSnapshot(dir: string): string {
  const file = path.join(dir, 'snapshot.json');
  fs.writeFileSync(
    file,
    JSON.stringify(fx.list(fx.v4Pool({ '10.6.168.105': fx.rec(`${fx.NS}/gone-0`, fx.uid('gone-0')) }))),
  );
  fs.chmodSync(file, 0o644);
  return file;
}

describe('the Dockerfile runtime stage, recreated from its own lines', () => {
  let image: RuntimeImage;
  let snapshot: string;

  beforeAll(async () => {
    const dir = path.join(work, 'app');
    fs.mkdirSync(dir);
    image = await timed('runtime stage: COPY + npm ci --omit=dev', () =>
      recreateRuntimeStage(DOCKERFILE, REPO_ROOT, dir, ['--prefer-offline']),
    );
    snapshot = writeSnapshot(work);
  }, 300_000);

  test('is made of the Dockerfile steps, nothing resolvable outside its directory', () => {
    expect(image.steps.filter((s) => s.ms !== undefined).map((s) => s.step.split(' ').slice(0, 2).join(' '))).toEqual([
      'npm ci',
    ]);
    // the image's Debian packages: installed on this machine (the base image is the same Debian), never here
    expect(image.steps.filter((s) => s.host !== undefined).map((s) => s.host)).toEqual([
      expect.stringMatching(/^libjemalloc2 \d/),
    ]);
    expect(image.user).toEqual({ uid: 1000, gid: 1000 });
    expect(image.entrypoint).toEqual(['node', 'dist/webhook/cli/main.js']);
    expect(fs.readdirSync(image.dir).sort()).toEqual(['dist', 'node_modules', 'package-lock.json', 'package.json']);
    // Node resolves packages from node_modules of every parent directory: none may exist above the image's.
    for (let d = path.dirname(image.dir); ; d = path.dirname(d)) {
      expect({ dir: d, nodeModules: fs.existsSync(path.join(d, 'node_modules')) }).toEqual({
        dir: d,
        nodeModules: false,
      });
      if (d === path.dirname(d)) break;
    }
    // production dependencies only
    expect(fs.existsSync(path.join(image.dir, 'node_modules', 'express'))).toBe(true);
    expect(fs.existsSync(path.join(image.dir, 'node_modules', 'jest'))).toBe(false);
    expect(fs.existsSync(path.join(image.dir, 'node_modules', 'typescript'))).toBe(false);
  });

  test('`serve --help` runs as uid 1000 from that directory alone', async () => {
    const r = await timed('image: serve --help', () => runImage(image, ['serve', '--help']));
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: spiderpool-guard serve/);
    expect(r.code).toBe(0);
  });

  test("native memory comes from jemalloc: the image's LD_PRELOAD resolves, by soname, as its user", async () => {
    const r = await runImage(
      image,
      ['-e', "process.stdout.write(require('./dist/webhook/app/allocator.js').nativeAllocator())"],
      60_000,
      ['node'],
    );
    // a preload that does not resolve is only a line on stderr ("cannot be preloaded ... ignored")
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: 'jemalloc', stderr: '' });
    expect(image.env.MALLOC_CONF).toBe('dirty_decay_ms:1000');
  });

  test('`check --snapshot` loads every module of a decision and reports what the repository build reports', async () => {
    const r = await timed('image: check --snapshot', () =>
      runImage(image, ['check', '--snapshot', snapshot, '--output', 'json']),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('"finding":"RECORD_POD_MISSING"');
    const local = await runFile(process.execPath, [CLI_ENTRY, 'check', '--snapshot', snapshot, '--output', 'json']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: local.code, stdout: local.stdout });
  });
});

describe('npm pack, installed from the tarball', () => {
  let installDir: string;
  let tarballFiles: string[];
  let bin: string;
  const admin = adminClients();
  let poolName: string;
  /** what every live `check` below must find: the pool records a pod that never existed */
  const expectFinding = (stdout: string) => {
    expect(stdout).toContain(`"finding":"RECORD_POD_MISSING"`);
    expect(stdout).toContain(poolName);
  };

  beforeAll(async () => {
    const pool = await createPool(admin.custom, { subnet: '10.250.0.0/24', ips: ['10.250.0.1-10.250.0.20'] });
    poolName = pool.metadata.name!;
    await writePoolStatus(admin.custom, poolName, {
      '10.250.0.7': { pod: 'e2e-package/gone-0', podUid: fx.uid('package-gone-0') },
    });
    const packDir = path.join(work, 'pack');
    fs.mkdirSync(packDir);
    // dist is built already (npm test builds before jest); prepack would only build it again
    const packed = await timed('npm pack', () =>
      execFileP('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
        cwd: REPO_ROOT,
        maxBuffer: 64 * 1024 * 1024,
      }),
    );
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tarballFiles = info.files.map((f) => f.path);
    installDir = path.join(work, 'install');
    fs.mkdirSync(installDir);
    fs.writeFileSync(
      path.join(installDir, 'package.json'),
      JSON.stringify({ name: 'operator-tools', version: '1.0.0', private: true }),
    );
    await timed('npm install <tarball> --omit=dev', () =>
      execFileP('npm', ['install', '--omit=dev', ...NPM_OFFLINE_FIRST, path.join(packDir, info.filename)], {
        cwd: installDir,
        maxBuffer: 16 * 1024 * 1024,
      }),
    );
    bin = path.join(installDir, 'node_modules', '.bin');
  }, 300_000);
  afterAll(async () => {
    if (poolName) await deletePool(admin.custom, poolName);
  });

  test('the tarball holds package.json, README and exactly the directories the runtime stage copies from the build', () => {
    const fromBuild = runtimeFilesFromBuild(DOCKERFILE).map((f) => f.source);
    expect(fromBuild.sort()).toEqual(['dist/certs', 'dist/lib', 'dist/webhook']);
    const outside = tarballFiles.filter(
      (f) => !['package.json', 'README.md'].includes(f) && !fromBuild.some((d) => f.startsWith(`${d}/`)),
    );
    expect(outside).toEqual([]);
    for (const d of fromBuild) expect(tarballFiles.some((f) => f.startsWith(`${d}/`))).toBe(true);
    expect(tarballFiles).toEqual(
      expect.arrayContaining(['dist/webhook/cli/main.js', 'dist/webhook/cli/kubectl-plugin.js']),
    );
  });

  test('`npx spiderpool-guard check --kubeconfig <test bed>` reads the cluster, as the repository build does', async () => {
    const npx = await timed('npx spiderpool-guard check', () =>
      runFile(
        'npx',
        [
          '--no-install',
          'spiderpool-guard',
          'check',
          '--kubeconfig',
          kubeconfigPath(),
          '--settle-seconds',
          '0',
          '--output',
          'json',
        ],
        { cwd: installDir },
      ),
    );
    expect(npx.stderr).toBe('');
    expectFinding(npx.stdout);
    const local = await runFile(process.execPath, [
      CLI_ENTRY,
      'check',
      '--kubeconfig',
      kubeconfigPath(),
      '--settle-seconds',
      '0',
      '--output',
      'json',
    ]);
    expect({ code: npx.code, stdout: npx.stdout }).toEqual({ code: local.code, stdout: local.stdout });
    const help = await runFile(path.join(bin, 'spiderpool-guard'), ['--help']);
    expect(help.stdout).toMatch(/check\s+read-only consistency audit/);
  });

  describe('as a kubectl plugin', () => {
    let kubectl: string;
    let env: NodeJS.ProcessEnv;
    let elsewhere: string;

    beforeAll(async () => {
      kubectl = (await ensureKubernetesBinaries()).kubectl;
      // First file of KUBECONFIG: another cluster, but no current-context; the test bed's file (second) sets it.
      const server = 'https://127.0.0.1:1';
      elsewhere = path.join(work, 'elsewhere.kubeconfig');
      fs.writeFileSync(
        elsewhere,
        k8s.dumpYaml({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'elsewhere', cluster: { server } }],
          users: [{ name: 'elsewhere', user: { token: 'x' } }],
          contexts: [{ name: 'elsewhere', context: { cluster: 'elsewhere', user: 'elsewhere' } }],
        }),
        { mode: 0o600 },
      );
      // kubectl finds plugins on PATH; the shim's `#!/usr/bin/env node` finds node there too
      env = {
        PATH: [bin, path.dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
        HOME: work,
        KUBECONFIG: [elsewhere, kubeconfigPath()].join(':'),
      };
    });

    test('kubectl lists it, and its merged KUBECONFIG has the test bed as current context', async () => {
      const list = await runFile(kubectl, ['plugin', 'list'], { env });
      expect(list.stdout).toContain(path.join(bin, 'kubectl-spiderpool_guard'));
      const server = await runFile(
        kubectl,
        ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'],
        { env },
      );
      const testbedServer = (() => {
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(kubeconfigPath());
        return kc.getCurrentCluster()?.server;
      })();
      expect(server.stdout).toBe(testbedServer);
    });

    test('`kubectl spiderpool-guard check` reads the current context of the two-file KUBECONFIG', async () => {
      const plugin = await timed('kubectl spiderpool-guard check', () =>
        runFile(kubectl, ['spiderpool-guard', 'check', '--settle-seconds', '0', '--output', 'json'], { env }),
      );
      expect(plugin.stderr).toBe('');
      expectFinding(plugin.stdout);
      const local = await runFile(process.execPath, [
        CLI_ENTRY,
        'check',
        '--kubeconfig',
        kubeconfigPath(),
        '--settle-seconds',
        '0',
        '--output',
        'json',
      ]);
      expect({ code: plugin.code, stdout: plugin.stdout }).toEqual({ code: local.code, stdout: local.stdout });
    });

    test('with the other file first and naming its own current context, the plugin goes where kubectl goes', async () => {
      const withContext = path.join(work, 'elsewhere-current.kubeconfig');
      const doc = k8s.loadYaml<Record<string, unknown>>(fs.readFileSync(elsewhere, 'utf8'));
      fs.writeFileSync(withContext, k8s.dumpYaml({ ...doc, 'current-context': 'elsewhere' }), { mode: 0o600 });
      const first = { ...env, KUBECONFIG: [withContext, kubeconfigPath()].join(':') };
      const server = await runFile(
        kubectl,
        ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'],
        { env: first },
      );
      expect(server.stdout).toBe('https://127.0.0.1:1');
      const plugin = await runFile(kubectl, ['spiderpool-guard', 'check', '--settle-seconds', '0'], { env: first });
      expect(plugin.code).toBe(2);
      expect(plugin.stderr).toContain('127.0.0.1:1');
    });

    test('`kubectl spiderpool-guard check --context <test bed> -n <ns>` reads that context and reports that namespace only', async () => {
      const elsewhereFirst = path.join(work, 'elsewhere-current.kubeconfig'); // written by the test above
      const first = { ...env, KUBECONFIG: [elsewhereFirst, kubeconfigPath()].join(':') };
      const testbedContext = (() => {
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(kubeconfigPath());
        return kc.getCurrentContext();
      })();
      const check = (...args: string[]) =>
        runFile(kubectl, ['spiderpool-guard', 'check', '--settle-seconds', '0', '--output', 'json', ...args], {
          env: first,
        });
      const scoped = await timed('kubectl spiderpool-guard check --context -n', () =>
        check('--context', testbedContext, '-n', 'e2e-package'),
      );
      expect(scoped.stderr).toBe('');
      expectFinding(scoped.stdout);
      // every finding reported involves the namespace asked for
      for (const line of scoped.stdout.split('\n').filter((l) => l !== '')) expect(line).toContain('"e2e-package/');
      const other = await check('--context', testbedContext, '--namespace', 'e2e-package-elsewhere');
      expect(other.stderr).toBe('');
      expect(other.stdout).not.toContain(poolName);
      const unknown = await check('--context', 'no-such-context', '-n', 'e2e-package');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr.trimEnd().split('\n')).toEqual([
        expect.stringContaining('has no context "no-such-context"'),
      ]);
    });
  });
});
