import { REDACT_PATHS } from '@hawser/contract';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };


/** The agent's root logger (secrets blanked by the contract's REDACT_PATHS): JSON lines on stdout, one child per component. */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    { name: 'hawser-agent', level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' }, base: { pid: process.pid } },
    destination ?? process.stdout,
  );
}
