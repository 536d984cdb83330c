import { join } from 'node:path';
import { ErrorCodes, isServerError } from '../errors.js';
import type { SqlDriver } from './sql-driver.js';
import { databaseUnreachable, embeddedDatabaseCorrupt } from './store-errors.js';
import type { Store, StoreLocation } from './store.js';

/**
 * Opens the store the config asks for and brings its schema up to date:
 * `postgres://` -> PostgreSQL, `memory://` -> in-memory PGlite, unset ->
 * PGlite in `<dataDir>/db`.
 */
export async function openStore(location: StoreLocation): Promise<Store> {
  // Engines load lazily: PGlite brings a large WASM module that a PostgreSQL
  // deployment should never pay for, and the CLI's client commands need neither.
  const [{ SqlStore }, { migrate }] = await Promise.all([import('./sql-store.js'), import('./migrations.js')]);
  let driver: SqlDriver;
  const url = location.databaseUrl;
  const postgres = url !== undefined && /^postgres(ql)?:\/\//.test(url);
  const dbDir = url?.startsWith('memory://') ? undefined : join(location.dataDir, 'db');
  try {
    if (postgres) {
      const { openPostgresDriver } = await import('./postgres-driver.js');
      driver = await openPostgresDriver(url);
    } else {
      const { openPgliteDriver } = await import('./pglite-driver.js');
      driver = await openPgliteDriver(dbDir);
    }
  } catch (err) {
    throw openFailure(err, postgres ? url : undefined, dbDir);
  }
  try {
    await migrate(driver);
  } catch (err) {
    await driver.close().catch(() => undefined);
    // A damaged embedded database can open and then fail on its first query.
    // (A migration error with a cause came from the database; one without is our own version check.)
    const fromDatabase = !isServerError(err) || (err.code === ErrorCodes.MIGRATION_FAILED && err.cause !== undefined);
    if (!postgres && dbDir !== undefined && fromDatabase) throw embeddedDatabaseCorrupt(dbDir, err);
    throw err;
  }
  return new SqlStore(driver);
}

/** What opening the store failed on, in the operator's terms (store-errors.ts). */
function openFailure(err: unknown, postgresUrl: string | undefined, dbDir: string | undefined): unknown {
  if (isServerError(err)) return err;
  if (postgresUrl !== undefined) return databaseUnreachable(postgresUrl, err);
  if (dbDir === undefined) return err;
  return embeddedDatabaseCorrupt(dbDir, err);
}
