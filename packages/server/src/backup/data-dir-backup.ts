import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { LOCK_FILE, lockDataDir, type DataDirLock } from '../data-dir-lock.js';
import { DataFiles } from '../data-dir.js';
import { ErrorCodes, HawserServerError, isServerError, type ErrorCode } from '../errors.js';
import { SERVER_VERSION } from '../version.js';
import { decodeBackup, encodeBackup, sha256, type BackupDatabase, type BackupFile, type BackupManifest } from './backup-archive.js';

/** The embedded database's directory inside the data directory (open-store.ts). */
const DB_DIR = 'db';

/** Why the embedded store needs the server stopped: said whenever a backup or restore is refused for it. */
const WHY_STOPPED =
  'the embedded database (PGlite) belongs to one process at a time, so a copy taken while the server writes could be torn; stop the server, run this again, then start it';

export interface BackupResult {
  readonly out: string;
  readonly bytes: number;
  readonly files: readonly string[];
  readonly engine: BackupDatabase['engine'];
}

export interface RestoreResult {
  readonly dataDir: string;
  readonly files: readonly string[];
  readonly engine: BackupDatabase['engine'];
  readonly createdAt: string;
}

function isPostgres(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

/** Every regular file under the data directory except the database, the lock and temp files, as '/'-separated paths. */
function dataFiles(dataDir: string, under = dataDir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(under, { withFileTypes: true })) {
    const path = join(under, entry.name);
    const rel = relative(dataDir, path).split(sep).join('/');
    if (rel === DB_DIR || rel === LOCK_FILE || rel.startsWith(`${LOCK_FILE}.`) || entry.name.endsWith('.tmp')) continue;
    if (entry.isDirectory()) out.push(...dataFiles(dataDir, path));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

/** Locks the data directory, or says a running server has it and why that matters. */
function lockOrExplain(dataDir: string, code: ErrorCode, doing: string): DataDirLock {
  try {
    return lockDataDir(dataDir);
  } catch (err) {
    if (isServerError(err, ErrorCodes.DATA_DIR_LOCKED)) throw new HawserServerError(code, `cannot ${doing}: ${err.message}. ${WHY_STOPPED}`, { cause: err });
    throw err;
  }
}

/** Writes with the final mode from the start, then renames into place: never a world-readable or half-written secret. */
function writePrivate(path: string, data: Buffer, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * `hawser backup`: the data directory's secrets (CA key and certificate,
 * serving certificate, token signing key, admin token, the audit journal)
 * and the embedded database, in one file of mode 0600. With PostgreSQL
 * the database is left to pg_dump and the server may keep running; with
 * the embedded database the server must be stopped (WHY_STOPPED).
 */
export async function backupDataDir(opts: { dataDir: string; databaseUrl?: string | undefined; out: string }): Promise<BackupResult> {
  const dataDir = resolve(opts.dataDir);
  if (opts.databaseUrl?.startsWith('memory://')) {
    throw new HawserServerError(ErrorCodes.BACKUP_FAILED, 'an in-memory store (memory://) has nothing on disk to back up');
  }
  if (!existsSync(join(dataDir, DataFiles.CA_CERT))) {
    throw new HawserServerError(ErrorCodes.BACKUP_FAILED, `${dataDir} holds no ${DataFiles.CA_CERT}: is it the server's data directory (--data-dir, env HAWSER_DATA_DIR)?`);
  }
  if (existsSync(opts.out)) throw new HawserServerError(ErrorCodes.BACKUP_FAILED, `${opts.out} already exists: choose a new file name (a backup never overwrites one)`);
  const postgres = isPostgres(opts.databaseUrl);
  const lock = postgres ? undefined : lockOrExplain(dataDir, ErrorCodes.BACKUP_FAILED, 'back up the embedded database while the server runs');
  try {
    const names = dataFiles(dataDir);
    const files: BackupFile[] = names.map((path) => {
      const full = join(dataDir, path);
      const data = readFileSync(full);
      return { path, mode: statSync(full).mode & 0o777, sha256: sha256(data), data: data.toString('base64') };
    });
    let database: BackupDatabase;
    if (postgres) {
      database = { engine: 'postgres', note: 'the PostgreSQL database is not in this file: back it up with pg_dump and restore it with pg_restore' };
    } else {
      const dbDir = join(dataDir, DB_DIR);
      if (!existsSync(dbDir)) throw new HawserServerError(ErrorCodes.BACKUP_FAILED, `${dbDir} does not exist: if the server uses PostgreSQL, pass its --database-url (or HAWSER_DATABASE_URL) so only the secrets are backed up`);
      const { dumpPgliteDir } = await import('../store/pglite-driver.js');
      let archive: Buffer;
      try {
        archive = await dumpPgliteDir(dbDir);
      } catch (err) {
        throw new HawserServerError(ErrorCodes.BACKUP_FAILED, `the embedded database in ${dbDir} could not be read (damaged?): restore an earlier backup instead`, { cause: err });
      }
      database = { engine: 'pglite', archive: 'pglite-datadir-tar-gzip', sha256: sha256(archive), data: archive.toString('base64') };
    }
    const manifest: BackupManifest = { version: 1, createdAt: new Date().toISOString(), hawserVersion: SERVER_VERSION, dataDir, files, database };
    const bytes = encodeBackup(manifest);
    mkdirSync(dirname(resolve(opts.out)), { recursive: true });
    writePrivate(opts.out, bytes, 0o600);
    return { out: opts.out, bytes: bytes.length, files: names, engine: database.engine };
  } finally {
    lock?.release();
  }
}

/** Entries that mark a directory as a Hawser data directory (so --force never empties an unrelated one). */
function looksLikeDataDir(dataDir: string): boolean {
  return [DataFiles.CA_CERT, DataFiles.CA_KEY, DB_DIR, LOCK_FILE, DataFiles.ADMIN_TOKEN].some((name) => existsSync(join(dataDir, name)));
}

/**
 * `hawser restore`: writes a backup into a data directory. An empty or
 * missing directory is filled; a non-empty one is refused unless `force`,
 * and then only if it is a Hawser data directory no running server holds.
 * The backup is read and checked completely before anything is written.
 */
export async function restoreDataDir(opts: { dataDir: string; from: string; force?: boolean }): Promise<RestoreResult> {
  const dataDir = resolve(opts.dataDir);
  let bytes: Buffer;
  try {
    bytes = readFileSync(opts.from);
  } catch (err) {
    throw new HawserServerError(ErrorCodes.RESTORE_REFUSED, `cannot read the backup ${opts.from} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const manifest = decodeBackup(bytes, opts.from);
  if (existsSync(dataDir) && !statSync(dataDir).isDirectory()) {
    throw new HawserServerError(ErrorCodes.RESTORE_REFUSED, `${dataDir} exists and is not a directory: choose another --data-dir`);
  }
  const present = existsSync(dataDir) ? readdirSync(dataDir) : [];
  if (present.length > 0) {
    if (!opts.force) {
      throw new HawserServerError(
        ErrorCodes.RESTORE_REFUSED,
        `${dataDir} is not empty (${present.slice(0, 4).join(', ')}${present.length > 4 ? ', ...' : ''}): restoring replaces its CA, keys and database; pass --force to replace them, or restore into a new directory`,
      );
    }
    if (!looksLikeDataDir(dataDir)) {
      throw new HawserServerError(ErrorCodes.RESTORE_REFUSED, `${dataDir} does not look like a Hawser data directory (no ${DataFiles.CA_CERT}, ${DB_DIR}/ or ${LOCK_FILE}): refusing to empty it even with --force`);
    }
  }
  const lock = lockOrExplain(dataDir, ErrorCodes.RESTORE_REFUSED, `restore into ${dataDir} while a server runs on it`);
  try {
    for (const name of readdirSync(dataDir)) {
      if (name !== LOCK_FILE) rmSync(join(dataDir, name), { recursive: true, force: true });
    }
    for (const file of manifest.files) {
      const path = join(dataDir, ...file.path.split('/'));
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writePrivate(path, Buffer.from(file.data, 'base64'), file.mode & 0o777);
    }
    if (manifest.database.engine === 'pglite') {
      const { loadPgliteDir } = await import('../store/pglite-driver.js');
      await loadPgliteDir(join(dataDir, DB_DIR), Buffer.from(manifest.database.data, 'base64'));
    }
    return { dataDir, files: manifest.files.map((f) => f.path), engine: manifest.database.engine, createdAt: manifest.createdAt };
  } finally {
    lock.release();
  }
}
