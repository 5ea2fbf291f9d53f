// webhook/cli: the command line (serve, review, check, reconcile); nothing imports it.
// How to change this room: a new flag is a row in its command's flag table; `npm run -s docs:flags` rewrites the tables in docs/operations.md (Command line, Flags), and test/unit/cli/flags.test.ts fails when they drift.
export { main } from './main';
