// Flag tables: one line per flag (name, type, default, help). Parsing (node:util parseArgs), `--help` and the
// flag lists in docs/operations.md are all generated from them, so a flag is written in one place.
import { ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Flag {
  name: string;
  /** 'string' flags carry a value (numbers are validated by the command); 'list' is a repeatable string */
  type: 'string' | 'boolean' | 'list';
  /** one-letter short form, e.g. 'n' for -n (kubectl's conventions) */
  short?: string;
  /** how the value is written in help, e.g. FILE, N, enforce|warn */
  arg?: string;
  default?: string | number | boolean;
  help: string;
}

export type FlagTable = readonly Flag[];

export function optionsOf(table: FlagTable): Options {
  const options: Options = {};
  for (const f of table) {
    options[f.name] = {
      ...(f.type === 'list' ? { type: 'string', multiple: true } : { type: f.type }),
      ...(f.short ? { short: f.short } : {}),
    };
  }
  return options;
}

function flagWithArg(f: Flag): string {
  return `${f.short ? `-${f.short}, ` : ''}--${f.name}${f.arg ? ` ${f.arg}` : ''}${f.type === 'list' ? ' (repeatable)' : ''}`;
}

function helpLine(f: Flag): string {
  return `${f.help}${f.default !== undefined ? ` (default ${String(f.default)})` : ''}`;
}

/** Flags longer than this push their help text right instead of widening the column. */
const HELP_COLUMN = 40;

/** The --help text: usage and description, then one line per flag. */
export function helpText(usage: string, description: string, table: FlagTable): string {
  const width = Math.min(HELP_COLUMN, Math.max(...table.map((f) => flagWithArg(f).length)) + 2);
  const lines = table.map((f) => `  ${flagWithArg(f).padEnd(width - 2)}  ${helpLine(f)}`);
  return `Usage: ${usage}\n\n${description}\n\nFlags:\n${lines.join('\n')}`;
}

/** The docs' flag list of one command (a Markdown table). */
export function markdownFlags(table: FlagTable): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const rows = table.map(
    (f) =>
      `| \`${cell(flagWithArg(f))}\` | ${f.default !== undefined ? `\`${String(f.default)}\`` : ''} | ${cell(f.help)} |`,
  );
  return ['| flag | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
