/**
 * Small shared helpers for the test bed: cache/state paths, stderr progress logging, a cross-process lock,
 * child-process helpers and free-port picking. No Kubernetes knowledge here.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Root of everything the test bed caches: `$SPG_CACHE_DIR` or `~/.cache/spiderpool-guard`. */
export function cacheRoot(): string {
  return (
    process.env.SPG_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'spiderpool-guard')
  );
}

/** Directory holding the state directories of running test beds (one sub-directory per test bed name). */
export function testbedsRoot(): string {
  return process.env.SPG_TESTBED_ROOT ?? path.join(cacheRoot(), 'testbed');
}

const t0 = Date.now();

/** Progress line on stderr, prefixed with the component and the seconds since this process started. */
export function log(component: string, message: string): void {
  const secs = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[testbed ${secs}s] ${component}: ${message}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** True when a process with this pid exists (signal 0 probe). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cross-process exclusive lock implemented with an O_EXCL lock file holding the owner's pid.
 * A lock whose owner process is gone is taken over. Waits (printing a note every 30 s) while another live
 * process holds it. Returns the release function.
 */
export async function acquireLock(lockPath: string, what: string): Promise<() => void> {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  let lastNote = 0;
  const start = Date.now();
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          if (fs.readFileSync(lockPath, 'utf8').trim() === String(process.pid)) fs.unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let content: string;
    try {
      content = fs.readFileSync(lockPath, 'utf8').trim();
    } catch {
      continue; // vanished between open and read: retry at once
    }
    const owner = Number.parseInt(content, 10);
    const halfWritten = !Number.isFinite(owner);
    const stale = halfWritten ? Date.now() - safeMtime(lockPath) > 5000 : owner === process.pid || !isAlive(owner);
    if (stale) {
      // The owner died (or never finished writing): remove the lock unless someone else replaced it meanwhile.
      try {
        if (fs.readFileSync(lockPath, 'utf8').trim() === content) fs.unlinkSync(lockPath);
      } catch {
        /* raced with another waiter */
      }
      continue;
    }
    if (halfWritten) {
      await sleep(100);
      continue;
    }
    if (Date.now() - lastNote > 30000) {
      lastNote = Date.now();
      log(
        'lock',
        `waiting for pid ${owner} to finish ${what} (${formatDuration(Date.now() - start)} so far; lock ${lockPath})`,
      );
    }
    await sleep(500);
  }
}

function safeMtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return Date.now();
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion. Output is collected; with `echo` it is also copied to our stderr line by line
 * (prefixed), which is how long builds show their progress.
 */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { echo?: string; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { echo, input, ...spawnOpts } = opts;
    const child = spawn(cmd, args, { ...spawnOpts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const relay = (chunk: Buffer, sink: 'out' | 'err') => {
      const text = chunk.toString('utf8');
      if (sink === 'out') stdout += text;
      else stderr += text;
      if (echo !== undefined) {
        for (const line of text.split('\n')) if (line.trim() !== '') log(echo, line);
      }
    };
    child.stdout?.on('data', (c: Buffer) => relay(c, 'out'));
    child.stderr?.on('data', (c: Buffer) => relay(c, 'err'));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** Like run(), but rejects with the command's output when it does not exit 0. */
export async function runOk(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { echo?: string; input?: string } = {},
): Promise<RunResult> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) {
    const tail = (res.stderr + res.stdout).split('\n').slice(-40).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.code ?? res.signal}):\n${tail}`);
  }
  return res;
}

/** Picks `n` distinct TCP ports that are free on 127.0.0.1 right now (bind to port 0, read, close). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve());
      });
      ports.push((srv.address() as net.AddressInfo).port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
  return ports;
}

/** Writes a file atomically (temp file + rename) so readers never see half a file. */
export function writeFileAtomic(file: string, data: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}
