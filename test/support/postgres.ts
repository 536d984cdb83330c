import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throw-away PostgreSQL server on 127.0.0.1. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  /** Creates a fresh database and returns its URL (isolation between tests). */
  createDatabase(name: string): Promise<string>;
  /**
   * Stops the server (fast shutdown: every client connection is cut) and
   * starts it again on the same port and data directory; resolves once it
   * accepts connections. `downMs` keeps it down that long in between.
   */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** Stops the server (fast shutdown) and keeps its data, to start it again on the same port. */
  halt(): Promise<void>;
  /** Starts a halted server again; resolves once it accepts connections. */
  resume(): Promise<void>;
}

const MISSING = 'PostgreSQL server binaries (initdb, postgres) were not found; run `apt-get install postgresql`.';

/** The bin directory of the newest PostgreSQL under /usr/lib/postgresql. */
export function findPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(MISSING);
  return join(root, versions[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * PostgreSQL refuses to run as root. When the tests run as root, initdb and
 * postgres run as the `postgres` system user (Debian's package creates it)
 * and the temp directory is handed to that user.
 */
function asPostgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(
      'Running as root and the `postgres` system user does not exist; run `apt-get install postgresql` (it creates the user).',
    );
  }
}

function run(command: string, args: string[], user: { uid: number; gid: number } | undefined): ChildProcess {
  return spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ? { uid: user.uid, gid: user.gid } : {}) });
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function output(child: ChildProcess): () => string {
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  return () => text;
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const pg = (await import('pg')).default;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${log()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not become ready in ${timeoutMs} ms: ${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Starts PostgreSQL in a temp directory: initdb (trust auth, no fsync),
 * listening on 127.0.0.1 on a free port, unix socket inside the directory.
 */
export async function startPostgres(options: { timeoutMs?: number } = {}): Promise<TestPostgres> {
  const bin = findPostgresBin();
  const user = asPostgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'hawser-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  let server: ChildProcess | undefined;
  const halt = async (): Promise<void> => {
    if (server && server.exitCode === null) {
      // SIGINT = "fast shutdown": roll back sessions, exit cleanly.
      server.kill('SIGINT');
      const exited = await Promise.race([waitExit(server), new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
      if (exited === 'timeout') server.kill('SIGKILL');
    }
  };
  const cleanup = async (): Promise<void> => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const init = run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], user);
    const initLog = output(init);
    if ((await waitExit(init)) !== 0) throw new Error(`initdb failed: ${initLog()}`);
    const port = await freePort();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const launch = async (): Promise<void> => {
      server = run(
        join(bin, 'postgres'),
        ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
          '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=100'],
        user,
      );
      await waitReady(url, server, output(server), options.timeoutMs ?? 30_000);
    };
    await launch();
    return {
      url,
      port,
      async restart({ downMs = 0 } = {}): Promise<void> {
        await halt();
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        await launch();
      },
      halt,
      resume: launch,
      async createDatabase(name: string): Promise<string> {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${name}: use [a-z0-9_]`);
        const pg = (await import('pg')).default;
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(MISSING);
    throw err;
  }
}
