import { join } from 'node:path';
import type { SqlDriver } from './sql-driver.js';
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
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) {
    const { openPostgresDriver } = await import('./postgres-driver.js');
    driver = await openPostgresDriver(url);
  } else {
    const { openPgliteDriver } = await import('./pglite-driver.js');
    driver = await openPgliteDriver(url?.startsWith('memory://') ? undefined : join(location.dataDir, 'db'));
  }
  try {
    await migrate(driver);
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
  return new SqlStore(driver);
}
