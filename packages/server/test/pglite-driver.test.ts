import { describe, expect, it } from 'vitest';
import { openPgliteDriver } from '../src/store/pglite-driver.js';
import { sqlState, UNIQUE_VIOLATION } from '../src/store/sql-driver.js';

describe('embedded PGlite driver', () => {
  it('answers statements in order and carries the SQLSTATE of a failure', async () => {
    const db = await openPgliteDriver(undefined);
    try {
      await db.exec('CREATE TABLE t (k text PRIMARY KEY, n int NOT NULL)');
      await db.query('INSERT INTO t VALUES ($1, $2)', ['a', 1]);
      const err = await db.query('INSERT INTO t VALUES ($1, $2)', ['a', 2]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(sqlState(err)).toBe(UNIQUE_VIOLATION);
      expect((err as Error).message).toMatch(/duplicate key/);
      // Dates and jsonb come back as they do from PostgreSQL.
      const [row] = await db.query<{ at: Date; j: { x: number } }>(`SELECT now() AS at, '{"x":1}'::jsonb AS j`);
      expect(row!.at).toBeInstanceOf(Date);
      expect(row!.j).toEqual({ x: 1 });
    } finally {
      await db.close();
    }
  }, 60_000);

  it('runs a statement issued during a transaction after it, and rolls a failed transaction back whole', async () => {
    const db = await openPgliteDriver(undefined);
    try {
      await db.exec('CREATE TABLE t (k text PRIMARY KEY)');
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const tx = db.transaction(async (q) => {
        await q.query('INSERT INTO t VALUES ($1)', ['in-tx']);
        await held;
        throw new Error('changed my mind');
      });
      // Issued while the transaction is open: must not run inside it.
      const outside = db.query('INSERT INTO t VALUES ($1)', ['outside']);
      release();
      await expect(tx).rejects.toThrow('changed my mind');
      await outside;
      expect((await db.query<{ k: string }>('SELECT k FROM t ORDER BY k')).map((r) => r.k)).toEqual(['outside']);
    } finally {
      await db.close();
    }
  }, 60_000);
});
