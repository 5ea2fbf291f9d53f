/**
 * jest globalSetup of the e2e project: starts ONE test bed for the whole run and exposes it to the tests through
 * environment variables (inherited by the test workers):
 *   SPG_TESTBED_KUBECONFIG  admin kubeconfig path       (read by test/e2e/support/testbed.ts)
 *   SPG_TESTBED_STATE_DIR   state dir (PKI, logs, audit log)
 * If SPG_TESTBED_KUBECONFIG is already set (e.g. `export SPG_TESTBED_KUBECONFIG=$(npm run -s testbed -- up)`),
 * that cluster is reused and left running. SPG_TESTBED_KEEP=1 keeps the started test bed after the run.
 * SPG_E2E_LOAD=N runs the suite on a busy machine: N busy-loop processes spin until globalTeardown (cpu-load.ts).
 */
import { LOAD_PIDS_ENV, loadProcessesFromEnv, startCpuLoad, stopCpuLoad } from './cpu-load';
import { launchTestbed, killTestbedSync } from './lifecycle';
import { formatDuration, log } from './util';

export const OWNED_ENV = 'SPG_TESTBED_OWNED_STATE_DIR';

/** SPG_E2E_LOAD=N: N busy loops for the whole run, stopped by globalTeardown, on exit, or (killed jest) by themselves. */
function startLoad(): void {
  const n = loadProcessesFromEnv();
  if (n === 0) return;
  const pids = startCpuLoad(n);
  process.env[LOAD_PIDS_ENV] = pids.join(',');
  process.once('exit', () => stopCpuLoad(pids));
  log('jest', `SPG_E2E_LOAD=${n}: ${pids.length} busy-loop processes (pids ${pids.join(', ')}) until the run ends`);
}

export default async function globalSetup(): Promise<void> {
  startLoad();
  if (process.env.SPG_TESTBED_KUBECONFIG) {
    log('jest', `reusing the test bed of SPG_TESTBED_KUBECONFIG=${process.env.SPG_TESTBED_KUBECONFIG}`);
    return;
  }
  const start = Date.now();
  const keep = process.env.SPG_TESTBED_KEEP === '1';
  const state = await launchTestbed({ name: `jest-${process.pid}`, watchPid: keep ? undefined : process.pid });
  process.env.SPG_TESTBED_KUBECONFIG = state.kubeconfigPath;
  process.env.SPG_TESTBED_STATE_DIR = state.stateDir;
  if (keep) {
    log(
      'jest',
      `SPG_TESTBED_KEEP=1: the test bed stays up; reuse it with SPG_TESTBED_KUBECONFIG=${state.kubeconfigPath}, stop it with: npm run -s testbed -- down --state-dir ${state.stateDir}`,
    );
  } else {
    process.env[OWNED_ENV] = state.stateDir;
    // Last resort if jest exits without running globalTeardown; the supervisor also watches this pid.
    process.once('exit', () => killTestbedSync(state));
  }
  log('jest', `test bed up in ${formatDuration(Date.now() - start)} (startup ${state.startupSeconds ?? '?'}s)`);
}
