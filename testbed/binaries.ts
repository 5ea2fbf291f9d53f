/**
 * Pinned binaries of the test bed, built from the Go module proxy and cached under
 * `~/.cache/spiderpool-guard/bin/` (override the root with SPG_CACHE_DIR):
 *
 *   bin/kubernetes-<KUBERNETES_VERSION>/{kube-apiserver,kube-controller-manager,kubectl}
 *   bin/etcd-<ETCD_VERSION>/etcd
 *   bin/helm-<HELM_VERSION>/helm            (only built when ensureHelm() is called)
 *   bin/promtool-<PROMTOOL_VERSION>/promtool (only built when ensurePromtool() is called)
 *
 * Each binary can be overridden by an env var (KUBE_APISERVER_BIN, KUBE_CONTROLLER_MANAGER_BIN, KUBECTL_BIN,
 * ETCD_BIN, HELM_BIN, PROMTOOL_BIN). The build recipes generate small Go modules under `~/.cache/spiderpool-guard/build/`:
 *  - kubernetes: a module requiring k8s.io/kubernetes at the pinned release, with `replace` directives mapping every
 *    staging module that kubernetes' go.mod requires as v0.0.0 (k8s.io/api, apimachinery, client-go, ...) to the
 *    matching published v0.x.y; the three commands are built by ONE `go build -o dir/ pkg...` call.
 *  - etcd: a module whose main package calls go.etcd.io/etcd/server/v3/etcdmain.Main (`go install @version` of
 *    etcd refuses modules with replace directives).
 *  - helm, promtool: `go install <pkg>@<version>` with GOBIN in the cache.
 * A lock file per recipe makes concurrent callers wait instead of building twice. Build timings are kept in
 * `build-info.json` next to the binaries.
 *
 * CLI: `tsx testbed/binaries.ts [--helm] [--promtool]` builds (or finds) them and prints the paths as JSON.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireLock, cacheRoot, formatDuration, log, runOk, writeFileAtomic } from './util';

export const KUBERNETES_VERSION = 'v1.34.4';
/** The staging modules (k8s.io/api, ...) are published as v0.<minor>.<patch> of the same release. */
export const KUBERNETES_STAGING_VERSION = `v0.${KUBERNETES_VERSION.slice(3)}`;
/** The etcd version kubernetes v1.34 is built and tested against (its go.mod pins go.etcd.io/etcd/* v3.6.4). */
export const ETCD_VERSION = 'v3.6.4';
export const HELM_VERSION = 'v3.21.4';
/**
 * Prometheus 3.x publishes its Go module as v0.3XX.Y (v3.16.0 is v0.316.0): the v3 tags lack the /v3 module
 * path, so the proxy serves them under this v0 form. promtool of v3.16.0.
 */
export const PROMTOOL_VERSION = 'v0.316.0';

export interface KubernetesBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
}

export interface TestbedBinaries extends KubernetesBinaries {
  etcd: string;
}

const ldflags = '-ldflags=-s -w';

export function binDir(): string {
  return path.join(cacheRoot(), 'bin');
}

function buildDir(): string {
  return path.join(cacheRoot(), 'build');
}

function goBinary(): string {
  if (process.env.GO_BIN) return process.env.GO_BIN;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'go'))) return path.join(dir, 'go');
  }
  if (isExecutable('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('no Go toolchain found (set GO_BIN or put go on PATH)');
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function goEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Never let the go command fetch another toolchain or write to the repository.
  return { ...process.env, GOTOOLCHAIN: 'local', GOWORK: 'off', ...extra };
}

function fromEnv(name: string): string | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (!isExecutable(value)) throw new Error(`${name}=${value} is not an executable file`);
  return path.resolve(value);
}

/**
 * Runs a go build/install with a heartbeat: with `-v` the go command names each package it compiles, so we
 * count them and print a progress line at most every 20 s (a cold kubernetes build compiles ~2,500 packages).
 */
