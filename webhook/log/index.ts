// webhook/log: the process logger.
export { createLogger } from './logger';
export type { Logger } from './logger';
