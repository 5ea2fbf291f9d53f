/** jest globalTeardown of the e2e project: stops the busy loops and the test bed globalSetup started (never a reused one). */
import { LOAD_PIDS_ENV, stopCpuLoad } from './cpu-load';
import { OWNED_ENV } from './jest-global-setup';
import { stopTestbed } from './lifecycle';
import { formatDuration, log } from './util';

export default async function globalTeardown(): Promise<void> {
  const load = process.env[LOAD_PIDS_ENV];
  if (load) {
    stopCpuLoad(load.split(',').map(Number));
    delete process.env[LOAD_PIDS_ENV];
  }
  const stateDir = process.env[OWNED_ENV];
  if (!stateDir) return;
  const start = Date.now();
  await stopTestbed(stateDir);
  delete process.env[OWNED_ENV];
  delete process.env.SPG_TESTBED_KUBECONFIG;
  delete process.env.SPG_TESTBED_STATE_DIR;
  log('jest', `test bed stopped in ${formatDuration(Date.now() - start)}`);
}
