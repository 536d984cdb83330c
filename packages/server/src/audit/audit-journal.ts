import { closeSync, existsSync, fdatasync, fdatasyncSync, ftruncateSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
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

/**
 * How far a begun request's record is made durable before its stream opens
 * (`--audit-sync`). `process`: the line is written to the file (the kernel's
 * page cache) first, which a crash or kill -9 of the server cannot lose; an
 * fdatasync follows in the background within {@link SYNC_INTERVAL_MS}, so a
 * crash of the host (power, kernel) loses at most the records of that
 * interval. `host`: the stream waits for the fdatasync too, which a host
 * crash cannot lose either, at the cost of one (group-committed) disk sync
 * per request's latency.
 */
export const AUDIT_SYNC_MODES = ['process', 'host'] as const;
export type AuditSync = (typeof AUDIT_SYNC_MODES)[number];

/** In `process` mode, a written line reaches the disk at most this long (plus one sync) later. */
export const SYNC_INTERVAL_MS = 50;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

const fdatasyncAsync = promisify(fdatasync);

/**
 * A write-ahead journal for relay audit rows. Every line is written at
 * once with a synchronous write() (a few microseconds into the page cache;
 * no other line can come between a request's begin and its stream opening),
 * so the file always holds every line handed to it. Syncs are group
 * commits: lines written while a sync is in flight are covered by the next.
 * In `host` mode `begin()` resolves once a sync that started after its
 * write has finished; in `process` mode at once, and a sync runs in the
 * background at most {@link SYNC_INTERVAL_MS} after the first unsynced line.
 *
 * Rows leave the journal's concern once the store has them (`stored()`);
 * the file is then compacted when it grows, and emptied on a clean stop.
 * A torn last line (a crash mid-write) is skipped on replay: its begin never
 * resolved, so its request was never relayed.
 */
export class AuditJournal {
  readonly #path: string;
  readonly #mode: AuditSync;
  #fd: number | undefined;
  /** host mode: begins waiting for the next sync to start. */
  #waiters: Waiter[] = [];
  #syncing: Promise<void> | undefined;
  /** A line was written since the running sync started. */
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #bytes = 0;
  /** Outcome lines not written yet (see end()). */
  #ends = '';
  #endsQueued = false;
  #failed: Error | undefined;
  #closed = false;
  /** Lines of rows the store does not have yet, by row id: what a compaction keeps. */
  readonly #unstored = new Map<string, string>();

  private constructor(path: string, fd: number, mode: AuditSync) {
    this.#path = path;
    this.#fd = fd;
    this.#mode = mode;
  }

  /**
   * Reads what an earlier process left, then starts a fresh journal. The
   * old file stays aside (`.replay`) until {@link AuditJournal.replayed}, so
   * a crash while storing the replay loses nothing (replay is idempotent:
   * rows are inserted by id).
   */
  static async open(path: string, options: { sync?: AuditSync } = {}): Promise<{ journal: AuditJournal; replay: JournalReplay }> {
    const aside = `${path}.replay`;
    let text = '';
    // An aside file means the previous replay did not finish: it comes first.
    if (existsSync(aside)) text += readFileSync(aside, 'utf8') + '\n';
    if (existsSync(path)) text += readFileSync(path, 'utf8');
    const found = text.trim().length > 0;
    if (existsSync(path)) {
      if (existsSync(aside)) {
        writeDurably(`${aside}.tmp`, text);
        renameSync(`${aside}.tmp`, aside);
        unlinkSync(path);
      } else {
        renameSync(path, aside);
      }
    }
    const journal = new AuditJournal(path, openSync(path, 'a', 0o600), options.sync ?? 'process');
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

  /**
   * Resolves once the row is in the file (`process`) or on disk (`host`);
   * rejects (HSR_ERR_AUDIT_UNAVAILABLE) when the journal failed.
   */
  begin(row: JournalRow): Promise<void> {
    const line = JSON.stringify({ k: 'b', r: row } satisfies JournalRecord) + '\n';
    try {
      this.#write(line);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.#unstored.set(row.id, line);
    if (this.#mode === 'process') {
      this.#scheduleSync();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#scheduleSync();
    });
  }

  /**
   * The outcome row, not waited for: written at the end of this turn of the
   * event loop, or with the next begin line if that comes first (one write
   * for both), and synced with the next group commit. A client's next
   * request can only begin after that, so a crash loses at most the outcome
   * of each client's last answer, which replay then records as unknown.
   */
  end(row: JournalRow): void {
    if (this.#failed || this.#closed) return; // the next begin() says so
    const line = JSON.stringify({ k: 'e', r: row } satisfies JournalRecord) + '\n';
    this.#ends += line;
    this.#unstored.set(row.id, (this.#unstored.get(row.id) ?? '') + line);
    if (!this.#endsQueued) {
      this.#endsQueued = true;
      setImmediate(flushEnds, this);
    }
  }

  /** @internal Writes the outcome lines of this turn. */
  flushEnds(): void {
    this.#endsQueued = false;
    if (!this.#ends) return;
    try {
      this.#write('');
    } catch {
      return; // the journal failed: the next begin() says so
    }
    this.#scheduleSync();
  }

  /** Rows the store does not have yet (metrics: how far the store runs behind). */
  get unstoredCount(): number {
    return this.#unstored.size;
  }

  /** These rows are in the store: a compaction may drop them. */
  stored(ids: readonly string[]): void {
    for (const id of ids) this.#unstored.delete(id);
  }

  #unavailable(why: string, cause?: unknown): HawserServerError {
    return new HawserServerError(ErrorCodes.AUDIT_UNAVAILABLE, `audit journal ${why}`, cause === undefined ? undefined : { cause });
  }

  #write(line: string): void {
    if (this.#failed || this.#closed || this.#fd === undefined) throw this.#unavailable(`unavailable: ${this.#failed?.message ?? 'closed'}`);
    // A compaction replaces the file, so it waits for no sync on the old one.
    if (this.#bytes > COMPACT_BYTES && !this.#syncing) this.#compact();
    // Outcome lines waiting for the end of the turn go first, in the same write.
    const data = Buffer.from(this.#ends + line, 'utf8');
    this.#ends = '';
    try {
      for (let off = 0; off < data.length; ) off += writeSync(this.#fd, data, off);
    } catch (err) {
      this.#fail(err);
      throw this.#unavailable(`write failed: ${(err as Error).message}`, err);
    }
    this.#bytes += data.length;
    this.#dirty = true;
  }

  /** A journal that cannot write refuses every later request: the relay answers 503 rather than relaying without a record. */
  #fail(err: unknown): void {
    this.#failed ??= err as Error;
    const failure = this.#unavailable(`write failed: ${(err as Error).message}`, err);
    for (const w of this.#waiters.splice(0)) w.reject(failure);
  }

  #scheduleSync(): void {
    if (this.#syncing || this.#timer) return; // the running sync's loop or the timer picks the line up
    if (this.#mode === 'host') this.#syncing = this.#syncLoop();
    else this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#syncing ??= this.#syncLoop();
    }, SYNC_INTERVAL_MS).unref();
  }

  async #syncLoop(): Promise<void> {
    try {
      while (this.#dirty && this.#fd !== undefined && !this.#failed) {
        // Lines written from here on may miss this sync: their waiters wait for the next.
        const batch = this.#waiters;
        this.#waiters = [];
        this.#dirty = false;
        try {
          await fdatasyncAsync(this.#fd);
        } catch (err) {
          for (const w of batch) w.reject(this.#unavailable(`sync failed: ${(err as Error).message}`, err));
          this.#fail(err);
          return;
        }
        for (const w of batch) w.resolve();
        // process mode: lines that came during the sync wait for the interval again.
        if (this.#mode === 'process' && this.#dirty && !this.#closed) break;
      }
    } finally {
      this.#syncing = undefined;
      if (this.#dirty && !this.#failed && !this.#closed) this.#scheduleSync();
    }
  }

  /**
   * Rewrites the journal with only the rows the store lacks (temp file,
   * sync, rename), synchronously: no line may be written between the copy
   * and the switch. Once per {@link COMPACT_BYTES} of journal.
   */
  #compact(): void {
    const data = [...this.#unstored.values()].join('');
    const tmp = `${this.#path}.compact`;
    try {
      writeDurably(tmp, data);
      renameSync(tmp, this.#path);
      closeSync(this.#fd!);
      this.#fd = openSync(this.#path, 'a', 0o600);
    } catch (err) {
      this.#fail(err);
      throw this.#unavailable(`compaction failed: ${(err as Error).message}`, err);
    }
    this.#bytes = Buffer.byteLength(data);
    this.#dirty = false;
    this.#ends = ''; // already among the unstored lines just written
  }

  /**
   * Waits for a running sync, syncs what is left and closes. When the store
   * has every row (`clean`), the journal is emptied: a clean stop leaves
   * nothing to replay.
   */
  async close(options: { clean: boolean }): Promise<void> {
    this.flushEnds();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#syncing;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      if (options.clean && this.#unstored.size === 0) ftruncateSync(fd, 0);
      fdatasyncSync(fd);
    } catch {
      /* best effort: the lines are written */
    }
    closeSync(fd);
    const closed = this.#unavailable('closed');
    for (const w of this.#waiters.splice(0)) w.reject(closed);
  }
}

function flushEnds(journal: AuditJournal): void {
  journal.flushEnds();
}

/** Writes a whole file and syncs it before returning. */
function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    writeFileSync(fd, text);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
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
