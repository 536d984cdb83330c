import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';
import { cliBuilt, listening, startServerProcess } from './support/server-process.js';

/** Runs `hawser server ...args` to its exit; the result is what an operator sees. */
async function serverExit(args: string[]): Promise<{ code: number | string; stderr: string; stdout: string }> {
  const proc = startServerProcess(args);
  const code = await proc.exited;
  return { code, stderr: proc.stderr(), stdout: proc.stdout() };
}

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server };
}

/** No raw OpenSSL, WASM or Node errno text: the sentence is ours. */
function expectOwnWords(stderr: string): void {
  expect(stderr).not.toMatch(/DECODER routines|error:[0-9A-F]{8}|Aborted\(\)|ASSERTIONS|listen EADDRINUSE|Invalid PEM/);
}

describe.skipIf(!cliBuilt)('start-up errors from the real `hawser server` process', { timeout: 180_000 }, () => {
  const dir = tempDir('hawser-startup-');
  // A complete data directory (secrets and an embedded database), made by one real start.
  const template = join(dir.path, 'template');

  beforeAll(async () => {
    const proc = startServerProcess(['--data-dir', template]);
    try {
      await proc.waitFor(listening, 240_000);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  }, 300_000);
  afterAll(() => dir.remove(), 120_000);

  function copyOfTemplate(name: string): string {
    const copy = join(dir.path, name);
    cpSync(template, copy, { recursive: true });
    return copy;
  }

  it('names --listen when the operator port is taken, and exits 1', async () => {
    const taken = await occupiedPort();
    try {
      const res = await serverExit(['--data-dir', copyOfTemplate('port-a'), '--listen', `127.0.0.1:${taken.port}`, '--database-url', 'memory://']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`hawser: the operator/admin listener address 127.0.0.1:${taken.port} (--listen) is already in use by another process`);
      expect(res.stderr).toMatch(/choose another port with --listen HOST:PORT \(HSR_ERR_LISTEN_FAILED\)\n$/);
      expectOwnWords(res.stderr);
    } finally {
      taken.server.close();
    }
  });

  it('names --agent-listen when the agent port is taken', async () => {
    const taken = await occupiedPort();
    try {
      const res = await serverExit(['--data-dir', copyOfTemplate('port-b'), '--agent-listen', `127.0.0.1:${taken.port}`, '--database-url', 'memory://']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`the agent listener address 127.0.0.1:${taken.port} (--agent-listen) is already in use`);
      expect(res.stderr).toContain('(HSR_ERR_LISTEN_FAILED)');
    } finally {
      taken.server.close();
    }
  });

  it('says it is the database, where, and which flag, when PostgreSQL is not there; never the password', async () => {
    const closed = await occupiedPort();
    closed.server.close();
    await once(closed.server, 'close');
    const res = await serverExit(['--data-dir', copyOfTemplate('pg'), '--database-url', `postgres://hawser:s3cret-pw@127.0.0.1:${closed.port}/hawser`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `hawser: cannot open the PostgreSQL database at 127.0.0.1:${closed.port}/hawser (--database-url, env HAWSER_DATABASE_URL): it refused the connection (ECONNREFUSED): check that PostgreSQL runs and listens there (HSR_ERR_DATABASE_UNREACHABLE)\n`,
    );
    expect(res.stderr + res.stdout).not.toContain('s3cret-pw');
  });

  const damaged: [file: string, advice: RegExp][] = [
    ['ca.key', /is not a PEM private key .*restore ca\.key and ca\.crt from a backup \("hawser restore --from FILE"\)/],
    ['ca.crt', /is not a PEM certificate .*restore ca\.crt and ca\.key from a backup/],
    ['server.key', /is not a PEM private key .*remove server\.key and server\.crt: the server issues a new serving certificate/],
    ['server.crt', /is not a PEM certificate .*remove server\.crt and server\.key/],
    ['token-signing-key.pem', /is not a PEM private key .*bootstrap tokens minted earlier are no longer accepted/],
  ];
  for (const [file, advice] of damaged) {
    it(`names ${file} and how to recover when it holds garbage`, async () => {
      const data = copyOfTemplate(`bad-${file}`);
      writeFileSync(join(data, file), '-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n');
      const res = await serverExit(['--data-dir', data]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`hawser: ${join(data, file)} in the data directory`);
      expect(res.stderr).toMatch(advice);
      expect(res.stderr).toMatch(/\(HSR_ERR_DATA_FILE_CORRUPT\)\n$/);
      expectOwnWords(res.stderr);
    });
  }

  it('names server.key when it is a valid key that does not belong to server.crt', async () => {
    const data = copyOfTemplate('swapped-key');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(join(data, 'server.key'), other);
    const res = await serverExit(['--data-dir', data]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`hawser: ${join(data, 'server.key')} in the data directory does not belong to server.crt (one of them was replaced): remove server.key and server.crt`);
    expectOwnWords(res.stderr);
  });

  it('names a secret file the server cannot read (a directory in its place, which fails for root too)', async () => {
    const data = copyOfTemplate('unreadable-key');
    rmSync(join(data, 'ca.key'));
    mkdirSync(join(data, 'ca.key'));
    const res = await serverExit(['--data-dir', data]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `hawser: ${join(data, 'ca.key')} in the data directory cannot be read (EISDIR): it must be a regular file the server's user can read, mode 0600 (chown, chmod 600) (HSR_ERR_DATA_DIR_UNUSABLE)\n`,
    );
  });

  it('names the embedded database directory and how to restore it when its files are garbage', async () => {
    const data = copyOfTemplate('bad-db');
    const control = join(data, 'db', 'global', 'pg_control');
    expect(existsSync(control)).toBe(true);
    writeFileSync(control, Buffer.alloc(8192, 0x5a));
    const res = await serverExit(['--data-dir', data]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`hawser: the embedded database in ${join(data, 'db')} cannot be opened`);
    expect(res.stderr).toContain('restore the data directory from a backup ("hawser restore --from FILE --data-dir DIR --force")');
    expect(res.stderr).toMatch(/\(HSR_ERR_DATABASE_CORRUPT\)\n$/);
    expectOwnWords(res.stderr + res.stdout);
  });

  it('says the data directory is unusable when its path is a regular file (fails for root too)', async () => {
    const file = join(dir.path, 'not-a-dir');
    writeFileSync(file, 'x');
    const res = await serverExit(['--data-dir', file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `hawser: the data directory ${file} (--data-dir, env HAWSER_DATA_DIR) exists but is not a directory: point --data-dir at a directory the server's user can read and write (it is created if missing) (HSR_ERR_DATA_DIR_UNUSABLE)\n`,
    );
  });

  it('says the data directory is unusable when a parent of it is a regular file', async () => {
    const file = join(dir.path, 'parent-file');
    writeFileSync(file, 'x');
    const res = await serverExit(['--data-dir', join(file, 'data')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/the data directory .*parent-file\/data \(--data-dir, env HAWSER_DATA_DIR\) is not a directory, or a parent of it is a file \(ENOTDIR\)/);
    expect(res.stderr).toContain('(HSR_ERR_DATA_DIR_UNUSABLE)');
  });
});
