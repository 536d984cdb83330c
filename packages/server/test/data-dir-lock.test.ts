import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../src/data-dir-lock.js';
import { isServerError } from '../src/errors.js';
import { tempDir } from './support/harness.js';
import { cliBuilt, listening, startServerProcess } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';

const cleanups: (() => void | Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dir(): string {
  const d = tempDir('hawser-lock-');
  cleanups.push(() => d.remove());
  return d.path;
}

function run(args: string[]): ServerProcess {
  const p = startServerProcess(args);
  cleanups.push(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  });
  return p;
}

describe('data directory lock', () => {
  it('refuses a second lock in the same process and frees it on release', () => {
    const d = dir();
    const first = lockDataDir(d);
    let caught: unknown;
    try {
      lockDataDir(d);
    } catch (err) {
      caught = err;
    }
    expect(isServerError(caught, 'HSR_ERR_DATA_DIR_LOCKED')).toBe(true);
    expect((caught as Error).message).toContain(`pid ${process.pid}`);
    first.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    lockDataDir(d).release();
  });

  it('takes over a lock whose process is gone', () => {
    const d = dir();
    // pid 2**22 + 1 is above Linux's pid_max default ceiling: never running.
    writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: 4194305, startedAt: '2026-01-01T00:00:00.000Z' }));
    const lock = lockDataDir(d);
    expect(lock.tookOverFrom).toEqual({ pid: 4194305, startedAt: '2026-01-01T00:00:00.000Z' });
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it.skipIf(!cliBuilt)(
    'a second hawser server on the same data directory refuses to start, naming the first one; after a kill -9 the next one takes over',
    async () => {
      const d = dir();
      const first = run(['--data-dir', d]);
      await first.waitFor(listening);

      const second = run(['--data-dir', d]);
      expect(await second.exited).toBe(1);
      expect(second.stderr()).toContain(`in use by another hawser server (pid ${first.pid}`);
      expect(second.stderr()).toContain('(HSR_ERR_DATA_DIR_LOCKED)');
      expect(second.stderr().trim().split('\n')).toHaveLength(1);

      first.child.kill('SIGKILL');
      await first.exited;
      const third = run(['--data-dir', d]);
      const took = await third.waitFor((l) => l.previousPid === first.pid);
      expect(String(took.msg)).toContain(`took over the data directory lock of pid ${first.pid}`);
      await third.waitFor(listening);
      third.child.kill('SIGTERM');
      expect(await third.exited).toBe(0);
      expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    },
    60_000,
  );
});
