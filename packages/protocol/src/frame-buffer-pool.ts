/**
 * Reusable buffers for large DATA frames. A bulk transfer encodes one frame
 * per chunk (header + payload copied into one buffer, because a transport
 * message is one contiguous buffer); allocating each of those afresh made
 * garbage collection about a seventh of the agent's CPU time in the 50 MB
 * benchmark. A buffer goes back to the pool when the transport's send
 * callback says the bytes have left the process, which the Transport
 * contract guarantees means it no longer reads them.
 *
 * Small frames are not pooled: they are coalesced into batches (a fresh
 * buffer anyway) and the Buffer slab already serves them cheaply.
 */
export class FrameBufferPool {
  /** Size of every pooled buffer: the largest frame the peer accepts. */
  readonly capacity: number;
  readonly #smallest: number;
  readonly #maxFree: number;
  #free: ArrayBuffer[] = [];
  /** Backing stores currently handed out; only these are taken back. */
  #lent = new Set<ArrayBuffer>();

  /**
   * @param capacity  bytes per buffer (header + largest payload)
   * @param smallest  requests of at most this many bytes are not pooled
   * @param maxFree   buffers kept when idle; the rest are left to the GC
   */
  constructor(capacity: number, smallest: number, maxFree: number) {
    this.capacity = capacity;
    this.#smallest = smallest;
    this.#maxFree = maxFree;
  }

  /** Buffers kept for reuse right now (for tests). */
  get freeCount(): number {
    return this.#free.length;
  }

  /** A buffer of exactly `bytes` bytes, uninitialised. */
  take(bytes: number): Buffer {
    if (bytes <= this.#smallest || bytes > this.capacity) return Buffer.allocUnsafe(bytes);
    const store = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.capacity).buffer as ArrayBuffer;
    this.#lent.add(store);
    return Buffer.from(store, 0, bytes);
  }

  /** The transport is done with `buf`; reuse its memory if it came from here. */
  give(buf: Uint8Array): void {
    const store = buf.buffer as ArrayBuffer;
    if (!this.#lent.delete(store)) return;
    if (this.#free.length < this.#maxFree) this.#free.push(store);
  }

  /** Forget every buffer (session over); lent ones are not taken back. */
  clear(): void {
    this.#free = [];
    this.#lent.clear();
  }
}
