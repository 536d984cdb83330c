import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/cli-main.js';
import { loadOrCreateSecrets } from '../src/data-dir.js';
import { lockDataDir } from '../src/data-dir-lock.js';
import { addCluster, httpsJson, openTunnel, registeredAgent, startServer, tempDir, type Harness, type Registered } from './support/harness.js';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {} });
  return { code, stdout, stderr };
}

/** What an operator would compare: clusters, API tokens and audit events, as the admin API lists them. */
async function inventory(h: Harness): Promise<{ clusters: unknown[]; tokens: unknown[]; audit: unknown[] }> {
  const get = async (path: string) => (await httpsJson<Record<string, unknown[]>>(`${h.publicUrl}/api/v1${path}`, { ca: h.ca, token: h.adminToken })).body;
  const clusters = (await get('/clusters')).clusters!.map((c) => {
    const { id, name, status, labels } = c as Record<string, unknown>;
    return { id, name, status, labels };
  });
  const tokens = (await get('/tokens')).tokens!;
  const audit = (await get('/audit?since=24h&limit=10000')).events!.map((e) => (e as { id: string }).id).sort();
  return { clusters, tokens, audit };
}

describe('hawser backup and restore of the embedded store and the data directory secrets', { timeout: 600_000 }, () => {
  const dir = tempDir('hawser-backup-');
  const source = join(dir.path, 'source');
  const fresh = join(dir.path, 'fresh');
  const file = join(dir.path, 'hawser.backup');
  let before: Awaited<ReturnType<typeof inventory>>;
  let agent: Registered;
  let caHash: string;

  beforeAll(async () => {
    const h = await startServer({ dataDir: source, databaseUrl: undefined });
    try {
      agent = await registeredAgent(h, 'alpha');
      await addCluster(h, 'beta', { labels: { env: 'prod' } });
      const token = await httpsJson(`${h.publicUrl}/api/v1/tokens`, { method: 'POST', ca: h.ca, token: h.adminToken, body: { user: 'alice', groups: ['sre'] } });
      expect(token.status).toBe(201);
      before = await inventory(h);
      caHash = h.server.context.ca.caHash;
      // The server runs: the embedded database cannot be copied consistently, and the refusal says why.
      const refused = await run(['backup', '--out', file, '--data-dir', source]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/cannot back up the embedded database while the server runs: data directory .* is in use by another hawser server \(pid \d+/);
      expect(refused.stderr).toContain('a copy taken while the server writes could be torn; stop the server');
      expect(refused.stderr).toContain('(HSR_ERR_BACKUP_FAILED)');
    } finally {
      await h.stop();
    }
  }, 600_000);
  afterAll(() => dir.remove());

  it('had clusters, API tokens and audit events to lose', () => {
    expect(before.clusters.map((c) => (c as { name: string }).name).sort()).toEqual(['alpha', 'beta']);
    expect(before.tokens.map((t) => (t as { user: string }).user)).toContain('alice');
    expect(before.audit.length).toBeGreaterThanOrEqual(5);
  });

  it('writes one file of mode 0600 that starts with its format and version', async () => {
    const res = await run(['backup', '--out', file, '--data-dir', source]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^wrote .*hawser\.backup \(\d+ bytes, mode 0600\): \d+ files and the embedded database\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text.slice(0, text.indexOf('\n'))).toBe('HAWSER-BACKUP 1');
    const manifest = JSON.parse(text.slice(text.indexOf('\n') + 1)) as { files: { path: string }[]; database: { engine: string } };
    expect(manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining(['admin-token', 'ca.crt', 'ca.key', 'server.crt', 'server.key', 'token-signing-key.pem']));
    expect(manifest.database.engine).toBe('pglite');
    // Never overwrites an earlier backup.
    const again = await run(['backup', '--out', file, '--data-dir', source]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists: choose a new file name');
  });

  it('refuses to restore onto a data directory that is not empty, unless --force', async () => {
    const res = await run(['restore', '--from', file, '--data-dir', source]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/is not empty \(.*\): restoring replaces its CA, keys and database; pass --force to replace them, or restore into a new directory \(HSR_ERR_RESTORE_REFUSED\)/);
    const forced = await run(['restore', '--from', file, '--data-dir', source, '--force']);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
  });

  it('refuses a damaged backup before writing anything', async () => {
    const damaged = join(dir.path, 'damaged.backup');
    writeFileSync(damaged, readFileSync(file).subarray(0, 2000));
    const res = await run(['restore', '--from', damaged, '--data-dir', join(dir.path, 'never')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/damaged\.backup is not a usable Hawser backup: its body is not complete JSON/);
    const foreign = join(dir.path, 'foreign.backup');
    writeFileSync(foreign, 'HAWSER-BACKUP 9\n{}\n');
    expect((await run(['restore', '--from', foreign, '--data-dir', join(dir.path, 'never')])).stderr).toContain('it is format version 9; this hawser reads version 1');
  });

  it('restores onto a fresh data directory: the server starts with every cluster, token and audit event, and the agent certificate still verifies', async () => {
    const res = await run(['restore', '--from', file, '--data-dir', fresh]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(statSync(join(fresh, 'ca.key')).mode & 0o777).toBe(0o600);
    const h = await startServer({ dataDir: fresh, databaseUrl: undefined });
    try {
      const after = await inventory(h);
      expect(after.clusters).toEqual(before.clusters);
      expect(after.tokens).toEqual(before.tokens);
      // Every event from before is there (starting the server may add its own).
      expect(after.audit).toEqual(expect.arrayContaining(before.audit));
      expect(h.server.context.ca.caHash).toBe(caHash);
      // The agent registered before the backup connects with its certificate.
      const tunnel = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
      expect(tunnel.kind).toBe('open');
      if (tunnel.kind === 'open') tunnel.ws.close();
    } finally {
      await h.stop();
    }
  });
});

describe('hawser backup with PostgreSQL: the secrets only, while the server runs', { timeout: 120_000 }, () => {
  it('writes the data directory files and leaves the database to pg_dump, even with the data directory locked', async () => {
    const dir = tempDir('hawser-backup-pg-');
    try {
      const data = join(dir.path, 'data');
      loadOrCreateSecrets(data, ['localhost']);
      writeFileSync(join(data, 'admin-token'), 'hat_example\n', { mode: 0o600 });
      const lock = lockDataDir(data); // as a running server holds it
      try {
        const out = join(dir.path, 'secrets.backup');
        const res = await run(['backup', '--out', out, '--data-dir', data, '--database-url', 'postgres://hawser:pw@127.0.0.1:1/hawser']);
        expect(res.stderr).toBe('');
        expect(res.stdout).toContain('no database (PostgreSQL: back it up with pg_dump)');
        const restored = join(dir.path, 'restored');
        const back = await run(['restore', '--from', out, '--data-dir', restored]);
        expect(back.stdout).toContain('no database: restore PostgreSQL with pg_restore');
        for (const name of ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'token-signing-key.pem', 'admin-token']) {
          expect(readFileSync(join(restored, name))).toEqual(readFileSync(join(data, name)));
        }
        expect(existsSync(join(restored, 'db'))).toBe(false);
      } finally {
        lock.release();
      }
    } finally {
      dir.remove();
    }
  });
});
