import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log object: the agent
 * handles a ServiceAccount token, a bootstrap token and its private key, and
 * none of them may reach a log line.
 */
const redact = [
  'token',
  '*.token',
  'bootstrapToken',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
  'authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
];

/** The agent's root logger: JSON lines on stdout, one child per component. */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    { name: 'hawser-agent', level, redact: { paths: redact, censor: '[redacted]' }, base: { pid: process.pid } },
    destination ?? process.stdout,
  );
}
