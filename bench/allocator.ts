/**
 * The native allocator a bench runs the guard under (`--allocator`; a `bench scale` probe, the guard of `bench
 * stress` and `bench admission`). `image` is the image's: the LD_PRELOAD and MALLOC_CONF its Dockerfile's runtime
 * stage sets (read from the Dockerfile, so the bench measures what ships); `glibc` is Node's default, for comparison
 * (`bench scale --allocator both` runs one probe of each per run, in alternating order).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { envAssignments, parseDockerfile } from '../test/e2e/support/dockerfile';
import { REPO_ROOT, type GuardProcess } from '../testbed/guard';

export type AllocatorChoice = 'image' | 'glibc';

/** Environment variables of the runtime stage that choose and tune the allocator. */
const ALLOCATOR_ENV = ['LD_PRELOAD', 'MALLOC_CONF'];

export function imageAllocatorEnv(dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')) {
  const runtime = parseDockerfile(dockerfile).find((s) => s.name === 'runtime');
  if (!runtime) throw new Error('Dockerfile has no runtime stage');
  const env: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.op === 'ENV'))
    for (const [k, v] of Object.entries(envAssignments(i.args))) if (ALLOCATOR_ENV.includes(k)) env[k] = v;
  return env;
}

/** The environment of a process run under `choice`: this process's, with the allocator variables replaced. */
export function allocatorEnv(choice: AllocatorChoice): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ALLOCATOR_ENV) delete env[k];
  return choice === 'image' ? { ...env, ...imageAllocatorEnv() } : env;
}

/** What a process run under `choice` must report (nativeAllocator: its own reading of /proc/self/maps). */
export function expectedAllocator(choice: AllocatorChoice): string {
  return choice === 'glibc' ? 'glibc' : imageAllocatorEnv().LD_PRELOAD?.includes('jemalloc') ? 'jemalloc' : 'glibc';
}

/** `--allocator` of bench scale: the allocators each run probes, in order. */
export function allocatorChoices(flag: string | undefined): AllocatorChoice[] {
  if (flag === undefined || flag === 'image') return ['image'];
  if (flag === 'glibc') return ['glibc'];
  if (flag === 'both') return ['glibc', 'image'];
  throw new Error(`--allocator ${flag}: expected image, glibc or both`);
}

/** `--allocator` of the benches that run one guard: image (default) or glibc. */
export function allocatorChoice(flag: string | undefined): AllocatorChoice {
  const [choice, ...more] = allocatorChoices(flag);
  if (more.length) throw new Error(`--allocator ${flag}: this bench runs one guard: image or glibc`);
  return choice;
}

/** Throws unless `found` (what `who` reported of itself) is the allocator `choice` stands for; returns it. */
export function checkAllocator(who: string, found: unknown, choice: AllocatorChoice): string {
  if (found !== expectedAllocator(choice))
    throw new Error(
      `${who} under --allocator ${choice} runs with ${String(found)}, not ${expectedAllocator(choice)}` +
        ' (is libjemalloc2 installed? apt-get install libjemalloc2)',
    );
  return found;
}

/** Throws unless the guard's startup log names the allocator `choice` stands for; returns that name. */
export async function checkGuardAllocator(guard: GuardProcess, choice: AllocatorChoice): Promise<string> {
  const serving = await guard.waitForLine((l) => l.msg === 'spiderpool-guard serving');
  return checkAllocator('the guard', serving.allocator, choice);
}
