/**
 * Busy-loop processes that keep the machine's CPUs busy while the e2e suite runs (`SPG_E2E_LOAD=N`): the guarantees
 * that matter most (outages, rolling upgrades) are the ones a busy node tests, and a quiet CI machine never shows
 * them. Each process spins at normal priority and exits on its own once its owner (the jest process) is gone, so a
 * crashed or killed run leaves nothing spinning; the owner also stops them in globalTeardown and on exit.
 */
import { spawn } from 'node:child_process';
import { isAlive } from './util';

/** The environment variable: how many busy-loop processes (0 or unset: none, CI's default). */
export const LOAD_ENV = 'SPG_E2E_LOAD';
/** Where globalSetup leaves the pids for globalTeardown (the two run in the same jest process). */
export const LOAD_PIDS_ENV = 'SPG_E2E_LOAD_PIDS';
/** The most a run may ask for: a typo like 20 must not take the machine away from the test bed altogether. */
export const MAX_LOAD_PROCESSES = 8;

/** The busy loop: spins, and every 500 ms checks that its owner still lives (exits when it does not). */
const LOOP = `
const owner = Number(process.argv[1]);
let next = Date.now() + 500;
for (;;) {
  for (let i = 0; i < 1e6; i++);
  if (Date.now() >= next) {
    next = Date.now() + 500;
    try { process.kill(owner, 0); } catch (e) { if (e.code !== 'EPERM') process.exit(0); }
  }
}`;

/** N from `SPG_E2E_LOAD` (unset, empty or 0: no load); anything else is an error naming the variable. */
export function loadProcessesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = (env[LOAD_ENV] ?? '').trim();
  if (raw === '' || raw === '0') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > MAX_LOAD_PROCESSES)
    throw new Error(`${LOAD_ENV}=${raw}: expected a whole number of busy-loop processes, 0 to ${MAX_LOAD_PROCESSES}`);
  return n;
}

/** Starts `n` busy loops owned by `ownerPid`; returns their pids. */
export function startCpuLoad(n: number, ownerPid = process.pid): number[] {
  const pids: number[] = [];
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, ['-e', LOOP, String(ownerPid)], { stdio: 'ignore', detached: true });
    child.unref();
    if (child.pid !== undefined) pids.push(child.pid);
  }
  return pids;
}

/** Stops the busy loops (those still running). */
export function stopCpuLoad(pids: number[]): void {
  for (const pid of pids) {
    if (!isAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
