import type { Duplex } from 'node:stream';

/** How long the last bytes toward the upstream may take to leave once the client side has closed. */
export const SPLICE_FLUSH_MS = 5_000;

export interface SpliceOptions {
  /** Deadline for the final flush toward `upstream` after `client` closed cleanly. Default SPLICE_FLUSH_MS. */
  flushMs?: number;
}

/**
 * Splices two duplexes after an upgrade (exec, attach, port-forward): bytes
 * both ways, ends carried as half-closes, and one rule for tearing down.
 *
 * - pipe() carries a clean end each way after what is queued, so the exit
 *   status the API server writes last still reaches kubectl.
 * - An error on either side, or `upstream` closing before its end was read,
 *   destroys the other side: an abrupt close is passed on, not waited out;
 *   except an error on `upstream` after its clean end, which cannot cut
 *   what it already said.
 * - When `client` has closed, nothing more can reach it. If it ended
 *   cleanly and bytes it sent last are still queued toward `upstream`, they
 *   get `flushMs` to leave; then (or on 'finish') `upstream` is destroyed.
 *
 * The server splices the operator's socket (client) with the tunnel stream
 * (upstream); the agent splices the tunnel stream (client) with the API
 * server's socket (upstream).
 */
export function splice(client: Duplex, upstream: Duplex, opts: SpliceOptions = {}): void {
  const flushMs = opts.flushMs ?? SPLICE_FLUSH_MS;
  upstream.pipe(client);
  client.pipe(upstream);
  client.on('error', () => upstream.destroy());
  // An error after `upstream` ended its side cleanly (EPIPE or ECONNRESET on
  // a write to a peer that already said all it had, such as a terminal
  // resize reaching an API server that has sent the exit status) concerns
  // only bytes toward it: the end pipe() queued after its last bytes still
  // reaches `client`. Destroying `client` then could drop that status.
  upstream.on('error', () => {
    if (!upstream.readableEnded) client.destroy();
  });
  upstream.on('close', () => {
    if (!upstream.readableEnded) client.destroy();
  });
  client.on('close', () => {
    if (!client.readableEnded || upstream.writableFinished) return void upstream.destroy();
    const flush = setTimeout(() => upstream.destroy(), flushMs);
    flush.unref();
    upstream.once('finish', () => {
      clearTimeout(flush);
      upstream.destroy();
    });
  });
}
