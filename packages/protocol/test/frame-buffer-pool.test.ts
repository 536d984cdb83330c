import { describe, expect, it } from 'vitest';
import { FrameBufferPool } from '../src/frame-buffer-pool.js';

describe('FrameBufferPool', () => {
  it('reuses the memory of a buffer only after it was given back', () => {
    const pool = new FrameBufferPool(1000, 100, 2);
    const a = pool.take(800);
    const b = pool.take(900);
    expect(a.length).toBe(800);
    expect(a.buffer).not.toBe(b.buffer);
    pool.give(a);
    const c = pool.take(500);
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(500);
  });

  it('does not pool small or oversized requests, and ignores buffers it did not lend', () => {
    const pool = new FrameBufferPool(1000, 100, 2);
    pool.give(pool.take(50));
    pool.give(pool.take(2000));
    pool.give(Buffer.allocUnsafeSlow(1000));
    expect(pool.freeCount).toBe(0);
  });

  it('takes a buffer back once, and keeps at most maxFree', () => {
    const pool = new FrameBufferPool(1000, 100, 2);
    const lent = [pool.take(500), pool.take(500), pool.take(500)];
    for (const b of lent) pool.give(b);
    pool.give(lent[0]!);
    expect(pool.freeCount).toBe(2);
    // Two takes get the two kept stores, which are distinct.
    expect(pool.take(500).buffer).not.toBe(pool.take(500).buffer);
  });
});

describe('FrameBufferPool.shared', () => {
  it('is one pool per buffer size for the whole process, with a bounded free list', () => {
    const a = FrameBufferPool.shared(5000, 100);
    expect(FrameBufferPool.shared(5000, 100)).toBe(a);
    expect(FrameBufferPool.shared(6000, 100)).not.toBe(a);
    // Many sessions giving back at once: the process keeps at most 8.
    const lent = Array.from({ length: 20 }, () => a.take(4000));
    for (const b of lent) a.give(b);
    expect(a.freeCount).toBe(8);
  });
});
