import type { CliIo, ParseArgsOptionsConfig } from './cli-io.js';

export { closest, editDistance, flagSpellings } from './cli-suggestion.js';

/** One subcommand: its flags and the values its first argument takes (for completion). */
export interface CliSubcommand {
  readonly summary: string;
  readonly options: ParseArgsOptionsConfig;
  /** Fixed values of the positional argument (e.g. `completion bash|zsh`). */
  readonly args?: readonly string[];
}

/**
 * One `hawser <name>` command as the dispatcher, the help, the unknown-command
 * suggestions and the shell completion all read it: the parser and the
 * completion scripts take their flags from the same `options` objects, so the
 * two cannot drift.
 */
export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  /** Flags of the command itself (commands without subcommands). */
  readonly options: ParseArgsOptionsConfig;
  readonly subcommands?: Readonly<Record<string, CliSubcommand>>;
  /** Fixed values of the positional argument. */
  readonly args?: readonly string[];
  run(args: readonly string[], io: CliIo): Promise<number>;
}

/** Fixed values of a flag, offered by completion and checked by the commands (`-o`). */
export const FLAG_VALUES: Readonly<Record<string, readonly string[]>> = {
  output: ['text', 'json', 'yaml', 'wide'],
  'log-level': ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  'authz-mode': ['tier', 'raw', 'shared'],
};

/** Flags whose value is a file name (completion offers files). */
const FILE_FLAGS: ReadonlySet<string> = new Set(['admin-token-file', 'ca-file', 'data-dir', 'token-file', 'kubeconfig', 'agent-chart', 'cache-dir', 'exec-command']);

/**
 * What completion offers after a flag: its fixed values, `files`, or
 * nothing. `-o/--output` is a format; a plain `--output` (hawser
 * kubeconfig's older flag) is a file.
 */
export function flagCompletion(name: string, spec: ParseArgsOptionsConfig[string]): readonly string[] | 'files' | undefined {
  if (spec.type !== 'string') return undefined;
  if (name === 'output') return spec.short === 'o' ? FLAG_VALUES.output : 'files';
  return FLAG_VALUES[name] ?? (FILE_FLAGS.has(name) ? 'files' : undefined);
}

/** The long flags that take a value (completion must skip their value word). */
export function valueFlags(options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== 'string') continue;
    out.push(`--${name}`);
    if (spec.short) out.push(`-${spec.short}`);
  }
  return out;
}
