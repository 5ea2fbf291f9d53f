// webhook/log: the process logger.
// How to change this room: log lines carry structured fields, never concatenated text; test/unit/log/lines.test.ts checks that each line carries each key once.
export { createLogger } from './logger';
export type { Logger } from './logger';
