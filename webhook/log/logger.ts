// The process logger: pino, structured, to stdout. Every room that does I/O logs through it.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { service: 'spiderpool-guard' } }, destination ?? pino.destination(1));
}
