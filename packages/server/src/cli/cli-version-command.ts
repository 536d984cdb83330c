import { AdminClient } from '../admin/admin-client.js';
import { ErrorCodes, isServerError } from '../errors.js';
import { buildInfo } from '../version.js';
import type { BuildInfo } from '../version.js';
import type { CliCommand } from './cli-command.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { machineOutput, OUTPUT_OPTION, outputFormat, RESULT_FORMATS } from './cli-output.js';
import { printableLines } from './cli-table.js';

const HELP = `Usage: hawser version [--client] [-o json|yaml]
       hawser --version

Prints the client's version and the server's, read from the admin API
(GET /api/v1/version). When the server cannot be asked, the client's version
is printed and a line on standard error says why the server's is missing;
the exit code is then 1 (0 with --client, which does not ask).

Options:
  --client           only the client's version
  -o, --output FMT   text (default), json or yaml

${GLOBAL_HELP}
`;

const OPTIONS = { ...GLOBAL_OPTIONS, ...OUTPUT_OPTION, client: { type: 'boolean' } } as const;

/** The version document, kubectl's shape: clientVersion, serverVersion or serverVersionError. */
export interface VersionReport {
  clientVersion: BuildInfo;
  serverVersion?: BuildInfo;
  serverVersionError?: { code: string; message: string };
}

/** `hawser version`, `hawser --version` */
export const versionCommand: CliCommand = {
  name: 'version',
  summary: 'the client and server versions',
  options: OPTIONS,
  run: runVersion,
};

async function runVersion(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 'hawser version');
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser version takes no arguments (see --help)');
  const format = outputFormat(values.output, RESULT_FORMATS, 'hawser version');
  const report: VersionReport = { clientVersion: buildInfo() };
  if (!values.client) {
    try {
      report.serverVersion = await new AdminClient({ ...clientSettings(values, io.env), timeoutMs: 10_000 }).version();
    } catch (err) {
      const code = isServerError(err) ? err.code : ErrorCodes.SERVER_VERSION_UNAVAILABLE;
      report.serverVersionError = { code, message: (err as Error).message };
    }
  }
  const text = [`Client Version: ${report.clientVersion.version} (Node ${report.clientVersion.nodeVersion}, ${report.clientVersion.platform})`];
  if (report.serverVersion) text.push(`Server Version: ${report.serverVersion.version} (Node ${report.serverVersion.nodeVersion}, ${report.serverVersion.platform})`);
  io.stdout(machineOutput(format, report) ?? printableLines(text.join('\n') + '\n'));
  if (!report.serverVersionError) return ExitCodes.OK;
  const e = report.serverVersionError;
  io.stderr(printableLines(`hawser: no server version: ${e.message} (${e.code}); the client version is above (--client skips the server)\n`));
  return ExitCodes.FAILED;
}
