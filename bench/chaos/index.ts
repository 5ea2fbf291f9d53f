/**
 * `npm run -s bench -- chaos [--scenario g00012|zombie] [--guard on|off|both] [--gc v0.9.4|fixed|both] [--seed N] [--seeds N] [--cycles N]
 *  [--parallel N] [--json] [--no-flap] [--no-reconcile] [--small] [--kubeconfig FILE]`
 *
 * Runs the chaos scenario once per (seed, gc, guard) combination, all on one fresh test bed (or, with --kubeconfig,
 * on that running test bed), each run in a fresh namespace with a fresh pool on its own subnet, and prints a table
 * (or the stable JSON summary with --json). With --seeds N it runs seeds seed..seed+N-1 and prints, per (gc, guard),
 * the rates the benchmark is judged by. Progress goes to stderr.
 *
 * With --parallel N, up to N runs go at once. Runs without the guard and runs with it never overlap: the guard's
 * webhooks and its reconciler act on every pool and namespace of the test bed, so an unguarded run beside a
 * guarded one would be guarded too. All guarded runs of a batch share one guard (one replica, as a cluster has one
 * guard for all its workloads); each run counts the denials about its own pool and namespace.
 */
import { parseArgs } from 'node:util';
import { connectTestbed, startTestbed } from '../../testbed/testbed';
import type { GcVersion } from '../../testbed/spiderpool/gc-scan';
import { jsonSummary, rates, ratesTable, seedTable, table } from './report';
import { clientsFor } from '../../testbed/clients';
import {
  DEFAULT_CYCLES,
  FULL_TIMINGS,
  runChaos,
  SHORT_TIMINGS,
  startChaosGuard,
  type RunConfig,
  type RunResult,
} from './run';
import { G00012_WORKLOADS, SMALL_WORKLOADS } from './scenario';
import { inParallel, say } from '../../testbed/spiderpool/util';

export { runChaos, FULL_TIMINGS, SHORT_TIMINGS, DEFAULT_CYCLES } from './run';
export type { RunConfig, RunResult } from './run';

const DEFAULT_BATCH_PARALLEL = 5;

const HELP = `Usage: npm run -s bench -- chaos [flags]
  --scenario g00012|zombie  g00012: Spiderpool's chaos scenario (default); zombie: a pod on a node that stopped
                            reporting, deleted and left Terminating, its IP released by the GC past the grace period,
                            then a probe pod in the full pool
  --guard on|off|both       run without and/or with spiderpool-guard (default both: off first, then on)
  --gc v0.9.4|fixed|both    Spiderpool GC behaviour: pre-#3778 or post-#3778 (default v0.9.4)
  --seed N                  PRNG seed for the scenario's random choices and delays (default 1)
  --seeds N                 run N seeds (seed, seed+1, ...) and print the rates per GC and guard setting
  --cycles N                StatefulSet down/up cycles aimed at the GC's trace window (default ${DEFAULT_CYCLES})
  --parallel N              up to N runs at once on the test bed (default ${DEFAULT_BATCH_PARALLEL} with --seeds, else 1); unguarded and guarded runs never overlap
  --json                    print {"runs":[...]} (with --seeds also "rates") instead of a table
  --no-flap                 strict G00012 scale phase (no quick StatefulSet down/up)
  --no-reconcile            guard on without its reconciler
  --small                   one StatefulSet + one Deployment, shorter delays
  --kubeconfig FILE         use a running test bed instead of starting one`;

function choice<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value))
    throw new Error(`--${flag}: expected one of ${allowed.join(', ')}, got ${value}`);
  return value as T;
}

function count(value: string | undefined, flag: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag}: expected an integer ≥ ${min}, got ${value}`);
  return n;
}

export async function runChaosBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      guard: { type: 'string' },
      gc: { type: 'string' },
      seed: { type: 'string' },
      seeds: { type: 'string' },
      cycles: { type: 'string' },
      parallel: { type: 'string' },
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
  const scenario = choice(values.scenario, ['g00012', 'zombie'] as const, 'scenario', 'g00012');
  const guard = choice(values.guard, ['on', 'off', 'both'] as const, 'guard', 'both');
  const gcChoice = choice(values.gc, ['v0.9.4', 'fixed', 'both'] as const, 'gc', 'v0.9.4');
  const firstSeed = count(values.seed, 'seed', 1, 0);
  const seedCount = count(values.seeds, 'seeds', 1, 1);
  const cycles = count(values.cycles, 'cycles', DEFAULT_CYCLES, 0);
  // A batch of seeds runs 5 at a time unless told otherwise: a 10-seed --guard both batch one run after the other
  // took 35-40 min on the shared machine, most of it in sleeps and timeouts that overlap well.
  const parallel = count(values.parallel, 'parallel', seedCount > 1 ? DEFAULT_BATCH_PARALLEL : 1, 1);
  const gcs: GcVersion[] = gcChoice === 'both' ? ['v0.9.4', 'fixed'] : [gcChoice];
  const guards = guard === 'both' ? [false, true] : [guard === 'on'];

  // One test bed for the whole invocation (about 6 s to start on an idle machine, much more on a busy one); runs
  // do not share a namespace, a pool, a subnet, a guard or a webhook registration, and each cleans up after itself.
  say(
    'bench',
    values.kubeconfig
      ? `using the test bed of ${values.kubeconfig}`
      : 'starting a fresh test bed (kube-apiserver + etcd + kube-controller-manager)',
  );
  const tb = values.kubeconfig
    ? connectTestbed(values.kubeconfig)
    : await startTestbed({ name: `bench-chaos-${process.pid}`, showProgress: false });
  const runs: RunResult[] = [];
  const started = Date.now();
  try {
    let index = 0;
    for (const g of guards) {
      const configs: RunConfig[] = [];
      for (let seed = firstSeed; seed < firstSeed + seedCount; seed++) {
        for (const gc of gcs) {
          configs.push({
            scenario,
            guard: g,
            gc,
            seed,
            index: index++,
            workloads: values.small ? SMALL_WORKLOADS : G00012_WORKLOADS,
            replicas: 3,
            timings: values.small ? SHORT_TIMINGS : FULL_TIMINGS,
            reconcile: values['no-reconcile'] !== true,
            flap: values['no-flap'] !== true,
            cycles,
          });
        }
      }
      const admin = clientsFor(tb.kubeConfig());
      const shared =
        g && parallel > 1
          ? await startChaosGuard(tb, admin, `spg-chaos-batch-${process.pid}`, values['no-reconcile'] !== true)
          : undefined;
      try {
        runs.push(...(await inParallel(configs, parallel, (cfg) => runChaos(tb, { ...cfg, sharedGuard: shared }))));
      } finally {
        await shared?.stop();
      }
    }
  } finally {
    if (!values.kubeconfig) await tb.stop();
  }
  say('bench', `${runs.length} runs in ${((Date.now() - started) / 1000).toFixed(0)} s (--parallel ${parallel})`);
  runs.sort((a, b) => a.seed - b.seed || a.gc.localeCompare(b.gc) || a.guard.localeCompare(b.guard));
  const many = seedCount > 1;
  if (values.json) process.stdout.write(jsonSummary(runs, many ? rates(runs) : undefined) + '\n');
  else process.stdout.write((many ? `${seedTable(runs)}\n\n${ratesTable(rates(runs))}` : table(runs)) + '\n');
  return 0;
}
