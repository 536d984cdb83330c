import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import type { SqlDriver, SqlQueryable } from './sql-driver.js';

function wrap(db: PGlite | Transaction): SqlQueryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      const result = await db.query<T>(sql, [...params]);
      return result.rows;
    },
    async exec(sql: string): Promise<void> {
      await db.exec(sql);
    },
  };
}

/**
 * PostgreSQL settings for the embedded store, after PGlite's own.
 *
 * Why: PGlite keeps PostgreSQL's default shared_buffers of 128 MB, which
 * grows its WASM memory from the 128 MiB it starts with to 188 MiB, and
 * PostgreSQL touches all of it at start: +140 MiB of RSS on an idle server
 * whose tables (clusters, tokens, audit events) are a few MB and are also
 * in the OS page cache under the data directory. 16 MB keeps the memory at
 * its initial size (measured: Node 24, an existing data dir, RSS 457 -> 317
 * MiB; docs/operations.md, "Memory"). wal_buffers follows (1/32: 512 kB).
 */
export const PGLITE_SETTINGS = ['shared_buffers=16MB'] as const;

/**
 * Embedded PostgreSQL (PGlite, WASM) in a data directory, or in memory when
 * `dataDir` is undefined. One process owns the directory: PGlite is for a
 * single replica; several replicas need PostgreSQL.
 */
export async function openPgliteDriver(dataDir: string | undefined): Promise<SqlDriver> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const options = { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((s) => ['-c', s])] };
  const db = dataDir === undefined ? new PGlite(options) : new PGlite(dataDir, options);
  await db.waitReady;
  const plain = wrap(db);
  // PGlite runs one statement at a time on one connection; serialising
  // transactions here keeps a query issued outside a transaction from
  // interleaving with one inside it.
  let chain: Promise<unknown> = Promise.resolve();
  return {
    engine: 'pglite',
    query: (sql, params) => chain.then(() => plain.query(sql, params)),
    exec: (sql) => chain.then(() => plain.exec(sql)),
    transaction<T>(fn: (q: SqlQueryable) => Promise<T>): Promise<T> {
      const run = chain.then(() => db.transaction((tx) => fn(wrap(tx))));
      chain = run.catch(() => undefined);
      return run;
    },
    async close(): Promise<void> {
      await chain.catch(() => undefined);
      await db.close();
    },
  };
}

/**
 * A consistent copy of an embedded database directory, as PGlite's own
 * gzipped tar: the caller holds the data directory lock, so no server
 * writes while the database is opened, checkpointed and dumped.
 */
export async function dumpPgliteDir(dataDir: string): Promise<Buffer> {
  const db = new PGlite(dataDir);
  try {
    await db.waitReady;
    const dump = await db.dumpDataDir('gzip');
    return Buffer.from(await dump.arrayBuffer());
  } finally {
    await db.close().catch(() => undefined);
  }
}

/** Unpacks a {@link dumpPgliteDir} archive into an empty `dataDir` and checks it opens. */
export async function loadPgliteDir(dataDir: string, archive: Buffer): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new PGlite(dataDir, { loadDataDir: new Blob([new Uint8Array(archive)]) });
  try {
    await db.waitReady;
    await db.query('SELECT 1');
  } finally {
    await db.close().catch(() => undefined);
  }
}
