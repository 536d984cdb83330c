import { REDACT_PATHS, prettyLogLine, resolveLogFormat, sharedLogOptions } from '@hawser/contract';
import type { LogFormat } from '@hawser/contract';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Where lines go: something with write(), and isTTY when it is a terminal. */
export interface LogOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/**
 * The agent's root logger in the schema the server shares (`@hawser/contract`
 * log-schema.ts), secrets blanked by the contract's REDACT_PATHS. Lines go
 * to stdout: human-readable on a terminal, JSON otherwise, unless `format`
 * says which. Components take `log.child({ component })` of this root.
 * The formatter is the contract's few lines, not pino-pretty: the agent is
 * one bundled file and its idle memory counts.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: LogOutput, format: LogFormat = 'auto'): Logger {
  const out: LogOutput = destination ?? process.stdout;
  const pretty = resolveLogFormat(format, out) === 'pretty';
  const color = pretty && out.isTTY === true;
  return pino(
    { ...sharedLogOptions('hawser-agent'), level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } },
    { write: (line: string) => void out.write(pretty ? prettyLogLine(line, { color }) : line) },
  );
}
