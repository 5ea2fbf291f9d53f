/**
 * `npm run -s bench -- chaos [--guard on|off|both] [--gc v0.9.4|fixed|both] [--seed N] [--json] [--no-flap]
 *  [--no-reconcile] [--small] [--kubeconfig FILE]`
 *
 * Runs the chaos scenario once per (gc, guard) combination with the same seed, each on a fresh test bed (or, with
 * --kubeconfig, on that running test bed) in a fresh namespace with a fresh pool on its own subnet,
 * and prints a table (or the stable JSON summary with --json). Progress goes to stderr.
 */
import { parseArgs } from 'node:util';
import { connectTestbed, startTestbed, type Testbed } from '../../test/testbed/testbed';
import type { GcVersion } from './gc-scan';
import { jsonSummary, table } from './report';
import { FULL_TIMINGS, runChaos, SHORT_TIMINGS, type RunResult } from './run';
import { G00012_WORKLOADS, SMALL_WORKLOADS } from './scenario';
import { say } from './util';

export { runChaos, FULL_TIMINGS, SHORT_TIMINGS } from './run';
export type { RunConfig, RunResult } from './run';

const HELP = `Usage: npm run -s bench -- chaos [flags]
  --guard on|off|both       run without and/or with spiderpool-guard (default both: off first, then on)
  --gc v0.9.4|fixed|both    Spiderpool GC behaviour: pre-#3778 or post-#3778 (default v0.9.4)
  --seed N                  PRNG seed for the scenario's random choices and delays (default 1)
  --json                    print {"runs":[...]} instead of a table
  --no-flap                 strict G00012 scale phase (no quick StatefulSet down/up)
  --no-reconcile            guard on without its reconciler
  --small                   one StatefulSet + one Deployment, shorter delays
  --kubeconfig FILE         use a running test bed instead of starting one`;

function choice<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`--${flag}: expected one of ${allowed.join(', ')}, got ${value}`);
  return value as T;
}

export async function runChaosBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      guard: { type: 'string' },
      gc: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      'no-flap': { type: 'boolean' },
      'no-reconcile': { type: 'boolean' },
      small: { type: 'boolean' },
      kubeconfig: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const guard = choice(values.guard, ['on', 'off', 'both'] as const, 'guard', 'both');
  const gcChoice = choice(values.gc, ['v0.9.4', 'fixed', 'both'] as const, 'gc', 'v0.9.4');
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed: expected a non-negative integer, got ${values.seed}`);
  const gcs: GcVersion[] = gcChoice === 'both' ? ['v0.9.4', 'fixed'] : [gcChoice];
  const guards = guard === 'both' ? [false, true] : [guard === 'on'];

  // A fresh test bed per run (about 6 s to start) unless a running one is named: runs cannot disturb each other.
  const shared = values.kubeconfig ? connectTestbed(values.kubeconfig) : undefined;
  const runs: RunResult[] = [];
  let index = 0;
  for (const gc of gcs) {
    for (const g of guards) {
      let tb: Testbed;
      if (shared) tb = shared;
      else {
        say('bench', 'starting a fresh test bed (kube-apiserver + etcd + kube-controller-manager)');
        tb = await startTestbed({ name: 'bench-chaos', showProgress: false });
      }
      try {
        runs.push(
          await runChaos(tb, {
            guard: g,
            gc,
            seed,
            index: index++,
            workloads: values.small ? SMALL_WORKLOADS : G00012_WORKLOADS,
            replicas: 3,
            timings: values.small ? SHORT_TIMINGS : FULL_TIMINGS,
            reconcile: values['no-reconcile'] !== true,
            flap: values['no-flap'] !== true,
          }),
        );
      } finally {
        if (!shared) await tb.stop();
      }
    }
  }
  process.stdout.write((values.json ? jsonSummary(runs) : table(runs)) + '\n');
  return 0;
}
