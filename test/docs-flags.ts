// The flag lists of docs/operations.md (Command line, Flags) are generated from the commands' flag tables
// (webhook/cli): `npm run -s docs:flags` rewrites them; test/unit/cli/flags.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlagTable, markdownFlags } from '../webhook/cli/flags';
import { SERVE_FLAGS } from '../webhook/cli/serve';
import { REVIEW_FLAGS } from '../webhook/cli/review';
import { CHECK_FLAGS } from '../webhook/cli/check';
import { RECONCILE_FLAGS } from '../webhook/cli/reconcile';

export const COMMAND_FLAGS: Record<string, FlagTable> = {
  serve: SERVE_FLAGS,
  review: REVIEW_FLAGS,
  check: CHECK_FLAGS,
  reconcile: RECONCILE_FLAGS,
};
export const OPERATIONS_DOC = join(__dirname, '..', 'docs', 'operations.md');

/** docs/operations.md with every `<!-- flags:CMD -->` … `<!-- /flags:CMD -->` block regenerated. */
export function renderFlagTables(text: string): string {
  let out = text;
  for (const [command, table] of Object.entries(COMMAND_FLAGS)) {
    const start = `<!-- flags:${command} -->`;
    const end = `<!-- /flags:${command} -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`docs/operations.md has no ${start} … ${end} block`);
    out = `${out.slice(0, i + start.length)}\n${markdownFlags(table)}\n${out.slice(j)}`;
  }
  return out;
}

if (require.main === module && process.argv.includes('--write')) {
  writeFileSync(OPERATIONS_DOC, renderFlagTables(readFileSync(OPERATIONS_DOC, 'utf8')));
}
