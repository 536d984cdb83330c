import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_VERSION } from '../src/version.js';
import { runCli } from './support/cli-run.js';
import { httpsJson, startServer, tempDir } from './support/harness.js';
import type { Harness } from './support/harness.js';

describe('hawser version', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServer();
  }, 60_000);
  afterAll(async () => h?.stop());

  it('GET /api/v1/version answers the server build, behind the admin token', async () => {
    const res = await httpsJson(`${h.publicUrl}/api/v1/version`, { ca: h.ca, token: h.adminToken });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: SERVER_VERSION, nodeVersion: process.version, platform: `${process.platform}/${process.arch}` });
    expect((await httpsJson(`${h.publicUrl}/api/v1/version`, { ca: h.ca })).status).toBe(401);
  });

  it('prints client and server versions, as text, json and yaml; --version is the same command', async () => {
    const global = ['--server', h.publicUrl, '--data-dir', h.dataDir];
    const text = await runCli(['version', ...global]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Client Version: ${SERVER_VERSION} \\(Node v[\\d.]+, \\w+/\\w+\\)\\nServer Version: ${SERVER_VERSION} \\(Node`));
    expect((await runCli(['--version', ...global])).stdout).toBe(text.stdout);
    const json = JSON.parse((await runCli(['version', '-o', 'json', ...global])).stdout) as Record<string, { version: string }>;
    expect(json.clientVersion!.version).toBe(SERVER_VERSION);
    expect(json.serverVersion!.version).toBe(SERVER_VERSION);
    const yaml = await runCli(['version', '-o', 'yaml', ...global]);
    expect(yaml.stdout).toMatch(/^clientVersion:\n {2}version: /);
  });

  it('without a reachable server prints the client version and says why the server version is missing, with its code', async () => {
    const out = await runCli(['version', '--server', 'https://127.0.0.1:1', '--data-dir', h.dataDir]);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^Client Version: \S+ \(Node .*\)\n$/);
    expect(out.stderr).toMatch(/^hawser: no server version: cannot reach https:\/\/127\.0\.0\.1:1: .* \(HSR_ERR_SERVER_UNREACHABLE\); the client version is above/);
    const json = JSON.parse((await runCli(['version', '-o', 'json', '--server', 'https://127.0.0.1:1', '--data-dir', h.dataDir])).stdout) as Record<string, { code?: string }>;
    expect(json.serverVersionError!.code).toBe('HSR_ERR_SERVER_UNREACHABLE');
  });

  it('without an admin token says so; --client never asks', async () => {
    const empty = tempDir();
    try {
      const out = await runCli(['version', '--server', h.publicUrl, '--data-dir', empty.path]);
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(/no server version: no admin token: .*\(HSR_ERR_CLI_USAGE\)/);
      const client = await runCli(['version', '--client', '--data-dir', empty.path]);
      expect(client.code).toBe(0);
      expect(client.stderr).toBe('');
      expect(client.stdout).toMatch(/^Client Version: /);
    } finally {
      empty.remove();
    }
  });
});
