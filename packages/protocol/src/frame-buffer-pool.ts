/**
 * Free buffers a shared pool keeps: enough for a few sessions sending bulk
 * at once (each has at most transportHighWater plus one frame in flight),
 * 2 MiB at the default 256 KiB frame size.
 */
const SHARED_MAX_FREE = 8;

/**
 * Reusable buffers for large DATA frames. A bulk transfer encodes one frame
 * per turn (header + payload copied into one buffer, because a transport
 * message is one contiguous buffer); allocating each of those afresh made
 * garbage collection about a seventh of the agent's CPU time in the 50 MB
 * benchmark. A buffer goes back to the pool when the transport's send
 * callback says the bytes have left the process, which the Transport
 * contract guarantees means it no longer reads them.
 *
 * One pool per buffer size serves every session of the process
 * ({@link FrameBufferPool.shared}): a server holds thousands of sessions,
 * and a free list per session would keep a few frames' worth of memory in
 * each one that ever sent a large body, long after it went idle. Shared, the
 * memory kept is bounded by `maxFree` for the whole process.
 *
 * Small frames are not pooled: they are coalesced into batches (a fresh
 * buffer anyway) and the Buffer slab already serves them cheaply.
 */
export class FrameBufferPool {
  static readonly #shared = new Map<number, FrameBufferPool>();

  /**
   * The process-wide pool of buffers of `capacity` bytes. Every session
   * frame size in use gets one (in practice one or two: the default and a
   * peer's smaller limit).
   */
  static shared(capacity: number, smallest: number): FrameBufferPool {
    let pool = FrameBufferPool.#shared.get(capacity);
    if (pool === undefined) {
      pool = new FrameBufferPool(capacity, smallest, SHARED_MAX_FREE);
      FrameBufferPool.#shared.set(capacity, pool);
    }
    return pool;
  }

  /** Size of every pooled buffer: the largest frame the peer accepts. */
  readonly capacity: number;
  readonly #smallest: number;
  readonly #maxFree: number;
  #free: ArrayBuffer[] = [];
  /**
   * Backing stores currently handed out; only these are taken back. Weak,
   * so a buffer whose send callback never runs (a transport that breaks the
   * contract) is left to the GC instead of being held here forever.
   */
  #lent = new WeakSet<ArrayBuffer>();

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
}
