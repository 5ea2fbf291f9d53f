/**
 * Test bed CLI:  npm run -s testbed -- <command> [--name NAME] [--nodes N]
 *
 *   up        obtain binaries (build on a cold cache), start the test bed detached, print the kubeconfig path as
 *             the LAST line of stdout (progress goes to stderr). If it already runs, just print the path.
 *   down      stop it (every process of its group) and remove its state directory (data, logs, PKI).
 *   status    print the state (phase, pids alive, ports, kubeconfig) and `kubectl get nodes,crd`.
 *   binaries  only obtain the binaries (add --helm, --promtool for those too) and print their paths as JSON.
 *
 * The default name is "default" (state in ~/.cache/spiderpool-guard/testbed/default/). Use it from a shell:
 *   export SPG_TESTBED_KUBECONFIG=$(npm run -s testbed -- up)   # then `npx jest --selectProjects e2e` reuses it
 */
import { buildInfo, ensureBinaries, ensureHelm, ensurePromtool } from './binaries';
import { isRunning, launchTestbed, stopTestbed } from './lifecycle';
import { defaultStateDir, groupMembers, readState } from './state';
import { formatDuration, isAlive, log, run } from './util';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const name = flag(args, '--name') ?? process.env.SPG_TESTBED_NAME ?? 'default';
  const stateDir = flag(args, '--state-dir') ?? defaultStateDir(name);
  switch (command) {
    case 'up': {
      const start = Date.now();
      const nodes = Number(flag(args, '--nodes') ?? '3');
      const state = await launchTestbed({ name, stateDir, nodes, reuseRunning: true });
      log(
        'cli',
        `up in ${formatDuration(Date.now() - start)}; stop with: npm run -s testbed -- down${name !== 'default' ? ` --name ${name}` : ''}`,
      );
      process.stdout.write(`${state.kubeconfigPath}\n`);
      return 0;
    }
    case 'down': {
      const was = await stopTestbed(stateDir);
      process.stderr.write(
        was ? `test bed "${name}" stopped and removed\n` : `no test bed "${name}" was running (state removed)\n`,
      );
      return 0;
    }
    case 'status': {
      const state = readState(stateDir);
      if (!state) {
        process.stdout.write(`test bed "${name}": not running (no state in ${stateDir})\n`);
        return 1;
      }
      const running = isRunning(state);
      const pid = (p?: number) => (p === undefined ? '-' : `${p}${isAlive(p) ? '' : ' (dead)'}`);
      const lines = [
        `test bed "${state.name}": ${running ? state.phase : `not running (last phase ${state.phase})`}${state.error ? ` error: ${state.error}` : ''}`,
        `  apiserver     ${state.apiserverUrl}`,
        `  kubeconfig    ${state.kubeconfigPath}`,
        `  state dir     ${state.stateDir}`,
        `  audit log     ${state.auditLogPath}`,
        `  supervisor    pid ${pid(state.supervisorPid)} (process group ${state.pgid}: ${groupMembers(state.pgid).length} live processes)`,
        `  etcd          pid ${pid(state.pids.etcd)} client 127.0.0.1:${state.ports.etcdClient}`,
        `  apiserver     pid ${pid(state.pids.kubeApiserver)} port ${state.ports.apiserver}`,
        `  controller-mgr pid ${pid(state.pids.kubeControllerManager)} port ${state.ports.controllerManager}`,
        `  started       ${state.startedAt}${state.startupSeconds !== undefined ? ` (ready after ${state.startupSeconds}s)` : ''}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
      if (running && state.phase === 'ready') {
        const res = await run(state.binaries.kubectl, [
          '--kubeconfig',
          state.kubeconfigPath,
          'get',
          'nodes,crd',
          '-o',
          'wide',
        ]);
        process.stdout.write(res.stdout + res.stderr);
      }
      return running && state.phase === 'ready' ? 0 : 1;
    }
    case 'binaries': {
      const bins: Record<string, string> = { ...(await ensureBinaries()) };
      if (args.includes('--helm')) bins.helm = await ensureHelm();
      if (args.includes('--promtool')) bins.promtool = await ensurePromtool();
      process.stdout.write(JSON.stringify({ binaries: bins, builds: buildInfo() }, null, 2) + '\n');
      return 0;
    }
    default:
      process.stderr.write(
        'usage: npm run -s testbed -- up|down|status|binaries [--name NAME] [--state-dir DIR] [--nodes N] [--helm] [--promtool]\n',
      );
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`testbed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
