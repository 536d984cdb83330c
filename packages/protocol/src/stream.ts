import { Duplex } from 'node:stream';
import { HtnError, HtnErrorCode, WireCode, htnCodeOf, isHtnError } from './errors.js';
import { encodeFrame, FRAME_HEADER_SIZE, FrameType, writeDataFrame, writeDataHeader } from './frame.js';
import type { DataSource } from './scheduler.js';
import { StreamWindow } from './stream-window.js';

/** What a stream needs from its session; implemented privately by Session. */
export interface StreamHost {
  /** The stream has something to send. */
  ready(stream: TunnelStream): void;
  /** Queue a control frame. */
  control(frame: Buffer): void;
  /** `bytes` of received data left the stream's queue (towards the reader). */
  consumed(stream: TunnelStream, bytes: number): void;
  /** Receive budget the stream no longer needs. */
  release(bytes: number): void;
  /** Both directions are finished on the wire, or the stream was reset. */
  done(stream: TunnelStream): void;
  /** Largest DATA payload the session sends now (the smaller of both sides' maxFrameSize). */
  dataFrameSize(): number;
}

/** Address facts a stream reports, so code written for sockets can log something. */
export interface StreamAddress {
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  localAddress?: string;
  localPort?: number;
}

const EMPTY = Buffer.alloc(0);

interface OutChunk { buf: Buffer; off: number }

/**
 * Bytes a stream accepts from its writer before the writer must wait, when
 * the peer has given it no credit: a stalled stream holds at most this (plus
 * the chunk that crossed it), whatever the frame size.
 *
 * A stream with credit accepts up to one frame's worth instead (the smaller
 * of its credit and the DATA frame size), so a writer fed in small chunks (a
 * TLS socket hands over 16 KiB records, a socket read 64 KiB) queues a whole
 * frame while the tunnel is busy, and takeFrame() sends it as one frame
 * instead of one per chunk. Every per-frame cost on both sides (WebSocket
 * frame, dispatch, the far side's reassembly and stream push) is paid once
 * per frame, which is what the 256 KiB default frame buys (docs/protocol.md,
 * "Frame size").
 */
const OUT_QUEUE_BYTES = 64 * 1024;

/**
 * One multiplexed stream: a Node `Duplex` that behaves enough like a
 * `net.Socket` for `http` (client via `Agent#createConnection`, server via
 * `server.emit('connection', stream)`), including Upgrade.
 *
 * - `end()` half-closes (DATA with FIN); the peer sees 'end'.
 * - `destroy(err)` resets the stream: the peer's stream is destroyed with
 *   HTN_ERR_STREAM_RESET carrying our wire code and message. Use
 *   {@link TunnelStream.reset} to pick the code. Without an error the code is CANCEL.
 * - A stream reset by the peer or killed with its session is destroyed with an
 *   {@link HtnError}, so it emits 'error': attach a listener.
 */
export class TunnelStream extends Duplex implements DataSource {
  /** Stream id: odd if the client role opened it, even if the server role did. */
  readonly id: number;
  /** Opaque bytes given by the opener (labels, routing info); empty if none. */
  readonly openPayload: Buffer;
  /** True if this side opened the stream. */
  readonly local: boolean;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** Always false: a tunnel stream is connected from birth (read by `http`). */
  readonly connecting = false;
  scheduled = false;
  bytesRead = 0;
  bytesWritten = 0;

  #host: StreamHost;
  /** Flow-control credit both ways (stream-window.ts). */
  readonly #window: StreamWindow;
  #out: OutChunk[] = [];
  /** Bytes in #out not yet taken into frames. */
  #outBytes = 0;
  /** The writer's callback, held while #out is full (backpressure). */
  #writeCb: ((err?: Error | null) => void) | undefined;
  #finCb: ((err?: Error | null) => void) | undefined;
  #finSent = false;
  #finReceived = false;
  #inQueue: Buffer[] = [];
  #inBytes = 0;
  #readWanted = false;
  #wireClosed = false;
  #closeError: Error | undefined;
  #resetWith: { code: number; message: string } | undefined;
  #idleMs = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #lastActivity = 0;

  /** @internal Created by Session; not for direct use. */
  constructor(host: StreamHost, id: number, local: boolean, openPayload: Buffer, sendCredit: number, recvCredit: number, address: StreamAddress) {
    super({ allowHalfOpen: true });
    this.#host = host;
    this.id = id;
    this.local = local;
    this.openPayload = openPayload;
    this.#window = new StreamWindow(sendCredit, recvCredit);
    this.remoteAddress = address.remoteAddress;
    this.remotePort = address.remotePort;
    this.remoteFamily = address.remoteFamily;
    this.localAddress = address.localAddress;
    this.localPort = address.localPort;
  }

  /** Our receive window still open to the peer, plus bytes queued unread: what this stream holds of the session budget. */
  get committedBytes(): number {
    return this.#window.recv + this.#inBytes;
  }

  /** Received bytes waiting for the reader (not counting Node's own readable buffer). */
  get bufferedBytes(): number {
    return this.#inBytes;
  }

