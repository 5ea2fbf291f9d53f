// The README's flag lists are generated from the commands' flag tables (webhook/cli): `npm run -s readme:flags`
// rewrites them; test/unit/cli/flags.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlagTable, markdownFlags } from '../webhook/cli/flags';
import { SERVE_FLAGS } from '../webhook/cli/serve';
import { REVIEW_FLAGS } from '../webhook/cli/review';
import { CHECK_FLAGS } from '../webhook/cli/check';
import { RECONCILE_FLAGS } from '../webhook/cli/reconcile';

export const COMMAND_FLAGS: Record<string, FlagTable> = { serve: SERVE_FLAGS, review: REVIEW_FLAGS, check: CHECK_FLAGS, reconcile: RECONCILE_FLAGS };
export const README = join(__dirname, '..', 'README.md');

/** The README with every `<!-- flags:CMD -->` … `<!-- /flags:CMD -->` block regenerated. */
export function renderReadme(text: string): string {
  let out = text;
  for (const [command, table] of Object.entries(COMMAND_FLAGS)) {
    const start = `<!-- flags:${command} -->`;
    const end = `<!-- /flags:${command} -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md has no ${start} … ${end} block`);
    out = `${out.slice(0, i + start.length)}\n${markdownFlags(table)}\n${out.slice(j)}`;
  }
  return out;
}

if (require.main === module && process.argv.includes('--write')) {
  writeFileSync(README, renderReadme(readFileSync(README, 'utf8')));
}
