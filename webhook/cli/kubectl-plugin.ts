#!/usr/bin/env node
// `kubectl spiderpool-guard <command> [flags]`: installed as `kubectl-spiderpool_guard` on PATH (kubectl maps the
// dash of the subcommand to that underscore). kubectl hands a plugin nothing but the user's arguments and
// environment, so this entry gives check and reconcile what kubectl users expect: without --kubeconfig or
// --snapshot they read the cluster of the current context, from every file of $KUBECONFIG (merged as kubectl
// merges them) or else ~/.kube/config. Everything else, --context and --namespace included, goes to the CLI as
// given: the command's own flag table decides what it accepts.
import * as os from 'node:os';
import * as path from 'node:path';
import { runAsProcess } from './main';

/** Commands that read a live cluster and take --kubeconfig. */
const LIVE_COMMANDS = new Set(['check', 'reconcile']);
const SOURCE_FLAGS = ['--kubeconfig', '--snapshot'];

function hasFlag(args: readonly string[], flags: readonly string[]): boolean {
  return args.some((a) => flags.some((f) => a === f || a.startsWith(`${f}=`)));
}

/** The kubeconfig kubectl would use: $KUBECONFIG (a list of files, passed on whole) or ~/.kube/config. */
export function defaultKubeconfig(env: NodeJS.ProcessEnv, home: string): string {
  const list = env.KUBECONFIG ?? '';
  return list.split(path.delimiter).some((f) => f !== '') ? list : path.join(home, '.kube', 'config');
}

/** The CLI's argv for the plugin's argv: --kubeconfig added where kubectl users would expect it implied. */
export function pluginArgv(argv: readonly string[], env: NodeJS.ProcessEnv, home: string): string[] {
  const [command, ...rest] = argv;
  if (command === undefined || !LIVE_COMMANDS.has(command)) return [...argv];
  if (hasFlag(rest, [...SOURCE_FLAGS, '--help', '-h'])) return [...argv];
  return [command, '--kubeconfig', defaultKubeconfig(env, home), ...rest];
}

if (require.main === module) runAsProcess(pluginArgv(process.argv.slice(2), process.env, os.homedir()));
