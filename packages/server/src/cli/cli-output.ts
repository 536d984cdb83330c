import { stringify } from 'yaml';
import { ErrorCodes } from '../errors.js';
import { usageError } from './cli-io.js';
import { printable, printableJson, table } from './cli-table.js';

/** `-o` formats: text (default), json, yaml, wide (a table with more columns). */
export const OutputFormats = { TEXT: 'text', JSON: 'json', YAML: 'yaml', WIDE: 'wide' } as const;
export type OutputFormat = (typeof OutputFormats)[keyof typeof OutputFormats];

/** Formats of commands that print a table, and of those that print one result. */
export const TABLE_FORMATS: readonly OutputFormat[] = ['text', 'json', 'yaml', 'wide'];
export const RESULT_FORMATS: readonly OutputFormat[] = ['text', 'json', 'yaml'];

/** The `-o` flag every printing command takes. */
export const OUTPUT_OPTION = { output: { type: 'string', short: 'o' } } as const;

/** Checks `-o`: an unknown value is refused with the values this command takes. */
export function outputFormat(value: string | undefined, allowed: readonly OutputFormat[], command: string): OutputFormat {
  if (value === undefined) return 'text';
  if ((allowed as readonly string[]).includes(value)) return value as OutputFormat;
  throw usageError(
    `unknown output format ${JSON.stringify(value)} for "${command}" (-o); expected one of ${allowed.join(', ')}`,
    ErrorCodes.CLI_OUTPUT_INVALID,
  );
}

/** YAML for the terminal: string values pass {@link printable} first, so no value can drive the terminal. */
export function printableYaml(value: unknown): string {
  return stringify(sanitize(value), { lineWidth: 0 });
}

function sanitize(value: unknown): unknown {
  if (typeof value === 'string') return printable(value);
  if (Array.isArray(value)) return value.map(sanitize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), sanitize(v)]));
  }
  return value;
}

/** The machine formats, or undefined for text/wide (the caller prints its table). */
export function machineOutput(format: OutputFormat, value: unknown): string | undefined {
  if (format === 'json') return printableJson(value);
  if (format === 'yaml') return printableYaml(value);
  return undefined;
}

/** A table whose wide columns appear only with `-o wide`. */
export function columns<T>(format: OutputFormat, rows: readonly T[], spec: readonly { head: string; wide?: boolean; cell: (row: T) => string }[]): string {
  const shown = spec.filter((c) => !c.wide || format === 'wide');
  return table([shown.map((c) => c.head), ...rows.map((r) => shown.map((c) => c.cell(r)))]);
}
