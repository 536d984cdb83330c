import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, HawserServerError } from '../errors.js';

/** One sign-in, as `hawser login --oidc` leaves it for `hawser oidc-token`. */
export interface CachedSignIn {
  readonly issuer: string;
  readonly clientId: string;
  /** Kept so a refresh needs no discovery round trip. */
  readonly tokenEndpoint: string;
  readonly idToken: string;
  readonly refreshToken?: string | undefined;
}

/** `~/.kube/cache/hawser-oidc`, beside kubectl's own caches (kubelogin uses `oidc-login`). */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>>): string {
  return env.HAWSER_OIDC_CACHE_DIR ?? join(env.HOME ?? process.env.HOME ?? '.', '.kube', 'cache', 'hawser-oidc');
}

const LOCK_WAIT_MS = 15_000;
/** A lock older than this was left by a process that died mid-refresh. */
const LOCK_STALE_MS = 30_000;

/**
 * The token cache: one JSON file per issuer and client id, mode 0600 in a
 * 0700 directory (it holds a refresh token, which is a long-lived
 * credential). Writes replace the file in one rename. kubectl runs the exec
 * plugin once per process, and parallel kubectl commands may all find the
 * ID token stale at once: `withLock` serialises their refreshes, so a
 * provider that rotates refresh tokens never sees the old one twice.
 */
export class OidcTokenCache {
  readonly path: string;
  readonly #dir: string;

  constructor(dir: string, issuer: string, clientId: string) {
    this.#dir = dir;
    const key = createHash('sha256').update(`${issuer}\0${clientId}`).digest('hex').slice(0, 32);
    this.path = join(dir, `${key}.json`);
  }

  read(): CachedSignIn | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new HawserServerError(ErrorCodes.OIDC_LOGIN_REQUIRED, `cannot read the sign-in cache ${this.path}: ${(err as Error).message}`);
    }
    try {
      const doc = JSON.parse(text) as Partial<CachedSignIn>;
      if (typeof doc.idToken === 'string' && typeof doc.tokenEndpoint === 'string' && typeof doc.issuer === 'string' && typeof doc.clientId === 'string') return doc as CachedSignIn;
    } catch {
      // falls through: a damaged cache is the same as none
    }
    return undefined;
  }

  write(entry: CachedSignIn): void {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600 });
    // writeFileSync's mode applies only when it creates the file.
    chmodSync(temp, 0o600);
    renameSync(temp, this.path);
  }

  /** Runs `fn` holding the cache's lock file (O_EXCL), waiting for another holder. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx', 0o600));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = Date.now() - (statMs(lock) ?? Date.now());
        if (age > LOCK_STALE_MS) rmSync(lock, { force: true });
        else if (Date.now() > deadline) throw new HawserServerError(ErrorCodes.OIDC_LOGIN_REQUIRED, `another hawser process holds ${lock}; remove it if none is running`);
        else await delay(50);
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

function statMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
