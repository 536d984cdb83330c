import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashApiToken } from '../src/auth/api-token.js';
import { main } from '../src/cli/cli-main.js';
import { MIGRATIONS, migrate } from '../src/store/migrations.js';
import { openPgliteDriver } from '../src/store/pglite-driver.js';
import { httpsJson, startServer, tempDir } from './support/harness.js';
import type { Harness } from './support/harness.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server on an embedded PGlite inside `dir`, so a restart keeps the store. */
async function start(dir: string): Promise<Harness> {
  const h = await startServer({ dataDir: dir, databaseUrl: undefined });
  cleanups.push(() => h.server.close());
  return h;
}

function dir(): string {
  const d = tempDir('hawser-admin-');
  cleanups.push(() => d.remove());
  return d.path;
}

async function cli(h: Harness, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main([...args, '--server', h.publicUrl, '--data-dir', h.dataDir], { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {} });
  return { code, out, err };
}

function asAdmin(h: Harness, token: string) {
  return httpsJson(`${h.publicUrl}/api/v1/clusters`, { ca: h.ca, token });
}

const fileOf = (h: Harness): string => join(h.dataDir, 'admin-token');

describe('admin tokens', () => {
  it('does not accept a value written into the admin token file by mistake, after a restart', async () => {
    const d = dir();
    let h = await start(d);
    const minted = h.adminToken;
    expect((await asAdmin(h, minted)).status).toBe(200);
    await h.server.close();
    const mistaken = 'hsr_admin_' + 'A'.repeat(43);
    writeFileSync(fileOf(h), `${mistaken}\n`);
    h = await start(d);
    expect((await asAdmin(h, mistaken)).status).toBe(401);
    expect((await asAdmin(h, minted)).status).toBe(200);
  }, 60_000);

  it('lists admin tokens and rotates them: the new one is written to the file, the old one stops working', async () => {
    const h = await start(dir());
    const before = readFileSync(fileOf(h), 'utf8').trim();
    const list = await cli(h, ['token', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^admin-\S+\s+admin\s+admin\s+hawser:admins/m);

    const rotated = await cli(h, ['token', 'rotate-admin']);
    expect(rotated.code).toBe(0);
    expect(rotated.out).toContain(`written to ${fileOf(h)}`);
    const after = readFileSync(fileOf(h), 'utf8').trim();
    expect(after).not.toBe(before);
    expect((await asAdmin(h, before)).status).toBe(401);
    expect((await asAdmin(h, after)).status).toBe(200);

    const listed = await httpsJson<{ tokens: { id: string; admin: boolean }[] }>(`${h.publicUrl}/api/v1/tokens`, { ca: h.ca, token: after });
    expect(listed.body.tokens.filter((t) => t.admin)).toHaveLength(1);
    const audit = await httpsJson<{ events: { type: string }[] }>(`${h.publicUrl}/api/v1/audit?type=api-token.rotated`, { ca: h.ca, token: after });
    expect(audit.body.events).toHaveLength(1);
  }, 60_000);

  it('refuses to revoke the last active admin token', async () => {
    const h = await start(dir());
    const listed = await httpsJson<{ tokens: { id: string; admin: boolean }[] }>(`${h.publicUrl}/api/v1/tokens`, { ca: h.ca, token: h.adminToken });
    const id = listed.body.tokens.find((t) => t.admin)!.id;
    const res = await cli(h, ['token', 'revoke', id]);
    expect(res.code).toBe(1);
    expect(res.err).toContain('HSR_ERR_LAST_ADMIN_TOKEN');
    expect((await asAdmin(h, h.adminToken)).status).toBe(200);
  }, 60_000);

  it('on upgrade to schema v2 keeps only the admin token the file holds now; earlier values stop working', async () => {
    const d = dir();
    const current = 'hsr_admin_' + 'c'.repeat(43);
    const earlier = 'hsr_admin_' + 'e'.repeat(43);
    const driver = await openPgliteDriver(join(d, 'db'));
    await migrate(driver, MIGRATIONS.filter((m) => m.version === 1));
    for (const [i, t] of [earlier, current].entries()) {
      await driver.query(`INSERT INTO api_tokens (id, hash, username, groups) VALUES ($1, $2, 'admin', '["hawser:admins"]'::jsonb)`, [`admin-${i}`, hashApiToken(t)]);
    }
    await driver.close();
    writeFileSync(join(d, 'admin-token'), `${current}\n`);
    const h = await start(d);
    expect((await asAdmin(h, current)).status).toBe(200);
    expect((await asAdmin(h, earlier)).status).toBe(401);
  }, 60_000);
});
