import { clusterCommand } from './cli-cluster-command.js';
import { ExitCodes } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { serverCommand } from './cli-server-command.js';
import { auditCommand } from './cli-audit-command.js';
import { kubeconfigCommand } from './cli-kubeconfig-command.js';
import { tokenCommand } from './cli-token-command.js';
import { caCommand } from './cli-ca-command.js';
import { backupCommand, restoreCommand } from './cli-backup-command.js';
import { ErrorCodes, isServerError } from '../errors.js';

export type { CliIo } from './cli-io.js';
export { ExitCodes } from './cli-io.js';

const HELP = `Usage: hawser <command> [options]

Commands:
  server             run the Hawser server
  cluster add NAME   register a cluster; prints its bootstrap token and install commands
  cluster list       list clusters
  cluster token NAME mint a fresh bootstrap token
  cluster rm NAME    deregister a cluster and cut its tunnel
  cluster mode NAME  print the helm upgrade and RBAC change for another agent mode
  token create       create a Hawser API token for a person or automation (also: list, revoke)
  kubeconfig [NAME]  write a kubeconfig with one context per cluster
  audit              read the audit trail
  ca status          CA rotation: status, rotate, renew-now, retire
  backup --out FILE  back up the data directory and embedded database (server stopped)
  restore --from FILE restore a backup into an empty (or --force) data directory

Run "hawser <command> --help" for the options of a command.
`;

/**
 * The CLI without process globals: parses `args`, writes to `io`, returns
 * the exit code (0 ok, 1 failed, 2 usage). Errors print as
 * "hawser: <message> (<code>)" on stderr.
 */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case undefined:
        io.stderr(HELP);
        return ExitCodes.USAGE;
      case '-h':
      case '--help':
      case 'help':
        io.stdout(HELP);
        return ExitCodes.OK;
      case 'server':
        return await serverCommand(rest, io);
      case 'cluster':
        return await clusterCommand(rest, io);
      case 'token':
        return await tokenCommand(rest, io);
      case 'kubeconfig':
        return await kubeconfigCommand(rest, io);
      case 'audit':
        return await auditCommand(rest, io);
      case 'ca':
        return await caCommand(rest, io);
      case 'backup':
      case 'restore':
        return await (command === 'backup' ? backupCommand : restoreCommand)(rest, io);
      default:
        io.stderr(`hawser: unknown command "${command}"\n\n${HELP}`);
        return ExitCodes.USAGE;
    }
  } catch (err) {
    if (isServerError(err)) {
      io.stderr(`hawser: ${err.message} (${err.code})\n`);
      return err.code === ErrorCodes.CLI_USAGE ? ExitCodes.USAGE : ExitCodes.FAILED;
    }
    io.stderr(`hawser: ${(err as Error).message ?? String(err)}\n`);
    return ExitCodes.FAILED;
  }
}
