/**
 * The Dockerfile's runtime stage, recreated on this machine (which has no container engine): its COPY lines copy
 * the same files into a directory, its RUN steps run there, and its ENV, USER and ENTRYPOINT say how to start the
 * guard. Read from the Dockerfile itself, so the image and this test cannot drift apart; a RUN step this module
 * does not know fails loudly instead of being skipped.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  name: string;
  instructions: Instruction[];
}

/** Stages of a Dockerfile: instructions with line continuations joined and comments dropped. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(l)}`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') {
      const as = /\s+AS\s+(\S+)\s*$/i.exec(m[2]);
      stages.push({ name: as ? as[1] : String(stages.length), instructions: [] });
      continue;
    }
    if (stages.length === 0) continue; // ARG before the first FROM
    stages[stages.length - 1].instructions.push({ op, args: m[2] });
  }
  return stages;
}

/** The variables an ENV instruction's arguments set (`K=V K2="V 2"`), quotes removed. */
export function envAssignments(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  return env;
}

export interface StageCopy {
  /** stage the files come from; undefined: the build context (the repository) */
  from?: string;
  sources: string[];
  dest: string;
}

function stage(stages: Stage[], name: string): Stage {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage ${name}`);
  return s;
}

function workdirOf(s: Stage): string {
  const w = [...s.instructions].reverse().find((i) => i.op === 'WORKDIR');
  return w ? w.args.trim() : '/';
}

export function copiesOf(s: Stage): StageCopy[] {
  return s.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      const unknown = flags.filter((f) => !f.startsWith('--from='));
      if (unknown.length) throw new Error(`Dockerfile COPY ${i.args}: flags ${unknown.join(' ')} are not modelled`);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
    });
}

/**
 * Files of the runtime stage that come from the build stage, as repository paths (the build stage's WORKDIR is the
 * repository root, and its `npm run build` wrote dist/ as a local build does).
 */
export function runtimeFilesFromBuild(text: string, runtime = 'runtime'): { source: string; dest: string }[] {
  const stages = parseDockerfile(text);
  const out: { source: string; dest: string }[] = [];
  for (const c of copiesOf(stage(stages, runtime))) {
    if (c.from === undefined) continue;
    for (const src of c.sources)
      out.push({ source: repoPathOf(stages, c.from, src), dest: path.posix.normalize(c.dest) });
  }
  return out;
}

/** A path of stage `from` as a repository path: the stage's WORKDIR stands for the repository root. */
function repoPathOf(stages: Stage[], from: string, src: string): string {
  const root = workdirOf(stage(stages, from)).replace(/\/$/, '') + '/';
  if (!src.startsWith(root)) throw new Error(`COPY --from=${from} ${src}: not under that stage's WORKDIR ${root}`);
  return src.slice(root.length);
}

/** How the runtime stage starts the guard, after recreateRuntimeStage. */
export interface RuntimeImage {
  dir: string;
  env: Record<string, string>;
  user?: { uid: number; gid: number };
  entrypoint: string[];
  /**
   * per RUN segment: what it was and how long it took here (ms), or why it was skipped, or (Debian packages) which
   * installed versions stand for it
   */
  steps: { step: string; ms?: number; skipped?: string; host?: string }[];
}

/** RUN segments that clean the image's own caches: meaningless here, and `rm -rf /tmp/*` must never run on a host. */
const IMAGE_HYGIENE = [/^npm cache clean\b/, /^rm -rf\s/];

/**
 * An `apt-get install` of the image's Debian packages: the base image is Debian as this machine is, so the step is
 * recreated by requiring each package installed here (.ci/run installs them), never by installing into the host.
 * Returns what was found, e.g. "libjemalloc2 5.3.0-1".
 */
async function requireDebianPackages(segment: string): Promise<string> {
  const packages = segment
    .split(/\s+/)
    .slice(2)
    .filter((w) => !w.startsWith('-'));
  if (packages.length === 0) throw new Error(`Dockerfile RUN ${JSON.stringify(segment)}: no package named`);
  const found: string[] = [];
  for (const p of packages) {
    const status = await execFileP('dpkg-query', ['-W', '-f=${Status} ${Version}', p]).then(
      (r) => r.stdout,
      () => 'not installed',
    );
    const m = /^install ok installed (\S+)$/.exec(status.trim());
    if (!m)
      throw new Error(
        `the Dockerfile installs the Debian package ${p}, which this machine lacks (${status.trim()}): apt-get install ${p}`,
      );
    found.push(`${p} ${m[1]}`);
  }
  return found.join(', ');
}

