import { ErrorCodes, HawserServerError } from '../errors.js';

/** SQLSTATE classes and codes that mean "the database said no" rather than "no database there". */
const LOGIN_REFUSED: ReadonlySet<string> = new Set(['28P01', '28000']);
const NO_SUCH_DATABASE = '3D000';

/** `host:port` of a PostgreSQL URL, without user or password. */
export function databaseAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'the configured address';
  }
}

/**
 * PostgreSQL could not be opened at start-up: says it is the database (not
 * the server's own listeners), where it was looked for (never the
 * password), which flag sets it, and what the driver said.
 */
export function databaseUnreachable(url: string, err: unknown): HawserServerError {
  const code = (err as { code?: unknown } | null)?.code;
  const where = `the PostgreSQL database at ${databaseAddress(url)} (--database-url, env HAWSER_DATABASE_URL)`;
  let why: string;
  if (typeof code === 'string' && LOGIN_REFUSED.has(code)) why = 'refused the login: check the user and password in the URL';
  else if (code === NO_SUCH_DATABASE) why = 'has no such database: create it (CREATE DATABASE) or fix the name in the URL';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = `has a host name that does not resolve (${code}): check the host in the URL`;
  else if (code === 'ECONNREFUSED') why = 'refused the connection (ECONNREFUSED): check that PostgreSQL runs and listens there';
  else why = `could not be reached (${(typeof code === 'string' && code) || (err as Error | undefined)?.message || String(err)}): check that PostgreSQL runs and the URL is right`;
  return new HawserServerError(ErrorCodes.DATABASE_UNREACHABLE, `cannot open ${where}: it ${why}`, { cause: err });
}

/**
 * The embedded database in `<dataDir>/db` would not open (PGlite's WASM
 * aborts on damaged files with "Aborted(). Build with -sASSERTIONS"):
 * names the directory and how to get back to a working server.
 */
export function embeddedDatabaseCorrupt(dbDir: string, err: unknown): HawserServerError {
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EEXIST' || errno === 'ENOTDIR' || errno === 'EROFS') {
    return new HawserServerError(
      ErrorCodes.DATA_DIR_UNUSABLE,
      `the embedded database directory ${dbDir} cannot be used (${errno}): it must be a directory the server's user can read and write inside --data-dir`,
      { cause: err },
    );
  }
  return new HawserServerError(
    ErrorCodes.DATABASE_CORRUPT,
    `the embedded database in ${dbDir} cannot be opened; its files are damaged or from an incompatible version: stop the server and restore the data directory from a backup ("hawser restore --from FILE --data-dir DIR --force"), or move ${dbDir} aside to start with an empty database (clusters, tokens and audit events are then gone)`,
    { cause: err },
  );
}
