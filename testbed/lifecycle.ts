/**
 * Starting and stopping test beds from the outside (CLI, jest globalSetup/Teardown, scripts). A test bed runs in a
 * detached supervisor process (supervisor.ts) that leads its own process group, so it survives the CLI that
 * started it; stopping it means SIGTERM to the supervisor (which stops its children in order), then SIGKILL to the
 * whole group for anything left, then removing the state directory.
 *
 * This module imports no Kubernetes client code (jest's globalSetup stays light); see testbed.ts for the
 * client-node based API.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBinaries, type TestbedBinaries } from './binaries';
import { RESTART_REQUEST_FILE } from './cluster';
import { removeNetworkOf } from './runner/network';
import { defaultStateDir, groupMembers, readState, type SupervisorConfig, type TestbedState } from './state';
import { formatDuration, isAlive, log, sleep, testbedsRoot } from './util';

export interface LaunchOptions {
  /** Test bed name: its state directory is `~/.cache/spiderpool-guard/testbed/<name>` (default "default"). */
  name?: string;
  /** Explicit state directory (overrides name-based placement). */
  stateDir?: string;
  /** Number of Node objects (node-1..node-N), default 3. */
  nodes?: number;
  /** The supervisor stops the test bed as soon as this process is gone (e.g. process.pid for jest). */
  watchPid?: number;
  /** When a ready test bed already runs in the state directory, return it instead of failing. */
  reuseRunning?: boolean;
  /** Binaries to use (default: ensureBinaries(), which builds them on a cold cache). */
  binaries?: TestbedBinaries;
  /** Time allowed for the supervisor to report ready (default 5 min). */
  timeoutMs?: number;
  /** Copy the supervisor's progress lines to our stderr while waiting (default true). */
  showProgress?: boolean;
  /**
   * Run pods of known images as processes (the runner: testbed/runner). Default: yes when running as root
   * with iproute2, unless SPG_TESTBED_RUN_PODS=0.
   */
  runPods?: boolean;
  /** kube-controller-manager's controllers (default CONTROLLERS in cluster.ts) */
  controllers?: readonly string[];
  /** kube-apiserver's --feature-gates (e.g. "WatchList=false": an API server refusing streaming lists) */
  apiserverFeatureGates?: string;
}

/** True when the test bed recorded in this state has at least one live process. */
export function isRunning(state: TestbedState): boolean {
  return groupMembers(state.pgid).length > 0 || isAlive(state.supervisorPid);
}

function tsxLoader(): string {
  return pathToFileURL(require.resolve('tsx')).href;
}

/**
 * Removes state directories (and pod networks) of test beds that are no longer running and whose watched process
 * (jest) is gone, i.e. leftovers of killed runs. Directories of test beds without a watched process (CLI `up`) are
 * kept: `down` reports on them.
 */
export async function pruneStaleTestbeds(): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(testbedsRoot());
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(testbedsRoot(), name);
    const state = readState(dir);
    if (!state || state.watchPid === undefined || isRunning(state) || isAlive(state.watchPid)) continue;
    log('testbed', `removing leftovers of stopped test bed "${state.name}" (${dir})`);
    await removeNetworkOf(dir); // its pod namespaces and bridge, if its supervisor was killed before cleaning up
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a test bed (detached) and resolves with its state once it is ready. */
export async function launchTestbed(opts: LaunchOptions = {}): Promise<TestbedState> {
  const name = opts.name ?? 'default';
  const stateDir = path.resolve(opts.stateDir ?? defaultStateDir(name));
  const existing = readState(stateDir);
  if (existing && isRunning(existing)) {
    if (opts.reuseRunning && existing.phase === 'ready') {
      log('testbed', `reusing running test bed "${existing.name}" (${existing.apiserverUrl})`);
      return existing;
    }
    throw new Error(
      `a test bed is already running in ${stateDir} (phase ${existing.phase}, supervisor pid ${existing.supervisorPid}); stop it first (npm run -s testbed -- down)`,
    );
  }
  if (fs.existsSync(stateDir)) await stopTestbed(stateDir); // stale leftovers of a crashed run
  await pruneStaleTestbeds();

  const binaries = opts.binaries ?? (await ensureBinaries());
  const runPods = opts.runPods ?? process.env.SPG_TESTBED_RUN_PODS !== '0';
  const config: SupervisorConfig = {
    name,
    stateDir,
    binaries,
    nodes: opts.nodes ?? 3,
    watchPid: opts.watchPid,
    runPods,
    ...(opts.controllers ? { controllers: [...opts.controllers] } : {}),
    ...(opts.apiserverFeatureGates ? { apiserverFeatureGates: opts.apiserverFeatureGates } : {}),
  };
  fs.mkdirSync(path.join(stateDir, 'logs'), { recursive: true });
  const supervisorLog = path.join(stateDir, 'logs', 'supervisor.log');
  const fd = fs.openSync(supervisorLog, 'a');
  const start = Date.now();
  log('testbed', `starting test bed "${name}" in ${stateDir}`);
  const child = spawn(
    process.execPath,
    ['--import', tsxLoader(), path.join(__dirname, 'supervisor.ts'), JSON.stringify(config)],
    {
      detached: true, // own session + process group: survives us, and `kill -- -pid` reaches all its children
      stdio: ['ignore', fd, fd],
      cwd: stateDir,
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  fs.closeSync(fd);
  const supervisorPid = child.pid;
  if (supervisorPid === undefined) throw new Error('could not spawn the test bed supervisor');
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = signal ?? `exit ${code}`));
  child.unref();

  const timeoutMs = opts.timeoutMs ?? 300000;
  let logOffset = 0;
  const pump = () => {
    if (opts.showProgress === false) return;
    try {
      const buf = fs.readFileSync(supervisorLog);
      if (buf.length > logOffset) {
        process.stderr.write(buf.subarray(logOffset));
        logOffset = buf.length;
      }
    } catch {
      /* not there yet */
    }
  };
  // Until the test bed is ready, an interrupt of this process must not leave a half-started (detached) cluster.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => (interrupted = sig);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    for (;;) {
      pump();
      if (interrupted) throw new Error(`interrupted by ${interrupted} while the test bed was starting; stopped it`);
      const state = readState(stateDir);
      if (state?.phase === 'ready') {
        log(
          'testbed',
          `test bed "${name}" ready in ${formatDuration(Date.now() - start)} (kubeconfig ${state.kubeconfigPath})`,
        );
        return state;
      }
      if (state?.phase === 'failed')
        throw new Error(
          `test bed failed to start: ${state.error ?? 'unknown error'} (logs in ${path.join(stateDir, 'logs')})`,
        );
      if (exited !== undefined || !isAlive(supervisorPid)) {
        throw new Error(
          `test bed supervisor exited (${exited ?? 'gone'}) before the cluster was ready; see ${supervisorLog}:\n${lastLines(supervisorLog, 30)}`,
        );
      }
      if (Date.now() - start > timeoutMs)
        throw new Error(`test bed not ready after ${formatDuration(timeoutMs)}; see ${path.join(stateDir, 'logs')}`);
      await sleep(200);
    }
  } catch (err) {
    pump();
    await killGroup(supervisorPid, readState(stateDir));
    // Keep the logs of a failed start for inspection; remove only the bulky data.
    fs.rmSync(path.join(stateDir, 'etcd-data'), { recursive: true, force: true });
    if (interrupted) fs.rmSync(stateDir, { recursive: true, force: true });
    throw err;
  } finally {
    for (const s of signals) process.removeListener(s, onSignal);
  }
}

