import { FrameBufferPool } from './frame-buffer-pool.js';
import { FRAME_HEADER_SIZE } from './frame.js';
import type { Transport } from './transport.js';

/** Frames up to this size are coalesced with their neighbours into one message. */
const BATCH_FRAME_MAX = 4096;
/** A batch is sent once it reaches this size. */
const BATCH_FLUSH_BYTES = 16 * 1024;

/** A stream as the scheduler sees it: something that may have a DATA frame ready. */
export interface DataSource {
  /**
   * Produce the next DATA frame (already encoded, in memory from `alloc`), or
   * undefined if blocked (no credit, nothing queued).
   */
  takeFrame(maxPayload: number, alloc: (bytes: number) => Buffer): Buffer | undefined;
  /** True if {@link DataSource.takeFrame} would produce a frame now. */
  hasSendable(): boolean;
  /** Scheduler bookkeeping: whether the source is in the ready ring. */
  scheduled: boolean;
}

/**
 * Outbound ordering. Control frames (OPEN, RESET, WINDOW_UPDATE, PING,
 * GOAWAY) go into a priority queue that is always served first; DATA frames
 * are pulled one frame per stream per turn from a round-robin ring, so a bulk
 * stream cannot starve a chatty one. Nothing is handed to the transport while
 * more than `highWater` bytes are unacknowledged: the transport's queue stays
 * short, which is what keeps control frames from waiting behind megabytes of
 * bulk data inside the socket.
 */
export class Scheduler {
  #transport: Transport;
  #highWater: number;
  #control: Buffer[] = [];
  #ring: DataSource[] = [];
  #inflight = 0;
  #pumping = false;
  #pumpQueued = false;
  #dataEnabled = false;
  #stopped = false;
  #onSent: (err?: Error) => void;
  #onIdle: () => void;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #pool: FrameBufferPool;
  #alloc: (bytes: number) => Buffer;
  maxPayload: number;

  constructor(transport: Transport, highWater: number, maxPayload: number, onIdle: () => void) {
    this.#transport = transport;
    this.#highWater = highWater;
    this.maxPayload = maxPayload;
    this.#onIdle = onIdle;
    this.#onSent = this.#sent.bind(this);
    this.#pool = this.#newPool(maxPayload);
    this.#alloc = (bytes) => this.#pool.take(bytes);
  }

  #newPool(maxPayload: number): FrameBufferPool {
    return FrameBufferPool.shared(FRAME_HEADER_SIZE + maxPayload, BATCH_FRAME_MAX);
  }

  /** Bytes handed to the transport and not yet acknowledged by it. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Bytes queued in the control queue. */
  get queuedControlBytes(): number {
    let n = 0;
    for (const b of this.#control) n += b.length;
    return n;
  }

  /** True when nothing is queued or in flight. */
  get idle(): boolean {
    return this.#control.length === 0 && this.#ring.length === 0 && this.#inflight === 0;
  }

  /** DATA is held back until the handshake has told us the peer's limits. */
  enableData(maxPayload: number): void {
    this.maxPayload = maxPayload;
    this.#pool = this.#newPool(maxPayload);
    this.#dataEnabled = true;
    this.pump();
  }

  control(frame: Buffer): void {
    if (this.#stopped) return;
    this.#control.push(frame);
    this.#schedule();
  }

  /** Put a source in the ring if it has something to send. */
  ready(source: DataSource): void {
    if (this.#stopped || source.scheduled || !source.hasSendable()) return;
    source.scheduled = true;
    this.#ring.push(source);
    this.#schedule();
  }

  remove(source: DataSource): void {
    if (!source.scheduled) return;
    source.scheduled = false;
    const i = this.#ring.indexOf(source);
    if (i >= 0) this.#ring.splice(i, 1);
  }

  /** Drop everything; used when the session dies. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#ring) s.scheduled = false;
    this.#ring = [];
    this.#control = [];
  }

  #schedule(): void {
    if (this.#pumpQueued || this.#pumping) return;
    this.#pumpQueued = true;
    setImmediate(schedulerPump, this);
  }

  /** @internal */
  deferredPump(): void {
    this.#pumpQueued = false;
    this.pump();
  }

  pump(): void {
    // Re-entrancy guard: write callbacks fired from takeFrame() may queue more.
    if (this.#pumping || this.#stopped) return;
    this.#pumping = true;
    try {
      while (this.#inflight + this.#batchBytes < this.#highWater && !this.#stopped) {
        const ctl = this.#control.shift();
        if (ctl) {
          this.#send(ctl);
          continue;
        }
        if (!this.#dataEnabled) break;
        const source = this.#ring.shift();
        if (!source) break;
        source.scheduled = false;
        const frame = source.takeFrame(this.maxPayload, this.#alloc);
        if (frame) this.#send(frame);
        if (!source.scheduled && source.hasSendable()) {
          source.scheduled = true;
          this.#ring.push(source);
        }
      }
      this.#flush();
    } finally {
      this.#pumping = false;
    }
    if (this.idle) this.#onIdle();
  }

  #send(frame: Buffer): void {
    if (frame.length <= BATCH_FRAME_MAX) {
      this.#batch.push(frame);
      this.#batchBytes += frame.length;
      if (this.#batchBytes >= BATCH_FLUSH_BYTES) this.#flush();
      return;
    }
    // Large frames go alone (copying them into a batch costs more than a
    // message header), after what is already batched, to keep the order.
    this.#flush();
    this.#write(frame);
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    const message = this.#batch.length === 1 ? (this.#batch[0] as Buffer) : Buffer.concat(this.#batch, this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#write(message);
  }

  #write(frame: Buffer): void {
    this.#inflight += frame.length;
    const n = frame.length;
    this.#transport.send(frame, (err) => {
      this.#inflight -= n;
      // Whether sent or failed, the transport no longer reads the bytes.
      this.#pool.give(frame);
      this.#onSent(err);
    });
  }

  #sent(): void {
    // Errors surface through the transport's onClose; here only the credit matters.
    this.pump();
  }
}

function schedulerPump(scheduler: Scheduler): void {
  scheduler.deferredPump();
}