/**
 * Recreates the runtime stage in `dir` (empty): COPY from the build context (`repo`) or from the build stage
 * (`repo`'s built dist), and RUN's npm steps in `dir`. `npmFlags` are added to npm commands (e.g. --prefer-offline).
 */
export async function recreateRuntimeStage(
  text: string,
  repo: string,
  dir: string,
  npmFlags: string[] = [],
  runtime = 'runtime',
): Promise<RuntimeImage> {
  const stages = parseDockerfile(text);
  const st = stage(stages, runtime);
  const image: RuntimeImage = { dir, env: {}, entrypoint: [], steps: [] };
  const copyInto = (src: string, dest: string) => {
    const target = dest.endsWith('/') ? path.join(dir, dest, path.basename(src)) : path.join(dir, dest);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (!fs.existsSync(src)) throw new Error(`COPY source ${src} does not exist (run npm run build first?)`);
    fs.cpSync(src, target, { recursive: true });
  };
  for (const i of st.instructions) {
    switch (i.op) {
      case 'WORKDIR':
      case 'EXPOSE':
      case 'ARG':
        break;
      case 'ENV': {
        Object.assign(image.env, envAssignments(i.args));
        break;
      }
      case 'USER': {
        const [uid, gid] = i.args.trim().split(':').map(Number);
        if (!Number.isInteger(uid)) throw new Error(`USER ${i.args}: only numeric users are modelled`);
        image.user = { uid, gid: Number.isInteger(gid) ? gid : uid };
        break;
      }
      case 'COPY':
        for (const c of copiesOf({ name: st.name, instructions: [i] })) {
          for (const src of c.sources)
            copyInto(path.join(repo, c.from === undefined ? src : repoPathOf(stages, c.from, src)), c.dest);
        }
        break;
      case 'RUN':
        for (const segment of i.args.split('&&').map((s) => s.trim())) {
          if (IMAGE_HYGIENE.some((re) => re.test(segment))) {
            image.steps.push({ step: segment, skipped: 'image cache hygiene' });
            continue;
          }
          if (/^apt-get update\b/.test(segment)) {
            image.steps.push({ step: segment, skipped: "package index: this machine's" });
            continue;
          }
          if (/^apt-get install\s/.test(segment)) {
            image.steps.push({ step: segment, host: await requireDebianPackages(segment) });
            continue;
          }
          const words = segment.split(/\s+/);
          if (words[0] !== 'npm')
            throw new Error(
              `Dockerfile RUN step ${JSON.stringify(segment)} is not modelled by test/e2e/support/dockerfile.ts`,
            );
          const start = Date.now();
          await execFileP('npm', [...words.slice(1), ...npmFlags], {
            cwd: dir,
            maxBuffer: 16 * 1024 * 1024,
            env: { ...process.env, ...image.env },
          });
          image.steps.push({ step: segment, ms: Date.now() - start });
        }
        break;
      case 'ENTRYPOINT':
        image.entrypoint = JSON.parse(i.args) as string[];
        break;
      case 'CMD':
        break;
      default:
        throw new Error(
          `Dockerfile instruction ${i.op} of stage ${runtime} is not modelled by test/e2e/support/dockerfile.ts`,
        );
    }
  }
  return image;
}

/**
 * Runs the image's ENTRYPOINT (or `entrypoint`) with `args`, from its directory, as its USER, with its ENV and
 * nothing else (PATH only to find node). `node` is this machine's node: the base image itself cannot be recreated here.
 */
export function runImage(
  image: RuntimeImage,
  args: string[],
  timeoutMs = 60_000,
  entrypoint = image.entrypoint,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, ...rest] = entrypoint;
  const bin = cmd === 'node' ? process.execPath : cmd;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...rest, ...args], {
      cwd: image.dir,
      env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, ...image.env },
      uid: image.user?.uid,
      gid: image.user?.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
