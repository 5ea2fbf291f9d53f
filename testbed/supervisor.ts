/**
 * Supervisor process of one test bed (spawned detached by lifecycle.ts as `node --import tsx supervisor.ts
 * <config-json>`). It leads its own process group; etcd, kube-apiserver and kube-controller-manager are its
 * children in that group. It stops them all on SIGTERM/SIGINT/SIGHUP, when any of them dies unexpectedly,
 * and (when config.watchPid is set) as soon as the watched process (jest, a test script) is gone.
 * Its stdout/stderr go to <state dir>/logs/supervisor.log.
 */
import * as fs from 'node:fs';
import { Cluster } from './cluster';
import { writeState, type SupervisorConfig } from './state';
import { isAlive, log } from './util';

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as SupervisorConfig;
  const cluster = new Cluster(config);
  let exiting = false;

  const shutdown = async (reason: string, code: number, failed?: string, removeStateDir = false) => {
    if (exiting) return;
    exiting = true;
    log('supervisor', `shutting down: ${reason}`);
    cluster.state.phase = failed ? 'failed' : 'stopping';
    if (failed) cluster.state.error = failed;
    try {
      writeState(cluster.state);
    } catch {
      /* state dir may already be gone */
    }
    await cluster.stop();
    if (!failed) {
      cluster.state.phase = 'stopped';
      try {
        writeState(cluster.state);
      } catch {
        /* ignore */
      }
    }
    log('supervisor', 'all children stopped');
    // A test bed owned by a process that is gone (jest killed, a script that exited) has nobody left to run
    // `down`: remove its state directory as well.
    const orphaned = config.watchPid !== undefined && !isAlive(config.watchPid);
    if (removeStateDir || orphaned) fs.rmSync(config.stateDir, { recursive: true, force: true });
    process.exit(code);
  };

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void shutdown(sig, 0));
  process.on(
    'uncaughtException',
    (err) => void shutdown(`uncaught exception: ${err.stack ?? err.message}`, 1, err.message),
  );
  cluster.onChildExit = (_name, err) => void shutdown(err.message, 1, err.message);
  // Fault tests (lifecycle.ts restartApiserver): kill -9 kube-apiserver and start it again.
  process.on(
    'SIGUSR2',
    () =>
      void cluster
        .restartApiserver()
        .catch((err: Error) => void shutdown(`API server restart failed: ${err.message}`, 1, err.message)),
  );

  if (config.watchPid !== undefined) {
    const watched = config.watchPid;
    setInterval(() => {
      // Nobody is left to run `down`: remove the state directory too.
      if (!isAlive(watched)) void shutdown(`watched process ${watched} is gone`, 0, undefined, true);
    }, 1000).unref();
  }

  log('supervisor', `pid ${process.pid} (process group leader) for test bed "${config.name}" in ${config.stateDir}`);
  try {
    await cluster.start();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    await shutdown(`start failed: ${msg}`, 1, msg);
    return;
  }
  // Stay alive: the children keep the event loop busy; a keep-alive timer makes that explicit.
  setInterval(() => {}, 1 << 30);
}

void main();
