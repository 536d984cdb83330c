import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

/** The `options` object of node:util parseArgs. */
export type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { DEFAULTS } from '../config.js';
import { DataFiles } from '../data-dir.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { closest, flagSpellings } from './cli-suggestion.js';

/** Where CLI output goes; tests pass buffers. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** All of standard input (`--token-file -`). Default: process.stdin. */
  stdin?: () => Promise<string>;
  /** Resolves when the process should stop (server command). Default: SIGINT/SIGTERM. */
  stopSignal?: Promise<string>;
}

/** Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
export const ExitCodes = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** Flags every client command accepts. */
export const GLOBAL_OPTIONS = {
  server: { type: 'string' },
  'admin-token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const GLOBAL_HELP = `Global options:
  --server URL               admin API URL (env HAWSER_SERVER; default https://127.0.0.1:8443)
  --admin-token-file PATH    admin token file (env HAWSER_ADMIN_TOKEN holds the token itself;
                             default <data-dir>/admin-token when present)
  --ca-file PATH             CA certificate to trust (default <data-dir>/ca.crt when present)
  --data-dir PATH            local data directory for the defaults above (default ${DEFAULTS.dataDir})
  -h, --help                 show help`;

export function usageError(message: string, code: ErrorCode = ErrorCodes.CLI_USAGE): HawserServerError {
  return new HawserServerError(code, message);
}

/** Codes that mean "the command line was wrong": exit code 2. */
export const USAGE_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.CLI_USAGE,
  ErrorCodes.CLI_UNKNOWN_FLAG,
  ErrorCodes.CLI_UNKNOWN_COMMAND,
  ErrorCodes.CLI_OUTPUT_INVALID,
]);

/**
 * parseArgs, with its TypeErrors said in the CLI's own words: an unknown
 * flag names the command and the closest known flag.
 */
export function parse<T extends ParseArgsOptionsConfig>(
  args: readonly string[],
  options: T,
  command = 'hawser',
): { values: { [K in keyof T]?: T[K]['multiple'] extends true ? string[] : T[K]['type'] extends 'boolean' ? boolean : string }; positionals: string[] } {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true }) as never;
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = /^Unknown option '([^']+)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const guess = closest(unknown, flagSpellings(options));
      throw usageError(
        `unknown flag ${unknown} for "${command}"; ${guess ? `did you mean ${guess}?` : `see ${command} --help`}`,
        ErrorCodes.CLI_UNKNOWN_FLAG,
      );
    }
    const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(e.message)?.[1];
    if (missing) throw usageError(`flag ${missing} of "${command}" needs a value`);
    const extra = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(e.message)?.[1];
    if (extra) throw usageError(`flag ${extra} of "${command}" takes no value`);
    throw usageError(`${command}: ${e.message}`);
  }
}

/** `unknown command "hawser cluster lst"; did you mean "hawser cluster list"?` */
export function unknownCommand(prefix: string, word: string, known: Iterable<string>): HawserServerError {
  const guess = closest(word, known);
  return usageError(
    `unknown command "${prefix} ${word}"; ${guess ? `did you mean "${prefix} ${guess}"?` : `see ${prefix} --help`}`,
    ErrorCodes.CLI_UNKNOWN_COMMAND,
  );
}

/** Resolves server URL, admin token and CA from flags, env and the local data dir. */
export function clientSettings(
  values: { server?: string; 'admin-token-file'?: string; 'ca-file'?: string; 'data-dir'?: string },
  env: CliIo['env'],
): { serverUrl: string; adminToken: string; ca: string | undefined; adminTokenFile: string | undefined } {
  const dataDir = values['data-dir'] ?? env.HAWSER_DATA_DIR ?? DEFAULTS.dataDir;
  const serverUrl = values.server ?? env.HAWSER_SERVER ?? `https://${DEFAULTS.listen}`;
  let adminToken: string | undefined;
  let adminTokenFile: string | undefined;
  const tokenFile = values['admin-token-file'] ?? (env.HAWSER_ADMIN_TOKEN ? undefined : join(dataDir, DataFiles.ADMIN_TOKEN));
  if (values['admin-token-file'] || (tokenFile && existsSync(tokenFile))) {
    try {
      adminToken = readFileSync(tokenFile!, 'utf8').trim();
      adminTokenFile = tokenFile;
    } catch (err) {
      throw usageError(`cannot read admin token file ${tokenFile}: ${(err as Error).message}`);
    }
  } else {
    adminToken = env.HAWSER_ADMIN_TOKEN;
  }
  if (!adminToken) {
    throw usageError(
      `no admin token: pass --admin-token-file, set HAWSER_ADMIN_TOKEN, or run where ${join(dataDir, DataFiles.ADMIN_TOKEN)} exists`,
    );
  }
  const caFile = values['ca-file'] ?? (existsSync(join(dataDir, DataFiles.CA_CERT)) ? join(dataDir, DataFiles.CA_CERT) : undefined);
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw usageError(`cannot read CA file ${caFile}: ${(err as Error).message}`);
    }
  }
  return { serverUrl, adminToken, ca, adminTokenFile };
}

/**
 * The subcommand `args` starts with, or what to exit with after printing
 * `help` (no subcommand: usage, exit 2; help asked: exit 0). An unknown one
 * throws with the closest known one.
 */
export function subcommandOf<K extends string>(
  args: readonly string[],
  known: Readonly<Record<K, unknown>>,
  command: string,
  help: string,
  io: CliIo,
): { sub: K; rest: readonly string[] } | { exit: number } {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(help);
    return { exit: sub === undefined ? ExitCodes.USAGE : ExitCodes.OK };
  }
  if (!Object.hasOwn(known, sub)) throw unknownCommand(command, sub, Object.keys(known));
  return { sub: sub as K, rest };
}
