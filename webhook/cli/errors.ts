// Errors the CLI reports as one line and exit status 2 (the input was unusable), never as a stack trace.
import { ClusterReadError, SnapshotError } from '../cluster';
import { PolicyError } from '../guard';

const INPUT_ERROR_EXIT = 2;

/** Flags, arguments, files or the cluster could not be used as given. */
export class CliInputError extends Error {
  readonly exitCode = INPUT_ERROR_EXIT;
}

/** Wrong flags or arguments. */
export class UsageError extends CliInputError {}

/** The CLI's reading of an error raised below it: input errors of other rooms become CliInputErrors. */
export function asCliInputError(err: unknown): CliInputError | undefined {
  if (err instanceof CliInputError) return err;
  if (err instanceof PolicyError || err instanceof SnapshotError || err instanceof ClusterReadError)
    return new CliInputError(err.message, { cause: err });
  return undefined;
}
