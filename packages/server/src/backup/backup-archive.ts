import { createHash } from 'node:crypto';
import { isAbsolute, normalize } from 'node:path';
import { ErrorCodes, HawserServerError } from '../errors.js';

/**
 * The first line of every backup file. The number is the format version: a
 * reader refuses versions it does not know rather than guessing.
 */
export const BACKUP_HEADER = 'HAWSER-BACKUP';
export const BACKUP_VERSION = 1;

/** One file of the data directory, byte for byte, with its mode. */
export interface BackupFile {
  /** Relative to the data directory, '/'-separated. */
  readonly path: string;
  readonly mode: number;
  readonly sha256: string;
  /** base64 */
  readonly data: string;
}

/** The store's part: the embedded database's own archive, or a note that PostgreSQL is backed up elsewhere. */
export type BackupDatabase =
  | { readonly engine: 'pglite'; readonly archive: 'pglite-datadir-tar-gzip'; readonly sha256: string; readonly data: string }
  | { readonly engine: 'postgres'; readonly note: string };

/** Everything after the header line: one JSON document. */
export interface BackupManifest {
  readonly version: typeof BACKUP_VERSION;
  readonly createdAt: string;
  readonly hawserVersion: string;
  /** Where it was taken from (informational). */
  readonly dataDir: string;
  readonly files: readonly BackupFile[];
  readonly database: BackupDatabase;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The backup file's bytes: the header line, then the manifest as JSON. */
export function encodeBackup(manifest: BackupManifest): Buffer {
  return Buffer.from(`${BACKUP_HEADER} ${BACKUP_VERSION}\n${JSON.stringify(manifest)}\n`, 'utf8');
}

function invalid(source: string, why: string): HawserServerError {
  return new HawserServerError(ErrorCodes.RESTORE_REFUSED, `${source} is not a usable Hawser backup: ${why}`);
}

/**
 * Reads a backup file's bytes, checking the header, the version and every
 * checksum before anything is written, and that no file path leaves the
 * data directory.
 */
export function decodeBackup(bytes: Buffer, source: string): BackupManifest {
  const newline = bytes.indexOf(0x0a);
  const header = bytes.subarray(0, newline < 0 ? Math.min(bytes.length, 64) : newline).toString('utf8');
  const match = /^HAWSER-BACKUP (\d+)$/.exec(header);
  if (!match) throw invalid(source, `it does not start with "${BACKUP_HEADER} ${BACKUP_VERSION}"`);
  if (Number(match[1]) !== BACKUP_VERSION) {
    throw invalid(source, `it is format version ${match[1]}; this hawser reads version ${BACKUP_VERSION} (use the hawser release that wrote it, or a newer one)`);
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(bytes.subarray(newline + 1).toString('utf8')) as BackupManifest;
  } catch {
    throw invalid(source, 'its body is not complete JSON (truncated or damaged)');
  }
  if (!Array.isArray(manifest.files) || typeof manifest.database !== 'object' || manifest.database === null) throw invalid(source, 'it lacks the files or the database section');
  for (const file of manifest.files) {
    const path = normalize(String(file.path));
    if (isAbsolute(path) || path.startsWith('..') || path !== file.path) throw invalid(source, `it names a file outside the data directory (${JSON.stringify(file.path)})`);
    if (sha256(Buffer.from(file.data, 'base64')) !== file.sha256) throw invalid(source, `the checksum of ${file.path} does not match (damaged)`);
  }
  const db = manifest.database;
  if (db.engine === 'pglite' && sha256(Buffer.from(db.data, 'base64')) !== db.sha256) throw invalid(source, 'the checksum of the embedded database does not match (damaged)');
  return manifest;
}
