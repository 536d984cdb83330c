import pg from 'pg';
import type { SqlDriver, SqlQueryable } from './sql-driver.js';

/** Options of {@link openPostgresDriver}. */
export interface PostgresDriverOptions {
  /** Pool size. Default 10. */
  maxConnections?: number;
}

/** PostgreSQL through a `pg` connection pool; the engine for several replicas. */
export async function openPostgresDriver(url: string, options: PostgresDriverOptions = {}): Promise<SqlDriver> {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
  // An idle client that loses its connection emits 'error' on the pool; an
  // unhandled 'error' would crash the process, and the next query reconnects.
  pool.on('error', () => undefined);
  // Fail at start-up, with the real reason, rather than on the first request.
  const probe = await pool.connect();
  probe.release();
  const on = (client: pg.Pool | pg.PoolClient): SqlQueryable => ({
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      const result = await client.query(sql, [...params]);
      return result.rows as T[];
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
  });
  const plain = on(pool);
  return {
    engine: 'postgres',
    query: plain.query,
    exec: plain.exec,
    async transaction<T>(fn: (q: SqlQueryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(on(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
