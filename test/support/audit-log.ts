import { watch, type FSWatcher } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** The parts of an audit.k8s.io/v1 Event the tests read. */
export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  impersonatedUser?: { username: string; groups?: string[]; extra?: Record<string, string[]> };
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string; subresource?: string };
  responseStatus?: { code?: number };
}

/**
 * Follows the test control plane's audit log (JSON lines). Events are read
 * as the file grows; `waitFor` resolves on the first event, already read or
 * still to come, that matches, and is woken by the file changing.
 */
export class AuditLog {
  readonly #path: string;
  readonly #events: AuditEvent[] = [];
  #file: FileHandle | undefined;
  #offset = 0;
  #partial = '';
  #watcher: FSWatcher | undefined;
  #wakers = new Set<() => void>();
  #reading: Promise<void> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  /** Starts following the file at its current end: events written before are never seen. */
  async open(): Promise<this> {
    this.#file = await open(this.#path, 'r');
    this.#offset = (await this.#file.stat()).size;
    this.#watcher = watch(this.#path, () => this.#wake());
    return this;
  }

  /** Every event read so far (call `read()` first for the latest). */
  get events(): readonly AuditEvent[] {
    return this.#events;
  }

  /** Reads what has been appended since the last read. */
  read(): Promise<void> {
    this.#reading ??= this.#readMore().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #readMore(): Promise<void> {
    const file = this.#file;
    if (!file) throw new Error('AuditLog.open() first');
    for (;;) {
      const buf = Buffer.alloc(1 << 20);
      const { bytesRead } = await file.read(buf, 0, buf.length, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      const text = this.#partial + buf.toString('utf8', 0, bytesRead);
      const lines = text.split('\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.#events.push(JSON.parse(line) as AuditEvent);
    }
  }

  /** The first event matching `match`, waiting for the file to grow until `timeoutMs`. */
  async waitFor(match: (e: AuditEvent) => boolean, timeoutMs = 10_000): Promise<AuditEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.read();
      const found = this.#events.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching audit event within ${timeoutMs} ms (${this.#events.length} events read)`);
      // Woken by the file changing; the timer only bounds a missed
      // notification (fs.watch may coalesce), it is not the wait itself.
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#wakers.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        this.#wakers.add(wake);
      });
    }
  }

  #wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    await this.#file?.close();
    this.#file = undefined;
  }
}
