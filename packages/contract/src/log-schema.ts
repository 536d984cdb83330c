/**
 * The one log schema of the server and the agent (docs/operations.md,
 * "Logs"). Both binaries build their pino options from here, so a log
 * pipeline reads the same field for the same thing whichever side wrote it.
 * Pure values and functions: pino itself stays in each package.
 */

/** Field names every line may carry; the first five are on every line. */
export const LogFields = {
  /** `trace` … `fatal`, as a word, never pino's number. */
  LEVEL: 'level',
  /** ISO 8601 in UTC with milliseconds. */
  TIME: 'time',
  /** `hawser-server` or `hawser-agent`. */
  SERVICE: 'service',
  /** The part of the binary that wrote the line (`relay`, `tunnel`, `agent`, ...). */
  COMPONENT: 'component',
  MESSAGE: 'msg',
  /** An error: `{ type, message, stack, code? }`. */
  ERROR: 'err',
  /** A cluster's name (the one operators type), and its id. */
  CLUSTER: 'cluster',
  CLUSTER_ID: 'clusterId',
  /** The id of one relayed request; the same value on both ends and in the audit. */
  REQUEST_ID: 'requestId',
  /** A stable error code (`HSR_ERR_*`, `HAG_ERR_*`, `HTN_ERR_*`). */
  CODE: 'code',
} as const;

export const LOG_LEVEL_NAMES = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

/** How lines are written: JSON always, human-readable always, or by whether stdout is a terminal. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function isLogFormat(value: unknown): value is LogFormat {
  return typeof value === 'string' && (LOG_FORMATS as readonly string[]).includes(value);
}

/** `auto` resolved against the stream the lines go to. */
export function resolveLogFormat(format: LogFormat, stream: { isTTY?: boolean } | undefined): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return stream?.isTTY === true ? 'pretty' : 'json';
}

/**
 * The pino options both binaries share (without `level` and `redact`,
 * which each sets): level names, ISO time, `service` as the only base
 * field (no pid or hostname: the pod says both).
 */
export function sharedLogOptions(service: 'hawser-server' | 'hawser-agent') {
  return {
    base: { [LogFields.SERVICE]: service },
    messageKey: LogFields.MESSAGE,
    errorKey: LogFields.ERROR,
    timestamp: (): string => `,"${LogFields.TIME}":"${new Date().toISOString()}"`,
    formatters: { level: (label: string) => ({ [LogFields.LEVEL]: label }) },
  };
}

/** C0 and C1 controls: a logged value must not repaint the operator's terminal. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const escaped = (text: string): string => text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const COLORS: Record<string, string> = { fatal: '35', error: '31', warn: '33', info: '32', debug: '36', trace: '90' };
const HEAD = new Set<string>([LogFields.LEVEL, LogFields.TIME, LogFields.SERVICE, LogFields.COMPONENT, LogFields.MESSAGE, LogFields.ERROR]);

function shown(value: unknown): string {
  if (typeof value === 'string') return escaped(/^[^\s"=]+$/.test(value) ? value : JSON.stringify(value));
  return escaped(JSON.stringify(value) ?? String(value));
}

/**
 * One JSON line as a person reads it: `12:01:02.345 INFO  relay: message
 * key=value …`, an error's stack indented below. A line that is not JSON
 * passes unchanged. Terminal control characters in values are escaped by
 * JSON quoting, so a logged value cannot repaint the operator's terminal.
 */
export function prettyLogLine(line: string, options: { color?: boolean } = {}): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (o === null || typeof o !== 'object') return line.endsWith('\n') ? line : `${line}\n`;
  const level = String(o[LogFields.LEVEL] ?? '');
  const time = typeof o[LogFields.TIME] === 'string' ? (o[LogFields.TIME] as string).slice(11, 23) : '';
  const label = level.toUpperCase().padEnd(5);
  const tag = options.color && COLORS[level] ? `\u001b[${COLORS[level]}m${label}\u001b[39m` : label;
  const component = o[LogFields.COMPONENT] === undefined ? '' : `${shown(o[LogFields.COMPONENT])}: `;
  const msg = escaped(String(o[LogFields.MESSAGE] ?? ''));
  const extras = Object.keys(o)
    .filter((k) => !HEAD.has(k))
    .map((k) => `${k}=${shown(o[k])}`);
  let text = `${time} ${tag} ${component}${msg}${extras.length ? `  ${extras.join(' ')}` : ''}\n`;
  const err = o[LogFields.ERROR] as { message?: unknown; stack?: unknown; code?: unknown } | undefined;
  if (err && typeof err === 'object') {
    const stack = typeof err.stack === 'string' ? err.stack : String(err.message ?? '');
    const code = err.code === undefined ? '' : ` (${shown(err.code)})`;
    text += stack.split('\n').map((l, i) => `    ${l.replace(CONTROLS, '')}${i === 0 ? code : ''}`).join('\n') + '\n';
  }
  return text;
}

/**
 * What is wrong with one parsed JSON line against the schema (empty: it
 * fits). The tests of both binaries hold their real lines against it.
 */
export function logLineProblems(line: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (!(LOG_LEVEL_NAMES as readonly unknown[]).includes(line[LogFields.LEVEL])) problems.push(`level ${JSON.stringify(line[LogFields.LEVEL])} is not a level name`);
  const time = line[LogFields.TIME];
  if (typeof time !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(time)) problems.push(`time ${JSON.stringify(time)} is not ISO 8601 UTC`);
  if (line[LogFields.SERVICE] !== 'hawser-server' && line[LogFields.SERVICE] !== 'hawser-agent') problems.push('service is missing');
  if (typeof line[LogFields.COMPONENT] !== 'string' || line[LogFields.COMPONENT] === '') problems.push('component is missing');
  if (typeof line[LogFields.MESSAGE] !== 'string') problems.push('msg is missing');
  for (const old of ['pid', 'hostname', 'name', 'reqId', 'error']) if (old in line) problems.push(`${old} is not a schema field`);
  const err = line[LogFields.ERROR];
  if (err !== undefined && (typeof err !== 'object' || err === null || typeof (err as { message?: unknown }).message !== 'string')) problems.push('err is not an error object');
  return problems;
}
