import { backupDataDir, restoreDataDir } from '../backup/data-dir-backup.js';
import { DEFAULTS } from '../config.js';
import { ExitCodes, parse, usageError } from './cli-io.js';
import type { CliCommand } from './cli-command.js';
import type { CliIo } from './cli-io.js';

const BACKUP_HELP = `Usage: hawser backup --out FILE [--data-dir PATH] [--database-url URL]

Writes one file (mode 0600, first line "HAWSER-BACKUP 1") holding the data
directory's secrets (CA key and certificate, serving certificate, token
signing key, admin token, audit journal) and the embedded database
(clusters, API tokens, audit events).

With the embedded database the server must be stopped first: PGlite belongs
to one process at a time, and a copy taken while the server writes could be
torn. With PostgreSQL (--database-url postgres://...) only the secrets are
written and the server may keep running: back up the database with pg_dump.

The file holds the CA private key: keep it as carefully as the data directory.

Options:
  --out FILE          the backup file to write (never overwritten)
  --data-dir PATH     the server's data directory (env HAWSER_DATA_DIR; default ${DEFAULTS.dataDir})
  --database-url URL  the server's PostgreSQL URL, if it uses one (env HAWSER_DATABASE_URL)
  -h, --help          show help
`;

const RESTORE_HELP = `Usage: hawser restore --from FILE [--data-dir PATH] [--force]

Writes a backup made by "hawser backup" into a data directory, then
"hawser server --data-dir PATH" starts with every cluster, API token and
audit event, and the CA the agents trust. The backup is checked (header,
version, checksums) before anything is written.

A data directory that is not empty is refused unless --force, which replaces
its contents; a running server's data directory is always refused. For a
PostgreSQL server, restore the database with pg_restore as well.

Options:
  --from FILE       the backup file
  --data-dir PATH   the data directory to restore into (env HAWSER_DATA_DIR; default ${DEFAULTS.dataDir})
  --force           replace the contents of a non-empty data directory
  -h, --help        show help
`;

const BACKUP_OPTIONS = {
  out: { type: 'string' },
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const RESTORE_OPTIONS = {
  from: { type: 'string' },
  'data-dir': { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `hawser backup` and `hawser restore` in the command table. */
export const backupCli: CliCommand = {
  name: 'backup',
  summary: 'back up the data directory and embedded database (server stopped)',
  options: BACKUP_OPTIONS,
  run: (args, io) => backupCommand(args, io),
};
export const restoreCli: CliCommand = {
  name: 'restore',
  summary: 'restore a backup into an empty (or --force) data directory',
  options: RESTORE_OPTIONS,
  run: (args, io) => restoreCommand(args, io),
};

/** `hawser backup --out FILE` */
export async function backupCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, BACKUP_OPTIONS, 'hawser backup');
  if (values.help) {
    io.stdout(BACKUP_HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser backup takes no arguments; name the file with --out FILE (see --help)');
  if (!values.out) throw usageError('hawser backup needs --out FILE (see --help)');
  const result = await backupDataDir({
    dataDir: values['data-dir'] ?? io.env.HAWSER_DATA_DIR ?? DEFAULTS.dataDir,
    databaseUrl: values['database-url'] ?? io.env.HAWSER_DATABASE_URL,
    out: values.out,
  });
  const db = result.engine === 'pglite' ? 'the embedded database' : 'no database (PostgreSQL: back it up with pg_dump)';
  io.stdout(`wrote ${result.out} (${result.bytes} bytes, mode 0600): ${result.files.length} files and ${db}\n`);
  return ExitCodes.OK;
}

/** `hawser restore --from FILE` */
export async function restoreCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, RESTORE_OPTIONS, 'hawser restore');
  if (values.help) {
    io.stdout(RESTORE_HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser restore takes no arguments; name the file with --from FILE (see --help)');
  if (!values.from) throw usageError('hawser restore needs --from FILE (see --help)');
  const result = await restoreDataDir({
    dataDir: values['data-dir'] ?? io.env.HAWSER_DATA_DIR ?? DEFAULTS.dataDir,
    from: values.from,
    force: values.force ?? false,
  });
  const db = result.engine === 'pglite' ? 'the embedded database' : 'no database: restore PostgreSQL with pg_restore';
  io.stdout(`restored the backup of ${result.createdAt} into ${result.dataDir}: ${result.files.length} files and ${db}; start it with "hawser server --data-dir ${result.dataDir}"\n`);
  return ExitCodes.OK;
}
