import { REDACT_PATHS, prettyLogLine, resolveLogFormat, sharedLogOptions } from '@hawser/contract';
import type { LogFormat } from '@hawser/contract';
import { pino } from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Where lines go: something with write(), and isTTY when it is a terminal. */
export interface LogOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level. Default `info`. */
  level?: LevelWithSilent;
  /** JSON lines, human-readable ones, or by whether the output is a terminal (`auto`, the default). */
  format?: LogFormat;
  /** Where lines go. Default: stdout (fd 1), JSON written in batches. */
  destination?: DestinationStream | LogOutput;
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

/**
 * Creates the root logger in the shared schema (`@hawser/contract`
 * log-schema.ts); components take `componentLogger(root, name)`. A
 * terminal gets human-readable lines, anything else JSON, unless `format`
 * says which.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const out: LogOutput = options.destination ?? process.stdout;
  const pretty = resolveLogFormat(options.format ?? 'auto', out) === 'pretty';
  const color = pretty && out.isTTY === true;
  const destination: DestinationStream = pretty
    ? { write: (line: string) => void out.write(prettyLogLine(line, { color })) }
    : (options.destination ?? pino.destination({ fd: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }));
  return pino(
    {
      ...sharedLogOptions('hawser-server'),
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    },
    destination,
  );
}

/** A child logger tagged with the component that owns it. */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}
