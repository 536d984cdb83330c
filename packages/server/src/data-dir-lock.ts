import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCodes, HawserServerError } from './errors.js';

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'hawser.lock';

/** What the lock file holds: who owns the data directory, since when. */
export interface LockOwner {
  readonly pid: number;
  readonly startedAt: string;
  readonly hostname?: string;
}

/**
 * Data directories this process holds. A lock naming our own pid that is
 * not in here was left by an earlier process that had the same pid: a
 * container restarts its server as pid 1 every time.
 */
const heldHere = new Set<string>();

function readOwner(path: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0
      ? { pid: parsed.pid, startedAt: String(parsed.startedAt ?? 'unknown') }
      : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The held lock; `release()` removes the file (idempotent). */
export interface DataDirLock {
  readonly path: string;
  /** Set when a stale lock was taken over: its previous owner. */
  readonly tookOverFrom: LockOwner | undefined;
  release(): void;
}

/**
 * Locks `dataDir` for this process: two servers on one data directory would
 * both run migrations, both write the embedded database and lose each
 * other's rows. The lock file is created atomically (a private temp file
 * hard-linked into place, which fails if the name exists), so it either
 * holds a complete owner record or does not exist.
 *
 * A lock whose pid is dead (a crash or `kill -9`) is taken over. The
 * takeover renames the stale file aside first; only the one process whose
 * rename moved the stale owner's record wins, so two servers racing for a
 * stale lock cannot both start.
 *
 * Throws HSR_ERR_DATA_DIR_LOCKED naming the live owner.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, startedAt: new Date().toISOString() };
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, JSON.stringify(me) + '\n', { mode: 0o600 });
  let tookOverFrom: LockOwner | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const owner = readOwner(path);
      const stale = owner === undefined || (owner.pid === process.pid ? !heldHere.has(dir) : !alive(owner.pid));
      if (!stale) {
        throw new HawserServerError(
          ErrorCodes.DATA_DIR_LOCKED,
          `data directory ${dir} is in use by another hawser server (pid ${owner.pid}, started ${owner.startedAt}); stop it first, or give this server its own --data-dir`,
        );
      }
      const aside = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else took it: look again
        throw err;
      }
      const moved = readOwner(aside);
      if (owner && (moved?.pid !== owner.pid || moved.startedAt !== owner.startedAt)) {
        // Our rename moved a lock another process had just created: put it back.
        try {
          linkSync(aside, path);
        } catch {
          /* a third process holds it now */
        }
        unlinkSync(aside);
        const now = readOwner(path);
        throw new HawserServerError(
          ErrorCodes.DATA_DIR_LOCKED,
          `data directory ${dir} is in use by another hawser server (pid ${now?.pid ?? moved?.pid ?? 'unknown'}); stop it first, or give this server its own --data-dir`,
        );
      }
      unlinkSync(aside);
      tookOverFrom = owner ?? { pid: 0, startedAt: 'unknown (unreadable lock file)' };
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
  heldHere.add(dir);
  let released = false;
  return {
    path,
    tookOverFrom,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(dir);
      // Only our own lock: never remove one a successor took over.
      if (readOwner(path)?.pid === me.pid && readOwner(path)?.startedAt === me.startedAt) {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      }
    },
  };
}
