/**
 * The seam between the store and a database engine. Both engines speak the
 * PostgreSQL dialect, so the store's SQL is written once and each driver
 * only knows how to send it.
 */
export interface SqlQueryable {
  /** One parameterised statement; rows come back with timestamptz as Date and jsonb parsed. */
  query<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** One or more statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export const SqlEngines = { PGLITE: 'pglite', POSTGRES: 'postgres' } as const;
export type SqlEngine = (typeof SqlEngines)[keyof typeof SqlEngines];

export interface SqlDriver extends SqlQueryable {
  readonly engine: SqlEngine;
  /** Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (q: SqlQueryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** PostgreSQL's SQLSTATE for a unique-constraint violation. */
export const UNIQUE_VIOLATION = '23505';

/** The SQLSTATE of a database error, whatever the driver. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
