/**
 * The native allocator a `bench scale` probe runs under. `image` is the image's: the LD_PRELOAD and MALLOC_CONF its
 * Dockerfile's runtime stage sets (read from the Dockerfile, so the bench measures what ships); `glibc` is Node's
 * default, for comparison (`both` runs one probe of each per run, in alternating order).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDockerfile } from '../../test/e2e/support/dockerfile';
import { REPO_ROOT } from '../../testbed/guard';

export type AllocatorChoice = 'image' | 'glibc';

/** Environment variables of the runtime stage that choose and tune the allocator. */
const ALLOCATOR_ENV = ['LD_PRELOAD', 'MALLOC_CONF'];

export function imageAllocatorEnv(dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')) {
  const runtime = parseDockerfile(dockerfile).find((s) => s.name === 'runtime');
  if (!runtime) throw new Error('Dockerfile has no runtime stage');
  const env: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.op === 'ENV'))
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g))
      if (ALLOCATOR_ENV.includes(m[1])) env[m[1]] = m[2].replace(/^"|"$/g, '');
  return env;
}

/** The probe's environment for `choice`: this process's, with the allocator variables replaced. */
export function probeEnv(choice: AllocatorChoice): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ALLOCATOR_ENV) delete env[k];
  return choice === 'image' ? { ...env, ...imageAllocatorEnv() } : env;
}

/** What a probe under `choice` must report (its own reading of /proc/self/maps). */
export function expectedAllocator(choice: AllocatorChoice): string {
  return choice === 'glibc' ? 'glibc' : imageAllocatorEnv().LD_PRELOAD?.includes('jemalloc') ? 'jemalloc' : 'glibc';
}

export function allocatorChoices(flag: string | undefined): AllocatorChoice[] {
  if (flag === undefined || flag === 'image') return ['image'];
  if (flag === 'glibc') return ['glibc'];
  if (flag === 'both') return ['glibc', 'image'];
  throw new Error(`--allocator ${flag}: expected image, glibc or both`);
}
