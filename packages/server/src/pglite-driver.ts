import { mkdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { PgliteReply, PgliteRequest } from './pglite-worker.js';
import type { SqlDriver, SqlQueryable } from './sql-driver.js';

/** A request without its id (the thread numbers them). */
type Call = PgliteRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * PGlite on a thread of its own (pglite-worker.ts). Statements are posted
 * to it and answered in order. The thread keeps the process alive only
 * while a statement is outstanding, as a socket to a database server would.
 */
class PgliteThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (rows: unknown[]) => void; reject: (err: Error) => void }>();
  #next = 1;
  #failure: Error | undefined;

  constructor() {
    this.#worker = import.meta.url.endsWith('.ts') ? sourceWorker() : new Worker(new URL('./pglite-worker.js', import.meta.url));
    this.#worker.unref();
    this.#worker.on('message', (reply: PgliteReply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (reply.ok) waiter.resolve(reply.rows ?? []);
      else waiter.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
    });
    const fail = (err: Error): void => {
      this.#failure ??= err;
      for (const waiter of this.#pending.values()) waiter.reject(this.#failure);
      this.#pending.clear();
    };
    this.#worker.on('error', (err) => fail(new Error(`the embedded store's thread failed: ${err.message}`, { cause: err })));
    this.#worker.on('exit', (code) => fail(new Error(`the embedded store's thread exited (code ${code})`)));
  }

  call(request: Call): Promise<unknown[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.ref();
      this.#worker.postMessage({ ...request, id });
    });
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}

/**
 * Under the test runner this module is TypeScript source, and so is its
 * worker: that thread first registers tsx's loader, then imports it.
 */
function sourceWorker(): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./pglite-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
}

/**
 * Embedded PostgreSQL (PGlite, WASM) in a data directory, or in memory when
 * `dataDir` is undefined. One process owns the directory: PGlite is for a
 * single replica; several replicas need PostgreSQL.
 */
export async function openPgliteDriver(dataDir: string | undefined): Promise<SqlDriver> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const thread = new PgliteThread();
  try {
    await thread.call({ op: 'open', dataDir });
  } catch (err) {
    await thread.terminate();
    throw err;
  }
  const direct: SqlQueryable = {
    query: async <T>(sql: string, params: readonly unknown[] = []) => (await thread.call({ op: 'query', sql, params: [...params] })) as T[],
    exec: async (sql: string) => void (await thread.call({ op: 'exec', sql })),
  };
  // PGlite has one connection. A statement issued while a transaction is
  // open must wait for it, or it would run inside that transaction.
  let chain: Promise<unknown> = Promise.resolve();
  return {
    engine: 'pglite',
    query: (sql, params) => chain.then(() => direct.query(sql, params)),
    exec: (sql) => chain.then(() => direct.exec(sql)),
    transaction<T>(fn: (q: SqlQueryable) => Promise<T>): Promise<T> {
      const run = chain.then(async () => {
        await direct.exec('BEGIN');
        let result: T;
        try {
          result = await fn(direct);
        } catch (err) {
          await direct.exec('ROLLBACK').catch(() => undefined);
          throw err;
        }
        await direct.exec('COMMIT');
        return result;
      });
      chain = run.catch(() => undefined);
      return run;
    },
    async close(): Promise<void> {
      await chain.catch(() => undefined);
      try {
        await thread.call({ op: 'close' });
      } finally {
        await thread.terminate();
      }
    },
  };
}
