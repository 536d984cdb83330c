import type { Transport, TransportHandlers } from './transport.js';

/** Options for {@link createMemoryTransportPair}. */
export interface MemoryTransportOptions {
  /** One-way delay of every message, in ms. Default 0 (next macrotask). */
  latencyMs?: number;
}

/** One end of an in-memory transport pair, with knobs to simulate failures. */
export interface MemoryTransport extends Transport {
  /**
   * Simulate a frozen process: this end stops sending and stops processing.
   * Messages towards it queue up (and their senders see backpressure).
   */
  freeze(): void;
  /** Undo {@link MemoryTransport.freeze}; queued messages are delivered. */
  unfreeze(): void;
  /** Simulate a silent network: every message in either direction is dropped from now on. */
  silence(): void;
  /** Deliver raw bytes to this end as if the peer had sent them (for malformed-input tests). */
  inject(data: Uint8Array): void;
  /** Messages and bytes this end has sent. */
  readonly sentMessages: number;
  readonly sentBytes: number;
  /** Transport pings sent by this end. */
  readonly pings: number;
}

interface Pending { data: Uint8Array; at: number; cb: (err?: Error) => void; close?: boolean }

class Endpoint implements MemoryTransport {
  peer!: Endpoint;
  #handlers: TransportHandlers | undefined;
  #inbox: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #latency: number;
  #frozen = false;
  #silent = false;
  #closed = false;
  #queuedBytes = 0;
  sentMessages = 0;
  sentBytes = 0;
  pings = 0;

  constructor(latency: number) {
    this.#latency = latency;
  }

  get bufferedAmount(): number {
    return this.peer.#queuedBytes;
  }

  start(handlers: TransportHandlers): void {
    this.#handlers = handlers;
    this.#schedule();
  }

  send(data: Uint8Array, cb: (err?: Error) => void): void {
    if (this.#closed) {
      queueMicrotask(() => cb(new Error('transport closed')));
      return;
    }
    if (this.#frozen) return; // a frozen process never gets its write done
    this.sentMessages++;
    this.sentBytes += data.length;
    if (this.#silent || this.peer.#silent) {
      queueMicrotask(cb);
      return;
    }
    // Copy: the receiver may keep views into the message.
    this.peer.#enqueue({ data: Uint8Array.prototype.slice.call(data), at: Date.now() + this.#latency, cb });
  }

  ping(): void {
    this.pings++;
    if (this.#frozen || this.#silent || this.peer.#silent || this.#closed) return;
    const peer = this.peer;
    // The remote ws library answers pings itself, unless that process is frozen.
    setTimeout(() => {
      if (!peer.#frozen && !peer.#closed && !this.#closed) this.#handlers?.onPong?.();
    }, this.#latency * 2);
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    // Deliver what is queued first, as an orderly WebSocket close does.
    this.peer.#enqueue({ data: new Uint8Array(0), at: Date.now() + this.#latency, cb: () => this.#finish(code, reason), close: true });
  }

  terminate(): void {
    this.#finish(1006, 'terminated');
  }

  freeze(): void {
    this.#frozen = true;
  }

  unfreeze(): void {
    this.#frozen = false;
    this.#schedule();
  }

  silence(): void {
    this.#silent = true;
    this.peer.#silent = true;
    this.#inbox = [];
    this.peer.#inbox = [];
  }

  inject(data: Uint8Array): void {
    this.#enqueue({ data, at: Date.now(), cb: noop });
  }

  #finish(code: number, reason: string): void {
    // On a silent network the peer never learns that this end went away.
    for (const end of this.#silent ? [this] : [this, this.peer]) {
      if (end.#closed) continue;
      end.#closed = true;
      if (end.#timer) clearTimeout(end.#timer);
      const inbox = end.#inbox;
      end.#inbox = [];
      end.#queuedBytes = 0;
      for (const p of inbox) p.cb(new Error('transport closed'));
      end.#handlers?.onClose(code, reason);
    }
  }

  #enqueue(p: Pending): void {
    if (this.#closed) {
      queueMicrotask(() => p.cb(new Error('transport closed')));
      return;
    }
    this.#inbox.push(p);
    this.#queuedBytes += p.data.length;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer || this.#frozen || !this.#handlers) return;
    const head = this.#inbox[0];
    if (!head) return;
    const delay = Math.max(0, head.at - Date.now());
    this.#timer = setTimeout(memoryDeliver, delay, this);
  }

  deliver(): void {
    this.#timer = undefined;
    const now = Date.now();
    // Deliver everything due, in order; one timer per batch keeps it cheap.
    while (!this.#frozen && !this.#closed) {
      const head = this.#inbox[0];
      if (!head || head.at > now) break;
      this.#inbox.shift();
      this.#queuedBytes -= head.data.length;
      if (head.close) {
        head.cb();
        continue;
      }
      this.#handlers?.onMessage(head.data);
      head.cb();
    }
    this.#schedule();
  }
}

function memoryDeliver(end: Endpoint): void {
  end.deliver();
}

function noop(): void {}

/**
 * Two connected in-memory transports. A message sent on one end arrives at
 * the other after `latencyMs`; the sender's callback runs on delivery, so a
 * frozen receiver produces real backpressure.
 */
export function createMemoryTransportPair(options: MemoryTransportOptions = {}): [MemoryTransport, MemoryTransport] {
  const latency = options.latencyMs ?? 0;
  const a = new Endpoint(latency);
  const b = new Endpoint(latency);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
