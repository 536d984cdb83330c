/**
 * Bytes one audit event costs in the store, to size audit retention
 * (docs/operations.md, "Audit retention"): inserts N representative
 * request.relayed rows (the event nearly every row is) into embedded PGlite
 * on disk and into a throw-away PostgreSQL, and reports the growth of the
 * table with its indexes and TOAST (pg_total_relation_size), and for PGlite
 * also of its data directory on disk.
 * `npm run bench:audit-storage [-- --n 20000]`
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrate } from '../packages/server/src/store/migrations.js';
import { openPgliteDriver } from '../packages/server/src/store/pglite-driver.js';
import { openPostgresDriver } from '../packages/server/src/store/postgres-driver.js';
import type { SqlDriver } from '../packages/server/src/store/sql-driver.js';
import { SqlStore } from '../packages/server/src/store/sql-store.js';
import type { AuditEventRecord } from '../packages/server/src/store/store.js';
import { startPostgres } from '../test/support/postgres.js';

const { values } = parseArgs({ options: { n: { type: 'string' } } });
const total = Number(values.n ?? 20_000);

function relayed(i: number): AuditEventRecord {
  return {
    id: randomUUID(),
    time: new Date(Date.now() - i * 1000),
    type: 'request.relayed',
    actor: 'alice@example.com',
    clusterId: randomUUID(),
    requestId: randomUUID(),
    sourceIp: '10.1.2.3',
    outcome: 'success',
    reason: null,
    details: {
      cluster: 'prod-eu-1',
      groups: ['platform-team', 'oncall'],
      tier: 'write',
      verb: 'list',
      resource: 'pods',
      subresource: null,
      namespace: 'payments',
      name: null,
      path: '/api/v1/namespaces/payments/pods',
      status: 200,
      bytes: 48_213,
      durationMs: 12,
    },
  };
}

function du(dir: string): number {
  let sum = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    sum += entry.isDirectory() ? du(p) : statSync(p).size;
  }
  return sum;
}

async function measure(name: string, driver: SqlDriver, disk?: () => number): Promise<void> {
  await migrate(driver);
  const store = new SqlStore(driver);
  const size = async (): Promise<number> => {
    await driver.exec('CHECKPOINT');
    const [row] = await driver.query<{ n: string | number }>(`SELECT pg_total_relation_size('audit_events') AS n`);
    return Number(row!.n);
  };
  const before = await size();
  const diskBefore = disk?.() ?? 0;
  for (let i = 0; i < total; i += 500) await store.insertAuditEvents(Array.from({ length: Math.min(500, total - i) }, (_, k) => relayed(i + k)));
  const grown = (await size()) - before;
  let line = `${name}: ${total} request.relayed events; table + indexes + TOAST +${(grown / 1e6).toFixed(1)} MB = ${(grown / total).toFixed(0)} B/event`;
  if (disk) {
    const diskGrown = disk() - diskBefore;
    line += `; data directory on disk +${(diskGrown / 1e6).toFixed(1)} MB = ${(diskGrown / total).toFixed(0)} B/event (WAL included)`;
  }
  console.log(line);
  await store.close();
}

const dir = mkdtempSync(join(tmpdir(), 'hawser-audit-storage-'));
try {
  await measure('PGlite (embedded)', await openPgliteDriver(join(dir, 'db')), () => du(join(dir, 'db')));
  const pg = await startPostgres();
  try {
    await measure('PostgreSQL', await openPostgresDriver(await pg.createDatabase('audit_storage')));
  } finally {
    await pg.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
