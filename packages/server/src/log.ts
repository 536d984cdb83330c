import { REDACT_PATHS } from '@hawser/contract';
import { pino } from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level. Default `info`. */
  level?: LevelWithSilent;
  /** Where JSON lines go. Default: stdout (fd 1). */
  destination?: DestinationStream;
}

/**
 * Lines are written in batches: up to LOG_BATCH_BYTES are gathered and
 * flushed at least every LOG_FLUSH_MS, and on exit. One write per line
 * (one thread-pool hand-off and one wake-up of the event loop each) was a
 * measurable share of a relayed small GET's CPU time, because every relayed
 * request writes its audit line.
 */
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 100;

/** Creates the root JSON logger; components take `log.child({ component })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'hawser-server' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
}

/** A child logger tagged with the component that owns it. */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}