  get recvCredit(): number {
    return this.#window.recv;
  }

  get finReceived(): boolean {
    return this.#finReceived;
  }

  /** Reset the stream with an explicit wire code (>= 0x1000 for application codes) and a short reason. */
  reset(code: number = WireCode.CANCEL, message = 'cancelled'): this {
    // Resetting is a deliberate act, not a local failure: no local 'error'.
    this.#resetWith = { code, message };
    return this.destroy();
  }

  // --- net.Socket look-alikes that node:http calls ---------------------------

  /** Emit 'timeout' after `ms` without reads or writes (0 disables), like `net.Socket#setTimeout`. */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#idleMs = ms;
    this.#lastActivity = Date.now();
    if (this.#idleTimer) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    if (ms > 0 && !this.destroyed) this.#armIdle(ms);
    return this;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  address(): { address?: string; family?: string; port?: number } {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort };
  }

  // --- session side ----------------------------------------------------------

  /** @internal A DATA frame for this stream arrived (flow control already checked). */
  onData(data: Uint8Array, fin: boolean): void {
    const payload = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (payload.length > 0) {
      this.#window.received(payload.length, this.#inBytes);
      this.#inQueue.push(payload);
      this.#inBytes += payload.length;
      this.bytesRead += payload.length;
      this.#lastActivity = Date.now();
    }
    if (fin) {
      this.#finReceived = true;
      // The peer will send nothing more, so the rest of our window is free.
      this.#host.release(this.#window.closeReceive());
    }
    if (this.#readWanted) this.#flushIn();
    this.#checkWireClosed();
  }

  /** @internal The peer granted more credit. Returns false if it overflows the window ceiling. */
  onWindowUpdate(increment: number): boolean {
    if (!this.#window.addSend(increment)) return false;
    this.#host.ready(this);
    return true;
  }

  /** @internal Streams opened before the handshake learn the peer's initial window late. */
  setInitialSendCredit(credit: number): void {
    this.#window.send = credit;
    this.#host.ready(this);
  }

  /** @internal The peer reset the stream. */
  onReset(code: number, message: string): void {
    this.#wireClosed = true;
    const htn = code === WireCode.REFUSED ? HtnErrorCode.STREAM_REFUSED : htnCodeOf(code);
    this.#fail(new HtnError(htn, `stream ${this.id} reset by peer: ${message || 'no reason given'}`, { wireCode: code, remote: true }));
  }

  /** @internal The session is going away; kill the stream without a RESET on the wire. */
  abort(err: Error): void {
    this.#wireClosed = true;
    this.#fail(err);
  }

  /** Why the tunnel ended this stream (reset by peer, session closed), if it did. */
  get closeError(): HtnError | Error | undefined {
    return this.#closeError;
  }

  #fail(err: Error): void {
    this.destroy(err);
  }

  /**
   * @internal This stream's receive window target: starts at the initial
   * window and doubles, up to `max`, each time the window held the sender back.
   */
  windowTarget(max: number): number {
    return this.#window.target(max);
  }

  /** @internal Credit we may grant now: how far the window is below `target`. */
  windowDeficit(target: number): number {
    if (this.#finReceived || this.#wireClosed || this.destroyed) return 0;
    return this.#window.deficit(target, this.#inBytes);
  }

  /** @internal Record a grant that the session has put on the wire. */
  granted(increment: number): void {
    this.#window.granted(increment);
  }

  hasSendable(): boolean {
    if (this.#wireClosed) return false;
    if (this.#out.length > 0) return this.#window.send > 0;
    return this.#finCb !== undefined && !this.#finSent;
  }

  takeFrame(maxPayload: number, alloc: (bytes: number) => Buffer): Buffer | undefined {
    if (this.#wireClosed) return undefined;
    const head = this.#out[0];
    if (head === undefined) {
      if (this.#finCb === undefined || this.#finSent) return undefined;
      return this.#sendFin(writeDataFrame(alloc(FRAME_HEADER_SIZE), this.id, true, EMPTY));
    }
    if (this.#window.send <= 0) return undefined;
    const n = this.#window.takeSend(Math.min(this.#outBytes, maxPayload));
    this.#outBytes -= n;
    this.bytesWritten += n;
    this.#lastActivity = Date.now();
    const buf = alloc(FRAME_HEADER_SIZE + n);
    if (head.buf.length - head.off > n) {
      // Part of one chunk: the rest waits for credit or the next turn.
      writeDataFrame(buf, this.id, false, head.buf.subarray(head.off, head.off + n));
      head.off += n;
      this.#releaseWriter();
      return buf;
    }
    // Whole chunks, as many as fit: a frame gathers what the writer queued
    // since the last turn. Sources that hand over small chunks (a TLS
    // socket reads 16 KiB records) would otherwise pay every per-message
    // cost (WebSocket frame, TLS record tail, dispatch on the far side) once
    // per chunk.
    let at = FRAME_HEADER_SIZE;
    let written = 0;
    const end = FRAME_HEADER_SIZE + n;
    while (at < end) {
      const chunk = this.#out[written] as OutChunk;
      const take = Math.min(chunk.buf.length - chunk.off, end - at);
      chunk.buf.copy(buf, at, chunk.off, chunk.off + take);
      chunk.off += take;
      at += take;
      if (chunk.off === chunk.buf.length) written++;
    }
    this.#out.splice(0, written);
    // Piggy-back FIN on the last DATA frame when end() is already pending.
    const fin = this.#out.length === 0 && this.#finCb !== undefined;
    writeDataHeader(buf, this.id, fin, n);
    if (fin) this.#sendFin(buf);
    this.#releaseWriter();
    return buf;
  }

  /**
   * Let a held writer continue once the queue has room. Node defers its own
   * work for callbacks made outside _write, so calling it from the
   * scheduler is safe; it runs after the frame is complete because the
   * writer may queue more (or destroy the stream) from inside it.
   */
  #releaseWriter(): void {
    const cb = this.#writeCb;
    if (cb === undefined || this.#outBytes >= this.#queueLimit()) return;
    this.#writeCb = undefined;
    cb();
  }

  #sendFin(frame: Buffer): Buffer {
    this.#finSent = true;
    const cb = this.#finCb;
    this.#finCb = undefined;
    // Defer: _final's callback may synchronously lead to destroy() while the
    // scheduler is still using this stream.
    process.nextTick(finishedFinal, this, cb);
    return frame;
  }

  /** @internal */
  checkWireClosed(): void {
    this.#checkWireClosed();
  }

  #checkWireClosed(): void {
    if (!this.#wireClosed && this.#finSent && this.#finReceived) {
      this.#wireClosed = true;
      this.#host.done(this);
    }
  }

  #flushIn(): void {
    while (this.#inQueue.length > 0) {
      const chunk = this.#inQueue.shift() as Buffer;
      this.#inBytes -= chunk.length;
      this.#host.consumed(this, chunk.length);
      if (!this.push(chunk)) {
        this.#readWanted = false;
        return;
      }
    }
    if (this.#finReceived && this.#inBytes === 0) {
      this.push(null);
      this.#readWanted = false;
    }
  }

  #armIdle(delay: number): void {
    this.#idleTimer = setTimeout(streamOnIdleTimer, delay, this);
    this.#idleTimer.unref();
  }

  /** @internal */
  idleCheck(): void {
    this.#idleTimer = undefined;
    if (this.#idleMs === 0 || this.destroyed) return;
    const idle = Date.now() - this.#lastActivity;
    if (idle >= this.#idleMs) {
      this.#lastActivity = Date.now();
      this.#armIdle(this.#idleMs);
      this.emit('timeout');
    } else {
      this.#armIdle(this.#idleMs - idle);
    }
  }

  override _read(): void {
    this.#readWanted = true;
    this.#flushIn();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#wireClosed) {
      cb(new HtnError(HtnErrorCode.STREAM_RESET, `stream ${this.id} is closed`));
      return;
    }
    if (chunk.length === 0) {
      cb();
      return;
    }
    this.#out.push({ buf: chunk, off: 0 });
    this.#outBytes += chunk.length;
    this.#host.ready(this);
    // Accepted while the queue holds less than a frame; otherwise the writer
    // waits until takeFrame() makes room (see OUT_QUEUE_BYTES).
    if (this.#outBytes < this.#queueLimit()) cb();
    else this.#writeCb = cb;
  }

  /** See OUT_QUEUE_BYTES: one frame's worth while credit allows, 64 KiB without. */
  #queueLimit(): number {
    return Math.max(OUT_QUEUE_BYTES, Math.min(this.#window.send, this.#host.dataFrameSize()));
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#wireClosed) {
      cb();
      return;
    }
    this.#finCb = cb;
    this.#host.ready(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    if (!this.#wireClosed) {
      this.#wireClosed = true;
      const code = this.#resetWith?.code ?? (err === null ? WireCode.CANCEL : isHtnError(err) ? err.wireCode : WireCode.INTERNAL);
      const message = this.#resetWith?.message ?? (err === null ? 'cancelled' : isHtnError(err) ? err.message.replace(/^HTN_ERR_\w+: /, '') : err.message);
      this.#host.control(encodeFrame({ type: FrameType.RESET, streamId: this.id, code, message }));
      this.#host.done(this);
    }
    this.#host.release(this.#window.closeReceive() + this.#inBytes);
    this.#inBytes = 0;
    this.#inQueue = [];
    this.#out = [];
    this.#outBytes = 0;
    this.#writeCb = undefined;
    if (err) this.#closeError ??= err;
    // A stream must not crash its process because nobody listens for
    // 'error' (a server that resets a stream a hostile agent opened, a peer
    // reset nobody awaited): without a listener the stream just closes. The
    // cause stays in `closeError` and `errored`, which pipeline() and
    // finished() still see.
    cb(err !== null && this.listenerCount('error') > 0 ? err : null);
  }
}

function finishedFinal(_stream: TunnelStream, cb: ((err?: Error | null) => void) | undefined): void {
  cb?.();
  _stream.checkWireClosed();
}

function streamOnIdleTimer(stream: TunnelStream): void {
  stream.idleCheck();
}
