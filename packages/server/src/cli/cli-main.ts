import { auditCommand } from './cli-audit-command.js';
import { clusterCommand } from './cli-cluster-command.js';
import type { CliCommand } from './cli-command.js';
import { completionCommand } from './cli-completion-command.js';
import { ExitCodes, unknownCommand, USAGE_CODES } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { kubeconfigCommand } from './cli-kubeconfig-command.js';
import { loginCommand } from './cli-login-command.js';
import { oidcTokenCommand } from './oidc-token-command.js';
import { serverCommand } from './cli-server-command.js';
import { tokenCommand } from './cli-token-command.js';
import { versionCommand } from './cli-version-command.js';
import { caCli } from './cli-ca-command.js';
import { backupCli, restoreCli } from './cli-backup-command.js';
import { isServerError } from '../errors.js';

export type { CliIo } from './cli-io.js';
export { ExitCodes } from './cli-io.js';

/**
 * The dispatch table: one line per command. Help, "did you mean" and the
 * completion scripts are generated from it, so a command listed here is
 * complete everywhere.
 */
export const COMMANDS: readonly CliCommand[] = [
  serverCommand,
  clusterCommand,
  tokenCommand,
  kubeconfigCommand,
  loginCommand,
  oidcTokenCommand,
  auditCommand,
  caCli,
  backupCli,
  restoreCli,
  versionCommand,
  completionCommand(() => COMMANDS),
];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: hawser <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run "hawser <command> --help" for the options of a command; "hawser --version" for versions.',
    '',
  ].join('\n');
}

/**
 * The CLI without process globals: parses `args`, writes to `io`, returns
 * the exit code (0 ok, 1 failed, 2 usage). Errors print as
 * "hawser: <message> (<code>)" on stderr.
 */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === undefined) {
      io.stderr(help());
      return ExitCodes.USAGE;
    }
    if (name === '-h' || name === '--help' || name === 'help') {
      io.stdout(help());
      return ExitCodes.OK;
    }
    if (name === '--version') return await versionCommand.run(rest, io);
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw unknownCommand('hawser', name, COMMANDS.map((c) => c.name));
    return await command.run(rest, io);
  } catch (err) {
    if (isServerError(err)) {
      io.stderr(`hawser: ${err.message} (${err.code})\n`);
      return USAGE_CODES.has(err.code) ? ExitCodes.USAGE : ExitCodes.FAILED;
    }
    io.stderr(`hawser: ${(err as Error).message ?? String(err)}\n`);
    return ExitCodes.FAILED;
  }
}