async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const start = Date.now();
  while (groupMembers(pgid).length > 0) {
    if (Date.now() - start > timeoutMs) return false;
    await sleep(100);
  }
  return true;
}

async function killGroup(supervisorPid: number, state: TestbedState | undefined): Promise<void> {
  const pgid = state?.pgid ?? supervisorPid;
  if (isAlive(supervisorPid)) {
    try {
      process.kill(supervisorPid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  if (await waitGroupGone(pgid, 30000)) return;
  log(
    'testbed',
    `processes ${groupMembers(pgid).join(', ')} still alive 30s after SIGTERM: SIGKILL process group ${pgid}`,
  );
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* gone */
  }
  // Children whose pids are recorded but that somehow left the group.
  for (const pid of Object.values(state?.pids ?? {})) {
    if (pid !== undefined && isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  await waitGroupGone(pgid, 5000);
}

/**
 * Stops the test bed recorded in `stateDir` (if any process is left) and removes the directory.
 * Returns true when something was running.
 */
export async function stopTestbed(stateDir: string, opts: { keepDir?: boolean } = {}): Promise<boolean> {
  const state = readState(stateDir);
  let wasRunning = false;
  if (state && isRunning(state)) {
    wasRunning = true;
    const start = Date.now();
    log('testbed', `stopping test bed "${state.name}" (supervisor pid ${state.supervisorPid})`);
    await killGroup(state.supervisorPid, state);
    log('testbed', `stopped in ${formatDuration(Date.now() - start)}`);
  }
  // Pod sandboxes and the bridge of a supervisor that could not clean up (SIGKILLed, crashed).
  await removeNetworkOf(stateDir);
  if (!opts.keepDir) fs.rmSync(stateDir, { recursive: true, force: true });
  return wasRunning;
}

/**
 * Synchronous last-resort cleanup for process 'exit' handlers: SIGTERM to the whole process group (every child
 * exits on it; nothing waits for them).
 */
export function killTestbedSync(state: TestbedState): void {
  try {
    process.kill(-state.pgid, 'SIGTERM');
  } catch {
    /* already gone */
  }
}

function lastLines(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Fault injection: has the supervisor kill -9 this test bed's kube-apiserver and start it again (same flags, same
 * port). Resolves with the new pid once it is spawned; it answers /readyz 200 some seconds later.
 */
export async function restartApiserver(stateDir: string, timeoutMs = 30_000, downMs = 0): Promise<number> {
  const before = readState(stateDir);
  if (!before?.pids.kubeApiserver) throw new Error(`no running test bed in ${stateDir}`);
  if (downMs > 0) fs.writeFileSync(path.join(stateDir, RESTART_REQUEST_FILE), JSON.stringify({ downMs }));
  process.kill(before.supervisorPid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = readState(stateDir)?.pids.kubeApiserver;
    if (pid && pid !== before.pids.kubeApiserver) return pid;
    if (Date.now() > deadline)
      throw new Error(`kube-apiserver of ${stateDir} not restarted within ${formatDuration(timeoutMs)}`);
    await sleep(50);
  }
}
