import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/cli-main.js';
import { startServer, tempDir } from './support/harness.js';
import type { Harness } from './support/harness.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

describe('hawser CLI', () => {
  let h: Harness;
  let global: string[];

  beforeAll(async () => {
    h = await startServer();
    // The local data dir holds ca.crt and admin-token: the defaults need no other flag.
    global = ['--server', h.publicUrl, '--data-dir', h.dataDir];
  }, 60_000);
  afterAll(async () => h?.stop());

  it('adds a cluster and prints the token with helm and kubectl lines', async () => {
    const out = await run(['cluster', 'add', 'cli-one', '--label', 'env=dev', '--label', 'tier=1', '--token-ttl', '15m', ...global]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Cluster cli-one added \(id [0-9a-f-]{36}\)\./);
    expect(out.stdout).toContain('Bootstrap token for cli-one (single use, expires ');
    expect(out.stdout).toContain('helm install hawser-agent');
    expect(out.stdout).toContain('kubectl -n hawser-system create secret generic');
  });

  it('lists clusters as a table and as JSON', async () => {
    const table = await run(['cluster', 'list', ...global]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+LAST SEEN\s+AGENT\s+MODE\s+CHART\s+KUBERNETES\s+CERT EXPIRES$/);
    expect(table.stdout).toMatch(/cli-one\s+never/);
    const json = await run(['cluster', 'list', '-o', 'json', ...global]);
    const parsed = JSON.parse(json.stdout) as { clusters: { name: string; labels: Record<string, string> }[] };
    expect(parsed.clusters.find((c) => c.name === 'cli-one')?.labels).toEqual({ env: 'dev', tier: '1' });
  });

  it('mints a token and removes a cluster', async () => {
    await run(['cluster', 'add', 'cli-two', ...global]);
    const token = await run(['cluster', 'token', 'cli-two', '-o', 'json', ...global]);
    expect(token.code).toBe(0);
    expect((JSON.parse(token.stdout) as { bootstrap: { token: string } }).bootstrap.token.split('.')).toHaveLength(3);
    const rm = await run(['cluster', 'rm', 'cli-two', ...global]);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toBe('Cluster cli-two deregistered: 0 certificate(s) revoked, 0 tunnel(s) closed.\n');
    const again = await run(['cluster', 'rm', 'cli-two', ...global]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('hawser: cluster "cli-two" not found (HSR_ERR_CLUSTER_NOT_FOUND)\n');
  });

  it('takes the server and admin token from HAWSER_SERVER and HAWSER_ADMIN_TOKEN', async () => {
    const elsewhere = tempDir();
    try {
      const caFile = join(elsewhere.path, 'ca.pem');
      writeFileSync(caFile, h.ca);
      const out = await run(['cluster', 'list', '--ca-file', caFile, '--data-dir', elsewhere.path], {
        HAWSER_SERVER: h.publicUrl,
        HAWSER_ADMIN_TOKEN: h.adminToken,
      });
      expect(out.code).toBe(0);
    } finally {
      elsewhere.remove();
    }
  });

  it('explains a bad name with the error code and exits 1', async () => {
    const out = await run(['cluster', 'add', 'Not_Valid', ...global]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^hawser: invalid cluster name "Not_Valid": .*DNS-1123 label.*\(HSR_ERR_CLUSTER_NAME_INVALID\)\n$/);
  });

  it('exits 2 on usage errors: unknown command, unknown flag, missing name, bad label, bad output', async () => {
    for (const args of [
      ['frobnicate'],
      ['cluster', 'list', '--bogus', ...global],
      ['cluster', 'add', ...global],
      ['cluster', 'add', 'x', '--label', 'novalue', ...global],
      ['cluster', 'list', '-o', 'xml', ...global],
      ['cluster', 'explode', ...global],
    ]) {
      const out = await run(args);
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stderr).toMatch(/^hawser: /);
    }
  });

  it('prints help for every command', async () => {
    for (const args of [['--help'], ['cluster', '--help'], ['server', '--help'], ...['add', 'list', 'token', 'rm'].map((c) => ['cluster', c, '--help'])]) {
      const out = await run(args);
      expect(out.code, args.join(' ')).toBe(0);
      expect(out.stdout).toMatch(/Usage: hawser/);
    }
  });

  it('fails clearly when no admin token can be found', async () => {
    const empty = tempDir();
    try {
      const out = await run(['cluster', 'list', '--server', h.publicUrl, '--data-dir', empty.path]);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain('no admin token');
    } finally {
      empty.remove();
    }
  });

  it('fails clearly when the server is unreachable', async () => {
    const out = await run(['cluster', 'list', '--server', 'https://127.0.0.1:1', '--data-dir', h.dataDir]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/cannot reach https:\/\/127\.0\.0\.1:1.*HSR_ERR_SERVER_UNREACHABLE/);
  });

  it('runs the server command until told to stop', async () => {
    const dir = tempDir();
    try {
      let stop!: (signal: string) => void;
      const stopSignal = new Promise<string>((resolve) => (stop = resolve));
      const running = main(
        ['server', '--data-dir', dir.path, '--database-url', 'memory://', '--listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--log-level', 'silent'],
        { stdout: () => undefined, stderr: () => undefined, env: {}, stopSignal },
      );
      const { existsSync } = await import('node:fs');
      await expect.poll(() => existsSync(join(dir.path, 'admin-token')), { timeout: 30_000 }).toBe(true);
      stop('SIGTERM');
      expect(await running).toBe(0);
    } finally {
      dir.remove();
    }
  }, 60_000);

  it('rejects a bad server flag with the field name', async () => {
    const out = await run(['server', '--listen', 'nowhere']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('config.listen: expected host:port');
  });
});
