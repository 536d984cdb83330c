import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../../test/support/postgres.js';
import type { TestPostgres } from '../../../test/support/postgres.js';
import { isServerError, MIGRATIONS, migrate, openStore } from '../src/index.js';
import type { Store } from '../src/index.js';
import { openPgliteDriver } from '../src/store/pglite-driver.js';
import { openPostgresDriver } from '../src/store/postgres-driver.js';
import { tempDir } from './support/harness.js';

let postgres: TestPostgres;
const pgliteDir = tempDir('hawser-store-');

beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);

afterAll(async () => {
  await postgres?.stop();
  pgliteDir.remove();
});

const engines = [
  { engine: 'pglite', open: () => openStore({ databaseUrl: undefined, dataDir: pgliteDir.path }) },
  {
    engine: 'postgres',
    open: async () => openStore({ databaseUrl: await postgres.createDatabase('store_behaviour'), dataDir: '/nonexistent' }),
  },
] as const;

describe.each(engines)('store on $engine', ({ engine, open }) => {
  let store: Store;

  beforeAll(async () => {
    store = await open();
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  it('reports the engine it runs on', () => {
    expect(store.engine).toBe(engine);
  });

  it('creates a cluster and finds it by id and by name with its labels', async () => {
    const created = await store.createCluster({ name: 'alpha', labels: { env: 'prod', 'team.example/owner': 'sre' } });
    expect(created.status).toBe('active');
    expect(created.lastSeen).toBeNull();
    expect((await store.getCluster(created.id))?.labels).toEqual({ env: 'prod', 'team.example/owner': 'sre' });
    expect((await store.getClusterByName('alpha'))?.id).toBe(created.id);
    expect(await store.getCluster('not-a-uuid')).toBeUndefined();
    expect(await store.getClusterByName('missing')).toBeUndefined();
  });

  it('refuses a second active cluster with the same name and allows the name again after deregistration', async () => {
    const first = await store.createCluster({ name: 'beta' });
    await expect(store.createCluster({ name: 'beta' })).rejects.toSatisfy((err) => isServerError(err, 'HSR_ERR_CLUSTER_EXISTS'));
    expect(await store.deregisterCluster(first.id)).toEqual({ revokedSerials: [] });
    const second = await store.createCluster({ name: 'beta' });
    expect(second.id).not.toBe(first.id);
    const all = await store.listClusters({ includeDeregistered: true });
    expect(all.filter((c) => c.name === 'beta').map((c) => c.status).sort()).toEqual(['active', 'deregistered']);
    expect((await store.listClusters()).filter((c) => c.name === 'beta')).toHaveLength(1);
  });

  it('consumes a bootstrap token exactly once when ten callers race', async () => {
    const cluster = await store.createCluster({ name: 'race' });
    const jti = randomUUID();
    await store.insertBootstrapToken({ jti, clusterId: cluster.id, expiresAt: new Date(Date.now() + 60_000) });
    const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeBootstrapToken(jti, cluster.id)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.reason)).toEqual(Array(9).fill('replayed'));
    expect((await store.getBootstrapToken(jti))?.usedAt).toBeInstanceOf(Date);
  });

  it('says why a token cannot be consumed: unknown, wrong cluster, expired', async () => {
    const a = await store.createCluster({ name: 'token-a' });
    const b = await store.createCluster({ name: 'token-b' });
    const live = randomUUID();
    const expired = randomUUID();
    await store.insertBootstrapToken({ jti: live, clusterId: a.id, expiresAt: new Date(Date.now() + 60_000) });
    await store.insertBootstrapToken({ jti: expired, clusterId: a.id, expiresAt: new Date(Date.now() - 1000) });
    expect(await store.consumeBootstrapToken('nope', a.id)).toEqual({ ok: false, reason: 'unknown-token' });
    expect(await store.consumeBootstrapToken(live, b.id)).toEqual({ ok: false, reason: 'wrong-cluster' });
    expect(await store.consumeBootstrapToken(expired, a.id)).toEqual({ ok: false, reason: 'expired' });
    expect((await store.consumeBootstrapToken(live, a.id)).ok).toBe(true);
  });

  it('revokes every certificate and expires unused tokens when a cluster is deregistered', async () => {
    const cluster = await store.createCluster({ name: 'gamma' });
    const now = Date.now();
    for (const serial of ['a1', 'a2']) {
      await store.recordCertificate({
        serial,
        clusterId: cluster.id,
        fingerprint: `fp-${serial}-${engine}`,
        notBefore: new Date(now),
        notAfter: new Date(now + (serial === 'a1' ? 1 : 2) * 86_400_000),
      });
    }
    // The cluster shows the expiry of its newest unrevoked certificate.
    expect((await store.getCluster(cluster.id))?.certificateNotAfter?.getTime()).toBe(now + 2 * 86_400_000);
    const jti = randomUUID();
    await store.insertBootstrapToken({ jti, clusterId: cluster.id, expiresAt: new Date(now + 60_000) });
    const result = await store.deregisterCluster(cluster.id);
    expect(result?.revokedSerials.sort()).toEqual(['a1', 'a2']);
    expect((await store.listCertificates(cluster.id)).every((c) => c.revokedAt instanceof Date)).toBe(true);
    expect((await store.getCertificateByFingerprint(`fp-a1-${engine}`))?.revokedAt).toBeInstanceOf(Date);
    expect(await store.consumeBootstrapToken(jti, cluster.id)).toEqual({ ok: false, reason: 'expired' });
    expect(await store.deregisterCluster(cluster.id)).toBeUndefined();
    const after = await store.getCluster(cluster.id);
    expect(after?.status).toBe('deregistered');
    expect(after?.deregisteredAt).toBeInstanceOf(Date);
    expect(after?.certificateNotAfter).toBeNull();
  });

  it('keeps agent info and last seen', async () => {
    const cluster = await store.createCluster({ name: 'delta' });
    await store.updateAgentInfo(cluster.id, { agentVersion: '0.1.0', kubernetesVersion: 'v1.35.0', clusterUid: 'uid-1' });
    await store.updateAgentInfo(cluster.id, { agentVersion: '0.2.0' });
    const seen = new Date('2026-11-22T10:00:00Z');
    await store.touchLastSeen(cluster.id, seen);
    const after = await store.getCluster(cluster.id);
    expect(after).toMatchObject({ agentVersion: '0.2.0', kubernetesVersion: 'v1.35.0', clusterUid: 'uid-1', lastSeen: seen });
    const later = new Date('2026-11-22T10:01:00Z');
    await store.touchLastSeenMany([cluster.id, 'not-a-uuid'], later);
    expect((await store.getCluster(cluster.id))?.lastSeen).toEqual(later);
  });

  it('finds API tokens by hash only while unrevoked and unexpired', async () => {
    await store.insertApiToken({ id: 't1', hash: `h1-${engine}`, user: 'admin', groups: ['hawser:admins'], expiresAt: null });
    await store.insertApiToken({ id: 't2', hash: `h2-${engine}`, user: 'old', groups: [], expiresAt: new Date(Date.now() - 1000) });
    // Same hash again is a no-op (the admin token is re-registered on every start).
    await store.insertApiToken({ id: 't3', hash: `h1-${engine}`, user: 'admin', groups: ['hawser:admins'], expiresAt: null });
    expect(await store.findApiTokenByHash(`h1-${engine}`)).toMatchObject({ id: 't1', user: 'admin', groups: ['hawser:admins'] });
    expect(await store.findApiTokenByHash(`h2-${engine}`)).toBeUndefined();
  });

  it('stores audit events with the fixed schema and filters them', async () => {
    const cluster = await store.createCluster({ name: 'epsilon' });
    const event = {
      id: randomUUID(),
      time: new Date(),
      type: 'cluster.added',
      actor: 'admin',
      clusterId: cluster.id,
      requestId: 'r1',
      sourceIp: '127.0.0.1',
      outcome: 'success' as const,
      reason: null,
      details: { name: 'epsilon' },
    };
    await store.insertAuditEvent(event);
    const events = await store.listAuditEvents({ clusterId: cluster.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({ ...event, time: expect.any(Date) });
    expect(await store.listAuditEvents({ type: 'no.such.type' })).toEqual([]);
  });
});

describe('migrations', () => {
  it('are idempotent: a second run applies nothing (PGlite reopened from its data dir)', async () => {
    const dir = tempDir('hawser-migrate-');
    try {
      const first = await openPgliteDriver(dir.path);
      expect(await migrate(first)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(first)).toEqual([]);
      await first.close();
      const again = await openPgliteDriver(dir.path);
      expect(await migrate(again)).toEqual([]);
      await again.close();
    } finally {
      dir.remove();
    }
  }, 60_000);

  it('are applied exactly once when four replicas start at once on PostgreSQL', async () => {
    const url = await postgres.createDatabase('migrate_concurrent');
    const drivers = await Promise.all(Array.from({ length: 4 }, () => openPostgresDriver(url, { maxConnections: 2 })));
    try {
      const applied = await Promise.all(drivers.map((d) => migrate(d)));
      expect(applied.filter((a) => a.length > 0)).toEqual([MIGRATIONS.map((m) => m.version)]);
      const rows = await drivers[0]!.query<{ version: number }>('SELECT version FROM hawser_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(drivers[1]!)).toEqual([]);
    } finally {
      await Promise.all(drivers.map((d) => d.close()));
    }
  });

  it('refuse to run against a schema newer than the server knows', async () => {
    const url = await postgres.createDatabase('migrate_newer');
    const driver = await openPostgresDriver(url);
    try {
      await migrate(driver);
      await driver.query(`INSERT INTO hawser_migrations (version, name) VALUES (999, 'from the future')`);
      await expect(migrate(driver)).rejects.toThrow(/schema version 999 is newer/);
    } finally {
      await driver.close();
    }
  });

  it('roll back a failing migration completely', async () => {
    const url = await postgres.createDatabase('migrate_rollback');
    const driver = await openPostgresDriver(url);
    try {
      const broken = [...MIGRATIONS, { version: 2, name: 'broken', sql: 'CREATE TABLE half (id int); SELECT no_such_function();' }];
      await expect(migrate(driver, broken)).rejects.toSatisfy((err) => isServerError(err, 'HSR_ERR_MIGRATION_FAILED'));
      const tables = await driver.query<{ n: string }>(`SELECT count(*) AS n FROM pg_tables WHERE tablename IN ('half', 'clusters')`);
      expect(Number(tables[0]!.n)).toBe(0);
    } finally {
      await driver.close();
    }
  });
});
