import { randomUUID } from 'node:crypto';
import { AuditEventTypes } from './audit.js';
import type { AuditJournal, JournalReplay, JournalRow } from './audit-journal.js';
import type { RelayAuditEvent } from '../relay/relay-options.js';
import type { Logger } from '../log.js';
import type { AuditEventRecord, Store } from '../store/store.js';

const RELAYED_REQUEST = AuditEventTypes.REQUEST_RELAYED;

/** Pending rows beyond this are dropped (and counted) rather than slowing the relay; the journal still has them. */
const MAX_PENDING = 10_000;
const FLUSH_MS = 200;
/** The outcome a begun request is stored with when the server stopped before it ended. */
export const UNKNOWN_OUTCOME = 'unknown (server stopped)';

function toRow(e: RelayAuditEvent, id: string, time: Date, unknown: boolean): AuditEventRecord {
  return {
    id,
    time,
    type: RELAYED_REQUEST,
    actor: e.user,
    clusterId: e.clusterId ?? null,
    requestId: e.requestId,
    sourceIp: e.sourceIp ?? null,
    outcome: !unknown && e.status > 0 && e.status < 400 ? 'success' : 'failure',
    reason: unknown ? UNKNOWN_OUTCOME : (e.reason ?? null),
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
      status: unknown ? null : e.status,
      bytes: e.bytes,
      durationMs: e.durationMs,
    },
  };
}

function fromJournal(r: JournalRow): AuditEventRecord {
  return { ...(r as unknown as AuditEventRecord), time: new Date(String(r.time)) };
}

function toJournal(r: AuditEventRecord): JournalRow {
  return { ...r, time: r.time.toISOString() } as unknown as JournalRow;
}

/**
 * Audit of relayed requests, in two steps. `begin()` makes the request's
 * record durable before the relay opens a tunnel stream: a line in the
 * write-ahead journal (audit-journal.ts), written to the file, and with
 * `--audit-sync host` also synced to disk (group-committed fdatasync). `end()`
 * writes the outcome: a JSON log line at once, a journal line and a store
 * row in the background, in batches. A crash between the two leaves the
 * begin line, which the next start stores with the outcome
 * `unknown (server stopped)` (see {@link RelayAudit.replay}).
 *
 * Without a journal (embedders, unit tests) begin() is a no-op and rows
 * are only as durable as the batch that carries them.
 */
export class RelayAudit {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #journal: AuditJournal | undefined;
  /** Row id and start time of begun requests, by request id. */
  readonly #begun = new Map<string, { id: string; time: Date }>();
  #pending: AuditEventRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #dropped = 0;
  #droppedTotal = 0;

  constructor(store: Store, log: Logger, journal?: AuditJournal) {
    this.#store = store;
    this.#log = log;
    this.#journal = journal;
  }

  /**
   * Resolves once the request's record is durable (as `--audit-sync`
   * defines it); the relay opens no stream before. Rejects (HSR_ERR_AUDIT_UNAVAILABLE) when it cannot be:
   * the relay then answers 503.
   */
  async begin(e: RelayAuditEvent): Promise<void> {
    const id = randomUUID();
    const time = new Date();
    this.#begun.set(e.requestId, { id, time });
    if (!this.#journal) return;
    try {
      await this.#journal.begin(toJournal(toRow(e, id, time, true)));
    } catch (err) {
      this.#begun.delete(e.requestId);
      throw err;
    }
  }

  /** The outcome; `record` is its older name. */
  end(e: RelayAuditEvent): void {
    const begun = this.#begun.get(e.requestId);
    this.#begun.delete(e.requestId);
    const event = toRow(e, begun?.id ?? randomUUID(), begun?.time ?? new Date(), false);
    // One serialisable copy serves the log line and the journal line.
    const row = toJournal(event);
    this.#log.info({ audit: row }, `audit ${RELAYED_REQUEST}`);
    if (begun) this.#journal?.end(row);
    if (this.#pending.length >= MAX_PENDING) {
      this.#dropped++;
      this.#droppedTotal++;
      return;
    }
    this.#pending.push(event);
    this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  record(e: RelayAuditEvent): void {
    this.end(e);
  }

  /** Writes what is pending; close() calls it so a drain loses nothing. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    const batch = this.#pending;
    this.#pending = [];
    if (this.#dropped) {
      this.#log.error({ dropped: this.#dropped }, 'audit store fell behind; relayed-request rows wait in the audit journal until the next start');
      this.#dropped = 0;
    }
    this.#flushing = (async () => {
      // Bounded statements: 500 rows at most (5,000 parameters).
      for (let i = 0; i < batch.length; i += 500) {
        const part = batch.slice(i, i + 500);
        try {
          await this.#store.insertAuditEvents(part);
          this.#journal?.stored(part.map((r) => r.id));
        } catch (err) {
          this.#log.error({ err, rows: part.length }, 'audit events could not be stored (they stay in the audit journal)');
        }
      }
    })();
    await this.#flushing;
  }

  /** Rows waiting for the next batch, and rows dropped from the batches since start (metrics). */
  get backlog(): { pending: number; dropped: number } {
    return { pending: this.#pending.length, dropped: this.#droppedTotal };
  }

  /** Requests begun and not ended (open watches, exec sessions). */
  get openCount(): number {
    return this.#begun.size;
  }

  /**
   * At start-up: stores what the journal of an earlier process held. Ended
   * rows go in as they are (by id, so rows already stored stay as stored);
   * begun rows without an end go in with the outcome `unknown (server
   * stopped)`. A journal that was not empty means the earlier process did
   * not stop cleanly, so one `audit.gap` event says a gap may exist.
   */
  static async replay(store: Store, replay: JournalReplay, log: Logger, recordGap: (details: Record<string, unknown>) => Promise<void>): Promise<void> {
    if (!replay.found) return;
    const rows = [...replay.ended.map(fromJournal), ...replay.unfinished.map(fromJournal)];
    for (let i = 0; i < rows.length; i += 500) await store.insertAuditEvents(rows.slice(i, i + 500));
    const details = { unfinished: replay.unfinished.length, ended: replay.ended.length };
    log.warn(details, 'the previous server did not stop cleanly: stored its audit journal; requests it had not finished are recorded as "unknown (server stopped)"');
    await recordGap(details);
  }
}
