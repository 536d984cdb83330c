import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BOOTSTRAP_TOKEN_TTL, MAX_BOOTSTRAP_TOKEN_TTL_MS, parseDuration, resolveConfig } from '../src/index.js';
import { runCli } from './support/cli-run.js';
import { httpsJson, startServer } from './support/harness.js';
import type { Harness } from './support/harness.js';

// One rule, one constant (config.ts), checked at each place a bootstrap
// token lifetime enters: server config, admin API, CLI.
describe('bootstrap token lifetime cap', () => {
  let h: Harness;
  let global: string[];
  beforeAll(async () => {
    h = await startServer();
    global = ['--server', h.publicUrl, '--data-dir', h.dataDir];
  }, 60_000);
  afterAll(async () => h?.stop());

  it('is 7d, the figure the docs state', () => {
    expect(MAX_BOOTSTRAP_TOKEN_TTL).toBe('7d');
    expect(MAX_BOOTSTRAP_TOKEN_TTL_MS).toBe(parseDuration('7d'));
  });

  it('server config accepts exactly 7d and refuses 7d plus a millisecond, and 30d', () => {
    expect(resolveConfig({ tokenTtl: '7d' }).tokenTtlMs).toBe(MAX_BOOTSTRAP_TOKEN_TTL_MS);
    expect(() => resolveConfig({ tokenTtl: MAX_BOOTSTRAP_TOKEN_TTL_MS + 1 })).toThrow(/config\.tokenTtl: expected a bootstrap token lifetime of at most 7d/);
    expect(() => resolveConfig({ tokenTtl: '30d' })).toThrow(/HSR_ERR_CONFIG_INVALID|config\.tokenTtl/);
  });

  it('hawser server --token-ttl 30d is refused at start, naming the flag field', async () => {
    const out = await runCli(['server', '--token-ttl', '30d', '--database-url', 'memory://']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('config.tokenTtl: expected a bootstrap token lifetime of at most 7d');
    expect(out.stderr).toContain('(HSR_ERR_CONFIG_INVALID)');
  });

  it('the admin API accepts 7d and refuses 7d plus a millisecond', async () => {
    const post = (name: string, tokenTtl: string | number) =>
      httpsJson<{ code?: string; message?: string; bootstrap?: { expiresAt: string } }>(`${h.publicUrl}/api/v1/clusters`, {
        method: 'POST', ca: h.ca, token: h.adminToken, body: { name, tokenTtl },
      });
    const ok = await post('ttl-edge', '7d');
    expect(ok.status).toBe(201);
    expect(Date.parse(ok.body.bootstrap!.expiresAt) - Date.now()).toBeGreaterThan(MAX_BOOTSTRAP_TOKEN_TTL_MS - 60_000);
    const over = await post('ttl-over', MAX_BOOTSTRAP_TOKEN_TTL_MS + 1);
    expect(over.status).toBe(400);
    expect(JSON.stringify(over.body)).toContain('HSR_ERR_DURATION_INVALID');
    expect(JSON.stringify(over.body)).toContain('at most 7d');
  });

  it('the CLI accepts --token-ttl 7d and refuses 169h before asking the server (exit 2)', async () => {
    const ok = await runCli(['cluster', 'add', 'ttl-cli', '--token-ttl', '7d', ...global]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const over = await runCli(['cluster', 'token', 'ttl-cli', '--token-ttl', '169h', ...global]);
    expect(over.code).toBe(2);
    expect(over.stderr).toBe('hawser: --token-ttl: a bootstrap token lives at most 7d (604800000 ms), got "169h" (HSR_ERR_CLI_USAGE)\n');
  });
});
