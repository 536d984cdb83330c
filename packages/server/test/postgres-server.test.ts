import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../../test/support/postgres.js';
import type { TestPostgres } from '../../../test/support/postgres.js';
import { addCluster, httpsJson, openTunnel, register, registeredAgent, startServer, tempDir } from './support/harness.js';
import type { Harness } from './support/harness.js';

describe('server on PostgreSQL', () => {
  let postgres: TestPostgres;
  let h: Harness;
  let second: Harness | undefined;
  const secondDir = tempDir();

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase('server_e2e');
    h = await startServer({ databaseUrl: url }, { tunnelHandler: { open: () => undefined } });
  }, 60_000);

  afterAll(async () => {
    await second?.stop();
    await h?.stop();
    await postgres?.stop();
    secondDir.remove();
  });

  it('lets exactly one of two agents racing with one token register', async () => {
    const added = await addCluster(h, 'pg-race');
    const results = await Promise.all([register(h, added.bootstrap.token), register(h, added.bootstrap.token)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const refused = await h.server.context.store.listAuditEvents({ type: 'token.refused' });
    expect(refused.map((e) => e.reason)).toContain('replayed');
  });

  it('registers, tunnels and deregisters with the same behaviour as on PGlite', async () => {
    const agent = await registeredAgent(h, 'pg-life');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    if (out.kind !== 'open') throw new Error('tunnel not opened');
    const closed = new Promise<number>((resolve) => out.ws.once('close', (code) => resolve(code)));
    const rm = await httpsJson(`${h.publicUrl}/api/v1/clusters/pg-life`, { method: 'DELETE', ca: h.ca, token: h.adminToken });
    expect(rm.status).toBe(200);
    expect(await closed).toBe(4403);
  });

  it('starts a second replica on the same database and data dir secrets without re-running migrations', async () => {
    const { cpSync } = await import('node:fs');
    // Replicas share the CA, signing key and admin token (one Secret in Kubernetes).
    cpSync(h.dataDir, secondDir.path, { recursive: true });
    second = await startServer({ dataDir: secondDir.path, databaseUrl: h.server.config.databaseUrl! });
    const list = await httpsJson<{ clusters: { name: string }[] }>(`${second.publicUrl}/api/v1/clusters`, {
      ca: second.ca,
      token: second.adminToken,
    });
    expect(list.status).toBe(200);
    expect(list.body.clusters.map((c) => c.name)).toContain('pg-race');
  });
});
