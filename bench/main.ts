/**
 * `npm run -s bench -- <benchmark> [flags]`: the benchmarks of spiderpool-guard.
 *
 *   chaos      Spiderpool's G00012 chaos scenario on the test bed, without and/or with the guard (bench/chaos)
 *   admission  admission latency/throughput of the guard
 *   scale      what the caches cost at 100,000 pods/endpoints/records (bench/scale)
 *   stress     memory, latency and audit volume under hostile bursts (bench/stress.ts)
 */
import { runChaosBench } from './chaos';
import { runScaleBench } from './scale';
import { runStressBench } from './stress';

const USAGE = `Usage: npm run -s bench -- <benchmark> [flags]

Benchmarks:
  chaos       G00012 chaos replay: [--guard on|off|both] [--gc v0.9.4|fixed|both] [--seed N] [--json]
  admission   admission latency/throughput of the guard (bench/admission/index.ts lists the flags)
              [--allocator image|glibc] (guard and baseline under the image's jemalloc, or glibc)
  scale       caches at cluster scale: [--pods N] [--nodes M] [--reserved-ips K] [--runs R] [--json]
              [--name TESTBED] [--keep] [--probe (a kept world, no populate)] [--sync watch-list|list]
              [--page-size P] [--list-rv 0] (LIST pages: --sync list, or where streaming is refused)
              [--rest] [--allocator image|glibc|both] (the probe under the image's jemalloc, glibc, or each);
              --node-cache [--nodes N] [--runs R] [--json]: the Node cache alone (no test bed)
  stress      RSS, concurrent-review latency, audit bytes under bursts: [--pods N] [--seconds S] [--json]
              [--against DIR [--rounds N]] (before/after: another built checkout's guard, ABBA)
              [--allocator image|glibc] (the guard under the image's jemalloc, or glibc)`;

type Bench = (argv: string[]) => Promise<number>;

async function admission(argv: string[]): Promise<number> {
  // bench/admission.ts is written separately; load it only if it is there.
  let mod: { runAdmissionBench?: Bench };
  try {
    mod = (await import('./admission' as string)) as { runAdmissionBench?: Bench };
  } catch {
    process.stderr.write('admission: not yet implemented\n');
    return 2;
  }
  if (!mod.runAdmissionBench) {
    process.stderr.write('admission: not yet implemented\n');
    return 2;
  }
  return mod.runAdmissionBench(argv);
}

const BENCHES: Record<string, Bench> = {
  chaos: runChaosBench,
  admission,
  scale: runScaleBench,
  stress: runStressBench,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const bench = BENCHES[name];
  if (!bench) {
    process.stderr.write(`unknown benchmark ${JSON.stringify(name)}\n${USAGE}\n`);
    return 2;
  }
  return bench(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
