#!/usr/bin/env node
// spiderpool-guard command line: argument parsing and wiring only.
import { asCliInputError } from './errors';
import { runReview } from './review';
import { runCheck } from './check';
import { runReconcile } from './reconcile';
import { runServe } from './serve';

/** Each command prints its own --help. */
type Command = { run: (argv: string[]) => Promise<number>; summary: string };

const commands: Record<string, Command> = {
  serve: { run: runServe, summary: 'the HTTPS admission webhook server and the reconciler' },
  review: { run: runReview, summary: 'decide one AdmissionReview offline against a snapshot' },
  check: { run: runCheck, summary: 'read-only consistency audit of pools, endpoints and pods' },
  reconcile: { run: runReconcile, summary: 'one reconcile pass (--once), printing or taking the actions' },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: npm run -s cli -- <command> [flags]   (--help on any command)\n\nCommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`spiderpool-guard: unknown command ${JSON.stringify(name)}\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const input = asCliInputError(err);
    if (input) {
      process.stderr.write(`spiderpool-guard ${name}: ${input.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return input.exitCode;
    }
    throw err;
  }
}

/** Runs a command as this process: its exit status becomes the process's (shared with the kubectl plugin entry). */
export function runAsProcess(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`spiderpool-guard: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 2;
    },
  );
}

if (require.main === module) runAsProcess(process.argv.slice(2));
