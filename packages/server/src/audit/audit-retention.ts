import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';

/** Rows per DELETE: small enough that the embedded store never stalls the relay for long. */
const PRUNE_BATCH = 5_000;
const HOUR_MS = 3_600_000;

export interface AuditRetentionOptions {
  store: Store;
  /** Events older than this are deleted (config.auditRetentionMs). */
  retentionMs: number;
  log: Logger;
  /** Between prunes. Default one hour. */
  intervalMs?: number;
  /** Rows per DELETE. Default 5000. */
  batch?: number;
  now?: () => number;
}

/**
 * Deletes audit events older than the retention, once at start and then
 * every interval, in batches. A failed prune is logged and retried at the
 * next interval: retention must never stop the server.
 */
export class AuditRetention {
  readonly #o: AuditRetentionOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #closed = false;

  constructor(options: AuditRetentionOptions) {
    this.#o = options;
  }

  /** Starts the first prune (not awaited: a large backlog must not delay start-up) and the timer. */
  start(): void {
    void this.prune();
    this.#timer = setInterval(() => void this.prune(), this.#o.intervalMs ?? HOUR_MS);
    this.#timer.unref();
  }

  /** One pass; concurrent callers share the pass in progress. Resolves with the rows deleted. */
  prune(): Promise<number> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pass(): Promise<number> {
    const before = new Date((this.#o.now ?? Date.now)() - this.#o.retentionMs);
    let total = 0;
    try {
      for (;;) {
        if (this.#closed) break;
        const batch = this.#o.batch ?? PRUNE_BATCH;
        const n = await this.#o.store.pruneAuditEvents(before, batch);
        total += n;
        if (n < batch) break;
      }
      if (total) await this.#o.store.reclaimAuditSpace();
      if (total) this.#o.log.info({ deleted: total, before: before.toISOString() }, `audit retention deleted ${total} event(s) older than ${before.toISOString()}`);
    } catch (err) {
      this.#o.log.warn({ err, deleted: total }, 'audit retention failed; retrying at the next interval');
    }
    return total;
  }

  /** Stops the timer and waits for a pass in progress (before the store closes). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
  }
}
