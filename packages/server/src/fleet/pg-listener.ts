import pg from 'pg';
import type { Logger } from '../log.js';

export interface PgListenerOptions {
  /** The store's `postgres://` URL. */
  readonly url: string;
  readonly channel: string;
  readonly log: Logger;
  /** First reconnect delay; doubles up to maxBackoffMs. Default 100 ms. */
  readonly minBackoffMs?: number;
  /** Default 5 s. */
  readonly maxBackoffMs?: number;
}

/**
 * One dedicated PostgreSQL connection that LISTENs on the fleet channel.
 * Not a pool client: LISTEN belongs to one session, and a pooled client
 * would be handed to queries and released. When the connection drops
 * (PostgreSQL restarted, the backend terminated, the network gone) it
 * reconnects with capped exponential backoff and jitter, and tells
 * `onConnect` subscribers each time it is back: notifications sent while
 * it was away are lost, so they re-read what they cache.
 */
export class PgListener {
  readonly #o: PgListenerOptions;
  readonly #notice = new Set<(payload: string) => void>();
  readonly #connect = new Set<() => void>();
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;
  #connected = false;

  constructor(options: PgListenerOptions) {
    this.#o = options;
  }

  /** True while the LISTEN session is up. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Connects the first time; rejects if that fails (start-up should say why), reconnects by itself after. */
  async start(): Promise<void> {
    await this.#open();
  }

  onNotification(fn: (payload: string) => void): () => void {
    this.#notice.add(fn);
    return () => this.#notice.delete(fn);
  }

  /** Called after every (re)connect, once LISTEN is in effect. */
  onConnect(fn: () => void): () => void {
    this.#connect.add(fn);
    return () => this.#connect.delete(fn);
  }

  async #open(): Promise<void> {
    // keepAlive: a silent partition must end the session too, not leave it waiting.
    const client = new pg.Client({ connectionString: this.#o.url, keepAlive: true, keepAliveInitialDelayMillis: 5_000 });
    this.#client = client;
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      this.#connected = false;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#o.log.warn({ err: err?.message }, 'fleet notification connection lost; reconnecting');
      this.#schedule();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel !== this.#o.channel || msg.payload === undefined) return;
      for (const fn of this.#notice) {
        try {
          fn(msg.payload);
        } catch (err) {
          this.#o.log.error({ err }, 'a fleet notification handler failed');
        }
      }
    });
    try {
      await client.connect();
      // The channel is a constant identifier of ours, never input.
      await client.query(`LISTEN ${this.#o.channel}`);
    } catch (err) {
      lost = true;
      if (this.#client === client) this.#client = undefined;
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#attempt = 0;
    this.#connected = true;
    for (const fn of this.#connect) {
      try {
        fn();
      } catch (err) {
        this.#o.log.error({ err }, 'a fleet reconnect handler failed');
      }
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    const min = this.#o.minBackoffMs ?? 100;
    const max = this.#o.maxBackoffMs ?? 5_000;
    const delay = Math.min(max, min * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt = Math.min(this.#attempt + 1, 20);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#open().then(
        () => this.#o.log.info('fleet notification connection re-established'),
        (err: unknown) => {
          this.#o.log.debug({ err: (err as Error).message }, 'fleet notification reconnect failed');
          this.#schedule();
        },
      );
    }, delay);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#connected = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
