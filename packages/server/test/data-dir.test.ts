import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataFiles, isServerError, loadOrCreateSecrets } from '../src/index.js';
import { startServer, tempDir } from './support/harness.js';

const NAMES = ['localhost', '127.0.0.1', '::1'];

describe('data directory', () => {
  it('creates CA, serving certificate and signing key on first start, secrets mode 0600 (the admin token is the store\'s)', () => {
    const dir = tempDir();
    try {
      const secrets = loadOrCreateSecrets(dir.path, NAMES);
      expect(secrets.created).toEqual(['CA', 'serving certificate', 'token signing key']);
      for (const file of [DataFiles.CA_KEY, DataFiles.SERVER_KEY, DataFiles.TOKEN_SIGNING_KEY]) {
        expect((statSync(join(dir.path, file)).mode & 0o777).toString(8), file).toBe('600');
      }
      expect(existsSync(join(dir.path, DataFiles.ADMIN_TOKEN))).toBe(false);
      const serving = new X509Certificate(secrets.serving.certPem);
      expect(serving.checkIssued(new X509Certificate(secrets.ca.certPem))).toBe(true);
      expect(serving.checkIP('::1')).toBeDefined();
    } finally {
      dir.remove();
    }
  });

  it('reuses everything on the next start and re-issues only the serving certificate when a name is added', () => {
    const dir = tempDir();
    try {
      const first = loadOrCreateSecrets(dir.path, NAMES);
      const second = loadOrCreateSecrets(dir.path, NAMES);
      expect(second.created).toEqual([]);
      expect(second.ca.caHash).toBe(first.ca.caHash);
      expect(second.serving.certPem).toBe(first.serving.certPem);
      const third = loadOrCreateSecrets(dir.path, [...NAMES, 'hawser.example.com']);
      expect(third.created).toEqual(['serving certificate']);
      expect(third.ca.caHash).toBe(first.ca.caHash);
      expect(new X509Certificate(third.serving.certPem).checkHost('hawser.example.com')).toBe('hawser.example.com');
    } finally {
      dir.remove();
    }
  });

  it('refuses to invent a new CA when only the CA key is missing', () => {
    const dir = tempDir();
    try {
      loadOrCreateSecrets(dir.path, NAMES);
      unlinkSync(join(dir.path, DataFiles.CA_KEY));
      let caught: unknown;
      try {
        loadOrCreateSecrets(dir.path, NAMES);
      } catch (err) {
        caught = err;
      }
      expect(isServerError(caught, 'HSR_ERR_PKI_FAILED')).toBe(true);
      expect((caught as Error).message).toContain('found only one of ca.crt and ca.key');
    } finally {
      dir.remove();
    }
  });

  it('logs where it listens and where the admin token is', async () => {
    const h = await startServer();
    try {
      const line = h.logs.lines.find((l) => String(l.msg).startsWith('hawser server listening'));
      expect(line).toMatchObject({
        publicUrl: h.publicUrl,
        agentUrl: h.agentUrl,
        adminTokenFile: join(h.dataDir, 'admin-token'),
        database: 'pglite',
      });
    } finally {
      await h.stop();
    }
  }, 60_000);

  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  it.skipIf(!existsSync(cli))('ships a runnable bin (dist/cli.js) with a shebang', () => {
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' })).toContain('Usage: hawser <command>');
  });
});