async function goWithProgress(what: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const start = Date.now();
  log('build', `${what}: go ${args.join(' ')}   (cwd ${cwd})`);
  let compiled = 0;
  let last = '';
  let output = '';
  const timer = setInterval(() => {
    const detail = last ? ` (last: ${last})` : ' (everything cached so far: linking)';
    log('build', `${what}: ${formatDuration(Date.now() - start)} elapsed, ${compiled} packages compiled${detail}`);
  }, 20000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(goBinary(), args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        output = (output + text).slice(-20000);
        for (const line of text.split('\n')) {
          const l = line.trim();
          if (l === '') continue;
          if (/^[\w.\-/]+$/.test(l)) {
            compiled++;
            last = l;
          } else if (!l.startsWith('go: downloading')) {
            log('build', `${what}: ${l}`);
          }
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${output.split('\n').slice(-40).join('\n')}`);
  } finally {
    clearInterval(timer);
  }
  const ms = Date.now() - start;
  log('build', `${what}: done in ${formatDuration(ms)} (${compiled} packages compiled)`);
  return ms;
}

interface BuildInfo {
  version: string;
  builtAt: string;
  buildSeconds: number;
  go: string;
}

function writeBuildInfo(dir: string, version: string, ms: number, goVersion: string): void {
  const info: BuildInfo = {
    version,
    builtAt: new Date().toISOString(),
    buildSeconds: Math.round(ms / 100) / 10,
    go: goVersion,
  };
  writeFileAtomic(path.join(dir, 'build-info.json'), JSON.stringify(info, null, 2) + '\n');
}

async function goVersion(): Promise<string> {
  return (await runOk(goBinary(), ['env', 'GOVERSION'], { env: goEnv() })).stdout.trim();
}

/** Generates go.mod for the kubernetes build module from kubernetes' own go.mod (fetched via `go mod download`). */
async function kubernetesGoMod(): Promise<string> {
  const res = await runOk(goBinary(), ['mod', 'download', '-json', `k8s.io/kubernetes@${KUBERNETES_VERSION}`], {
    env: goEnv(),
    cwd: buildDir(),
  });
  const info = JSON.parse(res.stdout) as { GoMod?: string; Error?: string };
  if (!info.GoMod)
    throw new Error(`go mod download k8s.io/kubernetes@${KUBERNETES_VERSION}: ${info.Error ?? 'no GoMod in output'}`);
  const upstream = fs.readFileSync(info.GoMod, 'utf8');
  // Staging modules: `k8s.io/x => ./staging/src/k8s.io/x` in the replace block; kubernetes requires them as v0.0.0.
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\/src\/\S+\s*$/gm)].map((m) => m[1]);
  const required = new Set([...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+v0\.0\.0\b/gm)].map((m) => m[1]));
  const replaces = staging.filter((m) => required.has(m));
  if (replaces.length < 10)
    throw new Error(`unexpected kubernetes go.mod: only ${replaces.length} staging modules found`);
  return [
    '// Generated by spiderpool-guard testbed/binaries.ts. Do not edit.',
    'module spiderpool-guard.local/build/kubernetes',
    '',
    'go 1.24.0',
    '',
    `require k8s.io/kubernetes ${KUBERNETES_VERSION}`,
    '',
    'replace (',
    ...replaces.map((m) => `\t${m} => ${m} ${KUBERNETES_STAGING_VERSION}`),
    ')',
    '',
  ].join('\n');
}

/**
 * Prepares a generated module directory: writes the files, and runs `go mod tidy` when go.mod changed or
 * go.sum is missing. Returns true when tidy ran.
 */
async function prepareModule(dir: string, goMod: string, files: Record<string, string>, what: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== content) writeFileAtomic(file, content);
  }
  const modFile = path.join(dir, 'go.mod');
  const stampFile = path.join(dir, '.go.mod.generated');
  // `go mod tidy` rewrites go.mod (adds indirect requirements), so compare against what we generated last time.
  const unchanged =
    fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === goMod && fs.existsSync(path.join(dir, 'go.sum'));
  if (unchanged) return;
  writeFileAtomic(modFile, goMod);
  fs.rmSync(path.join(dir, 'go.sum'), { force: true });
  const start = Date.now();
  log('build', `${what}: go mod tidy (downloads modules from the Go module proxy on a cold cache)`);
  await runOk(goBinary(), ['mod', 'tidy'], { cwd: dir, env: goEnv() });
  log('build', `${what}: go mod tidy done in ${formatDuration(Date.now() - start)}`);
  writeFileAtomic(stampFile, goMod);
}

/** kube-apiserver, kube-controller-manager and kubectl at KUBERNETES_VERSION (env overrides win). */
export async function ensureKubernetesBinaries(): Promise<KubernetesBinaries> {
  const overrides = {
    kubeApiserver: fromEnv('KUBE_APISERVER_BIN'),
    kubeControllerManager: fromEnv('KUBE_CONTROLLER_MANAGER_BIN'),
    kubectl: fromEnv('KUBECTL_BIN'),
  };
  if (overrides.kubeApiserver && overrides.kubeControllerManager && overrides.kubectl) {
    return overrides as KubernetesBinaries;
  }
  const outDir = path.join(binDir(), `kubernetes-${KUBERNETES_VERSION}`);
  const built: KubernetesBinaries = {
    kubeApiserver: path.join(outDir, 'kube-apiserver'),
    kubeControllerManager: path.join(outDir, 'kube-controller-manager'),
    kubectl: path.join(outDir, 'kubectl'),
  };
  const complete = () =>
    Object.values(built).every(isExecutable) && fs.existsSync(path.join(outDir, 'build-info.json'));
  if (!complete()) {
    fs.mkdirSync(buildDir(), { recursive: true });
    const release = await acquireLock(
      path.join(buildDir(), `kubernetes-${KUBERNETES_VERSION}.lock`),
      `building kubernetes ${KUBERNETES_VERSION}`,
    );
    try {
      if (!complete()) {
        const start = Date.now();
        const what = `kubernetes ${KUBERNETES_VERSION} (kube-apiserver, kube-controller-manager, kubectl)`;
        log(
          'build',
          `${what}: not cached in ${outDir}; building from the Go module proxy (cold: about 9 minutes on 2 cores)`,
        );
        const dir = path.join(buildDir(), `kubernetes-${KUBERNETES_VERSION}`);
        const pkgs = ['kube-apiserver', 'kube-controller-manager', 'kubectl'].map((c) => `k8s.io/kubernetes/cmd/${c}`);
        const tools = [
          '//go:build tools',
          '',
          '// Generated by spiderpool-guard testbed/binaries.ts: pins the commands we build.',
          'package tools',
          '',
          'import (',
          ...pkgs.map((p) => `\t_ "${p}"`),
          ')',
          '',
        ].join('\n');
        await prepareModule(dir, await kubernetesGoMod(), { 'tools.go': tools }, what);
        const tmpOut = path.join(buildDir(), `kubernetes-${KUBERNETES_VERSION}.out`);
        fs.rmSync(tmpOut, { recursive: true, force: true });
        fs.mkdirSync(tmpOut, { recursive: true });
        await goWithProgress(what, ['build', '-mod=mod', '-v', ldflags, '-o', tmpOut + '/', ...pkgs], dir, goEnv());
        fs.mkdirSync(outDir, { recursive: true });
        for (const name of ['kube-apiserver', 'kube-controller-manager', 'kubectl'])
          fs.renameSync(path.join(tmpOut, name), path.join(outDir, name));
        fs.rmSync(tmpOut, { recursive: true, force: true });
        writeBuildInfo(outDir, KUBERNETES_VERSION, Date.now() - start, await goVersion());
        log('build', `${what}: installed in ${outDir} (total ${formatDuration(Date.now() - start)})`);
      }
    } finally {
      release();
    }
  }
  return {
    kubeApiserver: overrides.kubeApiserver ?? built.kubeApiserver,
    kubeControllerManager: overrides.kubeControllerManager ?? built.kubeControllerManager,
    kubectl: overrides.kubectl ?? built.kubectl,
  };
}

/** etcd server at ETCD_VERSION (ETCD_BIN wins). */
export async function ensureEtcd(): Promise<string> {
  const override = fromEnv('ETCD_BIN');
  if (override) return override;
  const outDir = path.join(binDir(), `etcd-${ETCD_VERSION}`);
  const bin = path.join(outDir, 'etcd');
  const complete = () => isExecutable(bin) && fs.existsSync(path.join(outDir, 'build-info.json'));
  if (complete()) return bin;
  fs.mkdirSync(buildDir(), { recursive: true });
  const release = await acquireLock(
    path.join(buildDir(), `etcd-${ETCD_VERSION}.lock`),
    `building etcd ${ETCD_VERSION}`,
  );
  try {
    if (!complete()) {
      const start = Date.now();
      const what = `etcd ${ETCD_VERSION}`;
      log('build', `${what}: not cached in ${outDir}; building from the Go module proxy`);
      const dir = path.join(buildDir(), `etcd-${ETCD_VERSION}`);
      const goMod = [
        '// Generated by spiderpool-guard testbed/binaries.ts. Do not edit.',
        'module spiderpool-guard.local/build/etcd',
        '',
        'go 1.24.0',
        '',
        `require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}`,
        '',
      ].join('\n');
      const main = [
        '// Generated by spiderpool-guard testbed/binaries.ts: the etcd server binary.',
        'package main',
        '',
        'import (',
        '\t"os"',
        '',
        '\t"go.etcd.io/etcd/server/v3/etcdmain"',
        ')',
        '',
        'func main() {',
        '\tetcdmain.Main(os.Args)',
        '}',
        '',
      ].join('\n');
      await prepareModule(dir, goMod, { 'cmd/etcd/main.go': main }, what);
      const tmpOut = path.join(buildDir(), `etcd-${ETCD_VERSION}.out`);
      fs.rmSync(tmpOut, { recursive: true, force: true });
      fs.mkdirSync(tmpOut, { recursive: true });
      await goWithProgress(what, ['build', '-mod=mod', '-v', ldflags, '-o', tmpOut + '/', './cmd/etcd'], dir, goEnv());
      fs.mkdirSync(outDir, { recursive: true });
      fs.renameSync(path.join(tmpOut, 'etcd'), bin);
      fs.rmSync(tmpOut, { recursive: true, force: true });
      writeBuildInfo(outDir, ETCD_VERSION, Date.now() - start, await goVersion());
    }
  } finally {
    release();
  }
  return bin;
}

interface GoInstallRecipe {
  /** directory name under bin/ and in messages: `<name>-<version>` */
  name: string;
  version: string;
  /** the main package, installed as `<pkg>@<version>` */
  pkg: string;
  /** env var naming a binary to use instead */
  envVar: string;
  /** go build tags (-tags) */
  tags?: string[];
  /** arguments that make the fresh binary print its version, logged once after the build */
  versionArgs: string[];
}

/**
 * One command `go install`ed from the Go module proxy at a pinned version into bin/<name>-<version>/, under a lock
 * (concurrent callers wait), with its build time recorded. For modules without replace directives (go install
 * refuses those).
 */
async function ensureGoInstalled(recipe: GoInstallRecipe): Promise<string> {
  const override = fromEnv(recipe.envVar);
  if (override) return override;
  const command = path.basename(recipe.pkg);
  const outDir = path.join(binDir(), `${recipe.name}-${recipe.version}`);
  const bin = path.join(outDir, command);
  const complete = () => isExecutable(bin) && fs.existsSync(path.join(outDir, 'build-info.json'));
  if (complete()) return bin;
  const what = `${recipe.name} ${recipe.version}`;
  fs.mkdirSync(buildDir(), { recursive: true });
  const release = await acquireLock(path.join(buildDir(), `${recipe.name}-${recipe.version}.lock`), `building ${what}`);
  try {
    if (!complete()) {
      const start = Date.now();
      fs.mkdirSync(outDir, { recursive: true });
      const tags = recipe.tags?.length ? [`-tags=${recipe.tags.join(',')}`] : [];
      await goWithProgress(
        what,
        ['install', '-v', ldflags, ...tags, `${recipe.pkg}@${recipe.version}`],
        buildDir(),
        goEnv({ GOBIN: outDir }),
      );
      const check = await runOk(bin, recipe.versionArgs, {});
      log('build', `${what}: ${(check.stdout + check.stderr).trim().split('\n')[0]}`);
      writeBuildInfo(outDir, recipe.version, Date.now() - start, await goVersion());
    }
  } finally {
    release();
  }
  return bin;
}

/** helm at HELM_VERSION (HELM_BIN wins). Built lazily: only chart tests need it. */
export function ensureHelm(): Promise<string> {
  return ensureGoInstalled({
    name: 'helm',
    version: HELM_VERSION,
    pkg: 'helm.sh/helm/v3/cmd/helm',
    envVar: 'HELM_BIN',
    versionArgs: ['version', '--short'],
  });
}

/**
 * promtool at PROMTOOL_VERSION (PROMTOOL_BIN wins). Built lazily: only the chart's alert tests need it (cold: about
 * 7.5 minutes on 2 shared cores). The `remove_all_sd` tag is Prometheus' own switch that leaves out the
 * service-discovery plugins and their cloud SDKs, which `check rules` and `test rules` never use. A go-installed
 * promtool prints an empty version (Prometheus stamps it with ldflags in its own release builds).
 */
export function ensurePromtool(): Promise<string> {
  return ensureGoInstalled({
    name: 'promtool',
    version: PROMTOOL_VERSION,
    pkg: 'github.com/prometheus/prometheus/cmd/promtool',
    envVar: 'PROMTOOL_BIN',
    tags: ['remove_all_sd'],
    versionArgs: ['--version'],
  });
}

/** All binaries a test bed needs (kubernetes + etcd; helm is separate). Builds sequentially (2 cores). */
export async function ensureBinaries(): Promise<TestbedBinaries> {
  const start = Date.now();
  const kube = await ensureKubernetesBinaries();
  const etcd = await ensureEtcd();
  log('binaries', `ready in ${formatDuration(Date.now() - start)}`);
  return { ...kube, etcd };
}

/** Recorded build timings (from build-info.json), for reports. */
export function buildInfo(): Record<string, BuildInfo | undefined> {
  const read = (dir: string): BuildInfo | undefined => {
    try {
      return JSON.parse(fs.readFileSync(path.join(binDir(), dir, 'build-info.json'), 'utf8')) as BuildInfo;
    } catch {
      return undefined;
    }
  };
  return {
    kubernetes: read(`kubernetes-${KUBERNETES_VERSION}`),
    etcd: read(`etcd-${ETCD_VERSION}`),
    helm: read(`helm-${HELM_VERSION}`),
    promtool: read(`promtool-${PROMTOOL_VERSION}`),
  };
}

if (require.main === module) {
  (async () => {
    const bins: Record<string, string> = { ...(await ensureBinaries()) };
    if (process.argv.includes('--helm')) bins.helm = await ensureHelm();
    if (process.argv.includes('--promtool')) bins.promtool = await ensurePromtool();
    process.stdout.write(JSON.stringify(bins, null, 2) + '\n');
  })().catch((err: unknown) => {
    log('binaries', err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  });
}
