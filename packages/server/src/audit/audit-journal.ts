import { existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { ErrorCodes, HawserServerError } from '../errors.js';

/** The journal's file name inside the data directory. */
export const JOURNAL_FILE = 'audit.journal';

/** A stored audit row as JSON (time as an ISO string). */
export type JournalRow = Readonly<Record<string, unknown>> & { readonly id: string };

/**
 * One journal line. `b`: a request began; its row says "outcome unknown"
 * and is durable before the request is relayed. `e`: it ended; the row
 * with the outcome. A row id ties the two.
 */
export type JournalRecord = { readonly k: 'b' | 'e'; readonly r: JournalRow };

/** What an earlier process left: rows begun without an end, and ended rows (maybe not yet stored). */
export interface JournalReplay {
  readonly unfinished: JournalRow[];
  readonly ended: JournalRow[];
  /** False when no journal was found (a clean stop empties it). */
  readonly found: boolean;
}

/** Compact once the file is this large: rewrite it with only the rows not yet stored. */
const COMPACT_BYTES = 16 * 1024 * 1024;

interface Waiter {
  readonly line: string;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * A write-ahead journal for relay audit rows, with group commit: lines that
 * arrive while a sync is in flight are written and synced together by the
 * next one, and a line arriving when nothing is in flight starts a sync at
 * once. An idle server pays one fdatasync per request; a busy one shares
 * each among many. `begin()` resolves only once its line is on disk.
 *
 * Rows leave the journal's concern once the store has them (`stored()`);
 * the file is then compacted when it grows, and emptied on a clean stop.
 * A torn last line (a crash mid-write) is skipped on replay: its begin never
 * resolved, so its request was never relayed.
 */
export class AuditJournal {
  readonly #path: string;
  #fh: FileHandle | undefined;
  #queue: Waiter[] = [];
  #syncing: Promise<void> | undefined;
  #bytes = 0;
  #failed: Error | undefined;
  #closed = false;
  /** Lines of rows the store does not have yet, by row id: what a compaction keeps. */
  readonly #unstored = new Map<string, string>();

  private constructor(path: string) {
    this.#path = path;
  }

  /**
   * Reads what an earlier process left, then starts a fresh journal. The
   * old file stays aside (`.replay`) until {@link AuditJournal.replayed}, so
   * a crash while storing the replay loses nothing (replay is idempotent:
   * rows are inserted by id).
   */
  static async open(path: string): Promise<{ journal: AuditJournal; replay: JournalReplay }> {
    const aside = `${path}.replay`;
    let text = '';
    // An aside file means the previous replay did not finish: it comes first.
    if (existsSync(aside)) text += readFileSync(aside, 'utf8') + '\n';
    if (existsSync(path)) text += readFileSync(path, 'utf8');
    const found = text.trim().length > 0;
    if (existsSync(path)) {
      if (existsSync(aside)) {
        const fh = await open(`${aside}.tmp`, 'w', 0o600);
        await fh.write(text);
        await fh.datasync();
        await fh.close();
        renameSync(`${aside}.tmp`, aside);
        unlinkSync(path);
      } else {
        renameSync(path, aside);
      }
    }
    const journal = new AuditJournal(path);
    journal.#fh = await open(path, 'a', 0o600);
    return { journal, replay: parse(text, found) };
  }

  /** The replay is stored: drop the file set aside by open(). */
  replayed(): void {
    try {
      unlinkSync(`${this.#path}.replay`);
    } catch {
      /* nothing was set aside */
    }
  }

  /** Resolves once the row is on disk; rejects (HSR_ERR_AUDIT_UNAVAILABLE) when the journal failed. */
  begin(row: JournalRow): Promise<void> {
    const line = JSON.stringify({ k: 'b', r: row } satisfies JournalRecord) + '\n';
    this.#unstored.set(row.id, line);
    return this.#append(line).catch((err: unknown) => {
      this.#unstored.delete(row.id);
      throw err;
    });
  }

  /** The outcome row; written with the next group commit, not waited for. */
  end(row: JournalRow): void {
    const line = JSON.stringify({ k: 'e', r: row } satisfies JournalRecord) + '\n';
    this.#unstored.set(row.id, (this.#unstored.get(row.id) ?? '') + line);
    this.#append(line).catch(() => undefined);
  }

  /** Rows the store does not have yet (metrics: how far the store runs behind). */
  get unstoredCount(): number {
    return this.#unstored.size;
  }

  /** These rows are in the store: a compaction may drop them. */
  stored(ids: readonly string[]): void {
    for (const id of ids) this.#unstored.delete(id);
  }

  #append(line: string): Promise<void> {
    if (this.#failed || this.#closed) {
      return Promise.reject(
        new HawserServerError(ErrorCodes.AUDIT_UNAVAILABLE, `audit journal unavailable: ${this.#failed?.message ?? 'closed'}`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ line, resolve, reject });
      this.#syncing ??= this.#commit();
    });
  }

  async #commit(): Promise<void> {
    try {
      while (this.#queue.length) {
        const batch = this.#queue;
        this.#queue = [];
        try {
          if (this.#bytes > COMPACT_BYTES) await this.#compact();
          const data = Buffer.from(batch.map((w) => w.line).join(''), 'utf8');
          await this.#fh!.write(data);
          await this.#fh!.datasync();
          this.#bytes += data.length;
          for (const w of batch) w.resolve();
        } catch (err) {
          // A journal that cannot write refuses every later request: the
          // relay answers 503 rather than relaying without a record.
          this.#failed = err as Error;
          const failure = new HawserServerError(ErrorCodes.AUDIT_UNAVAILABLE, `audit journal write failed: ${(err as Error).message}`, { cause: err });
          for (const w of [...batch, ...this.#queue.splice(0)]) w.reject(failure);
        }
      }
    } finally {
      this.#syncing = undefined;
    }
  }

  /** Rewrites the journal with only the rows the store lacks (temp file, sync, rename). */
  async #compact(): Promise<void> {
    const tmp = `${this.#path}.compact`;
    const fh = await open(tmp, 'w', 0o600);
    const data = [...this.#unstored.values()].join('');
    await fh.write(data);
    await fh.datasync();
    renameSync(tmp, this.#path);
    await this.#fh!.close();
    this.#fh = fh;
    this.#bytes = Buffer.byteLength(data);
  }

  /**
   * Waits for pending writes and closes. When the store has every row
   * (`clean`), the journal is emptied: a clean stop leaves nothing to replay.
   */
  async close(options: { clean: boolean }): Promise<void> {
    this.#closed = true;
    await this.#syncing;
    const fh = this.#fh;
    this.#fh = undefined;
    if (!fh) return;
    if (options.clean && this.#unstored.size === 0) await fh.truncate(0);
    await fh.datasync().catch(() => undefined);
    await fh.close();
  }
}

function parse(text: string, found: boolean): JournalReplay {
  const begun = new Map<string, JournalRow>();
  const ended = new Map<string, JournalRow>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    let rec: JournalRecord;
    try {
      rec = JSON.parse(line) as JournalRecord;
    } catch {
      continue; // a torn last line: its request never went out
    }
    if (typeof rec?.r?.id !== 'string') continue;
    if (rec.k === 'b') begun.set(rec.r.id, rec.r);
    else if (rec.k === 'e') ended.set(rec.r.id, rec.r);
  }
  return { unfinished: [...begun.values()].filter((r) => !ended.has(r.id)), ended: [...ended.values()], found };
}
