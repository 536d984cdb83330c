import { randomUUID } from 'node:crypto';
import { AuditEventTypes } from './audit.js';
import type { RelayAuditEvent } from '../relay/cluster-relay.js';
import type { Logger } from '../log.js';
import type { AuditEventRecord, Store } from '../store/store.js';

const RELAYED_REQUEST = AuditEventTypes.REQUEST_RELAYED;

/** Pending rows beyond this are dropped (and counted) rather than slowing the relay. */
const MAX_PENDING = 10_000;
const FLUSH_MS = 200;

/**
 * Audit of relayed requests: one JSON log line at once and one store row,
 * written in the background in small batches, so the relay never waits on
 * the database. A store that falls far behind loses rows (counted in the
 * log), never requests.
 */
export class RelayAudit {
  readonly #store: Store;
  readonly #log: Logger;
  #pending: AuditEventRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #dropped = 0;

  constructor(store: Store, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  record(e: RelayAuditEvent): void {
    const event: AuditEventRecord = {
      id: randomUUID(),
      time: new Date(),
      type: RELAYED_REQUEST,
      actor: e.user,
      clusterId: e.clusterId ?? null,
      requestId: e.requestId,
      sourceIp: e.sourceIp ?? null,
      outcome: e.status > 0 && e.status < 400 ? 'success' : 'failure',
      reason: e.reason ?? null,
      details: {
        cluster: e.cluster,
        groups: e.groups,
        tier: e.tier ?? null,
        verb: e.verb,
        resource: e.resource,
        subresource: e.subresource,
        namespace: e.namespace,
        name: e.name,
        path: e.path,
        status: e.status,
        bytes: e.bytes,
        durationMs: e.durationMs,
      },
    };
    this.#log.info({ audit: { ...event, time: event.time.toISOString() } }, `audit ${RELAYED_REQUEST}`);
    if (this.#pending.length >= MAX_PENDING) {
      this.#dropped++;
      return;
    }
    this.#pending.push(event);
    this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is pending; close() calls it so a drain loses nothing. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    const batch = this.#pending;
    this.#pending = [];
    if (this.#dropped) {
      this.#log.error({ dropped: this.#dropped }, 'audit store fell behind; relayed-request rows were dropped (the log lines were written)');
      this.#dropped = 0;
    }
    this.#flushing = (async () => {
      // Bounded statements: 500 rows at most (5,000 parameters).
      for (let i = 0; i < batch.length; i += 500) {
        const part = batch.slice(i, i + 500);
        try {
          await this.#store.insertAuditEvents(part);
        } catch (err) {
          this.#log.error({ err, rows: part.length }, 'audit events could not be stored');
        }
      }
    })();
    await this.#flushing;
  }
}
