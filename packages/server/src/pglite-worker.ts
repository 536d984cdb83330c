/**
 * The embedded store's thread (see pglite-driver.ts). PGlite is PostgreSQL
 * compiled to WASM: every statement runs synchronously on the thread that
 * owns it. Here that is this worker, so a batch of audit rows or a long
 * audit listing never holds up the relay on the main thread.
 *
 * Messages: requests {@link PgliteRequest}, one reply {@link PgliteReply}
 * each, in order. The main side never has two transactions open at once,
 * and PGlite queues statements itself, so requests are simply run as they
 * arrive.
 */
import { parentPort } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

export type PgliteRequest =
  | { id: number; op: 'open'; dataDir: string | undefined }
  | { id: number; op: 'query'; sql: string; params: unknown[] }
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'close' };

export type PgliteReply =
  | { id: number; ok: true; rows?: unknown[] }
  | { id: number; ok: false; message: string; code?: string };

let db: PGlite | undefined;

async function run(req: PgliteRequest): Promise<unknown[] | undefined> {
  if (req.op === 'open') {
    db = req.dataDir === undefined ? new PGlite() : new PGlite(req.dataDir);
    await db.waitReady;
    return undefined;
  }
  if (!db) throw new Error('the embedded store is not open');
  switch (req.op) {
    case 'query':
      return (await db.query(req.sql, req.params)).rows;
    case 'exec':
      await db.exec(req.sql);
      return undefined;
    case 'close':
      await db.close();
      db = undefined;
      return undefined;
  }
}

const port = parentPort;
if (!port) throw new Error('pglite-worker.js runs only as a worker thread');
port.on('message', (req: PgliteRequest) => {
  run(req).then(
    (rows) => port.postMessage({ id: req.id, ok: true, ...(rows ? { rows } : {}) } satisfies PgliteReply),
    (err: unknown) => {
      // Only what crosses threads intact: the message and the SQLSTATE the
      // store branches on (unique violation).
      const code = (err as { code?: unknown } | null)?.code;
      port.postMessage({ id: req.id, ok: false, message: (err as Error)?.message ?? String(err), ...(typeof code === 'string' ? { code } : {}) } satisfies PgliteReply);
    },
  );
});
