import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFiles } from './data-dir.js';
import { ErrorCodes, HawserServerError } from './errors.js';

/** What each file in the data directory must parse as, and what to do when it does not. */
const FILE_CHECKS: readonly { file: string; kind: 'certificate' | 'key' | 'certificates'; recover: string }[] = [
  {
    file: DataFiles.CA_KEY,
    kind: 'key',
    recover: `restore ${DataFiles.CA_KEY} and ${DataFiles.CA_CERT} from a backup ("hawser restore --from FILE"); without a backup, remove both to create a new CA, after which every agent must register again with a new bootstrap token`,
  },
  {
    file: DataFiles.CA_CERT,
    kind: 'certificate',
    recover: `restore ${DataFiles.CA_CERT} and ${DataFiles.CA_KEY} from a backup ("hawser restore --from FILE"); without a backup, remove both to create a new CA, after which every agent must register again with a new bootstrap token`,
  },
  {
    file: DataFiles.CA_TRUSTED,
    kind: 'certificates',
    recover: `restore it from a backup, or remove it if no CA rotation is under way`,
  },
  {
    file: DataFiles.SERVER_KEY,
    kind: 'key',
    recover: `remove ${DataFiles.SERVER_KEY} and ${DataFiles.SERVER_CERT}: the server issues a new serving certificate from its CA on the next start, and agents keep trusting it`,
  },
  {
    file: DataFiles.SERVER_CERT,
    kind: 'certificate',
    recover: `remove ${DataFiles.SERVER_CERT} and ${DataFiles.SERVER_KEY}: the server issues a new serving certificate from its CA on the next start, and agents keep trusting it`,
  },
  {
    file: DataFiles.TOKEN_SIGNING_KEY,
    kind: 'key',
    recover: `restore it from a backup ("hawser restore --from FILE"); without a backup, remove it to create a new one, after which bootstrap tokens minted earlier are no longer accepted (mint new ones with "hawser cluster token NAME")`,
  },
];

const PEM_CERTIFICATES = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** True when the file parses as `kind`; an errno code when it cannot be read at all. */
function parses(path: string, kind: 'certificate' | 'key' | 'certificates'): boolean | string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unreadable';
  }
  try {
    if (kind === 'key') createPrivateKey(text);
    else if (kind === 'certificate') new X509Certificate(text);
    else for (const pem of text.match(PEM_CERTIFICATES) ?? []) new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

/**
 * The data directory path itself cannot be used: not a directory, or not
 * readable/writable by this user. Undefined when the directory is fine.
 */
export function dataDirUnusable(dataDir: string, err?: unknown): HawserServerError | undefined {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  let why: string | undefined;
  if (existsSync(dataDir) && !statSync(dataDir).isDirectory()) why = 'exists but is not a directory';
  else if (errno === 'EACCES' || errno === 'EPERM') why = `cannot be read or written by this user (${errno})`;
  else if (errno === 'EROFS') why = 'is on a read-only file system (EROFS)';
  else if (errno === 'ENOTDIR' || errno === 'EEXIST') why = `is not a directory, or a parent of it is a file (${errno})`;
  else if (errno === 'ENOSPC') why = 'is on a full file system (ENOSPC)';
  if (!why) return undefined;
  return new HawserServerError(
    ErrorCodes.DATA_DIR_UNUSABLE,
    `the data directory ${dataDir} (--data-dir, env HAWSER_DATA_DIR) ${why}: point --data-dir at a directory the server's user can read and write (it is created if missing)`,
    { cause: err },
  );
}

/** Key files whose certificate must hold the same public key. */
const PAIRS: readonly { key: string; cert: string; recover: string }[] = [
  { key: DataFiles.CA_KEY, cert: DataFiles.CA_CERT, recover: FILE_CHECKS[0]!.recover },
  { key: DataFiles.SERVER_KEY, cert: DataFiles.SERVER_CERT, recover: FILE_CHECKS[3]!.recover },
];

function corrupt(path: string, what: string, recover: string, cause?: unknown): HawserServerError {
  return new HawserServerError(ErrorCodes.DATA_FILE_CORRUPT, `${path} in the data directory ${what}: ${recover}`, cause === undefined ? undefined : { cause });
}

/** The first secret file in `dataDir` that does not parse, or a key and certificate that do not belong together. */
function damagedFile(dataDir: string, cause?: unknown): HawserServerError | undefined {
  for (const check of FILE_CHECKS) {
    const path = join(dataDir, check.file);
    if (!existsSync(path)) continue;
    const parsed = parses(path, check.kind);
    if (typeof parsed === 'string') {
      return new HawserServerError(
        ErrorCodes.DATA_DIR_UNUSABLE,
        `${path} in the data directory cannot be read (${parsed}): it must be a regular file the server's user can read, mode 0600 (chown, chmod 600)`,
        cause === undefined ? undefined : { cause },
      );
    }
    if (!parsed) {
      const what = check.kind === 'key' ? 'a PEM private key' : check.kind === 'certificate' ? 'a PEM certificate' : 'PEM certificates';
      return corrupt(path, `is not ${what} (damaged or truncated)`, check.recover, cause);
    }
  }
  for (const pair of PAIRS) {
    const keyPath = join(dataDir, pair.key);
    const certPath = join(dataDir, pair.cert);
    if (!existsSync(keyPath) || !existsSync(certPath)) continue;
    const cert = new X509Certificate(readFileSync(certPath, 'utf8'));
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyPath, 'utf8')))) {
      return corrupt(keyPath, `does not belong to ${pair.cert} (one of them was replaced)`, pair.recover, cause);
    }
  }
  return undefined;
}

/**
 * Checks every secret file in the data directory before the server loads
 * them: a damaged serving key would otherwise surface only when the TLS
 * listener starts, as an OpenSSL decoder message naming no file.
 */
export function checkDataFiles(dataDir: string): void {
  if (!existsSync(dataDir)) return;
  const damaged = damagedFile(dataDir);
  if (damaged) throw damaged;
}

/**
 * Translates a failure to lock or load the data directory into a sentence
 * naming the path or the file and the way to recover. OpenSSL's decoder
 * messages ("error:1E08010C:DECODER routines::unsupported") never reach the
 * operator: every secret file is checked on its own to find the damaged
 * one. Errors already translated pass through unchanged.
 */
export function explainDataDirFailure(dataDir: string, err: unknown): unknown {
  const unusable = dataDirUnusable(dataDir, err);
  if (unusable) return unusable;
  if (err instanceof HawserServerError && err.code !== ErrorCodes.PKI_FAILED) return err;
  return damagedFile(dataDir, err) ?? err;
}
