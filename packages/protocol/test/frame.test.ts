import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrames, encodeFrame, FrameType, HtnError, HtnErrorCode, MAX_REASON_BYTES } from '../src/index.js';
import type { Frame } from '../src/index.js';
import { createMemoryTransportPair, Session } from '../src/index.js';

const streamId = fc.integer({ min: 1, max: 0x7fff_ffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const reason = fc.string({ maxLength: 60 });

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constant(FrameType.HELLO), streamId: fc.constant(0 as const),
    minVersion: fc.integer({ min: 0, max: 0xffff }), maxVersion: fc.integer({ min: 0, max: 0xffff }), body: bytes(200),
  }),
  fc.record({ type: fc.constant(FrameType.OPEN), streamId, payload: bytes(300) }),
  fc.record({ type: fc.constant(FrameType.DATA), streamId, fin: fc.boolean(), payload: bytes(2000) }),
  fc.record({ type: fc.constant(FrameType.WINDOW_UPDATE), streamId, increment: fc.integer({ min: 1, max: 0x7fff_ffff }) }),
  fc.record({ type: fc.constant(FrameType.RESET), streamId, code: fc.nat({ max: 0xffff_ffff }), message: reason }),
  fc.record({ type: fc.constant(FrameType.PING), streamId: fc.constant(0 as const), ack: fc.boolean(), payload: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)) }),
  fc.record({
    type: fc.constant(FrameType.GOAWAY), streamId: fc.constant(0 as const), lastStreamId: fc.integer({ min: 0, max: 0x7fff_ffff }),
    code: fc.nat({ max: 0xffff_ffff }), retryAfterMs: fc.option(fc.nat({ max: 0xffff_fffe }), { nil: undefined }), message: reason,
  }),
  fc.record({
    type: fc.constant(FrameType.MOVE), streamId: fc.constant(0 as const),
    retryAfterMs: fc.option(fc.nat({ max: 0xffff_fffe }), { nil: undefined }), message: reason,
  }),
) as fc.Arbitrary<Frame>;

function normalise(f: Frame): unknown {
  return JSON.parse(JSON.stringify(f, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));
}

describe('frame codec', () => {
  it('round-trips every valid frame through encode and decode', () => {
    fc.assert(fc.property(frameArb, (frame) => {
      const decoded = decodeFrames(encodeFrame(frame));
      expect(decoded).toHaveLength(1);
      expect(normalise(decoded[0]!)).toEqual(normalise(frame));
    }), { numRuns: 2000 });
  });

  it('decodes several frames packed into one message in order', () => {
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), (frames) => {
      const decoded = decodeFrames(Buffer.concat(frames.map(encodeFrame)));
      expect(decoded.map(normalise)).toEqual(frames.map(normalise));
    }), { numRuns: 300 });
  });

  it('never throws anything but an HtnError on random bytes', () => {
    let rejected = 0;
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
      try {
        decodeFrames(input, 1024);
      } catch (err) {
        rejected++;
        expect(err).toBeInstanceOf(HtnError);
        expect([HtnErrorCode.FRAME_MALFORMED, HtnErrorCode.FRAME_TOO_LARGE]).toContain((err as HtnError).code);
      }
    }), { numRuns: 5000 });
    // Random bytes are mostly not frames: a decoder that swallowed them
    // (and so never reached the checks above) must not pass.
    expect(rejected).toBeGreaterThan(2500);
  });

  it('rejects truncated frames and frames whose length lies', () => {
    fc.assert(fc.property(frameArb, fc.nat(), (frame, cut) => {
      const buf = encodeFrame(frame);
      const truncated = buf.subarray(0, cut % buf.length);
      if (truncated.length === 0) return;
      expect(() => decodeFrames(truncated)).toThrow(HtnError);
    }), { numRuns: 1000 });
  });

  it('cuts reason texts to the byte limit on a character boundary', () => {
    const frame = encodeFrame({ type: FrameType.RESET, streamId: 1, code: 1, message: 'é'.repeat(400) });
    const [decoded] = decodeFrames(frame);
    expect(decoded).toMatchObject({ type: FrameType.RESET });
    const message = (decoded as { message: string }).message;
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_REASON_BYTES);
    expect(message).toBe('é'.repeat(128));
  });

  it('reports an oversized frame as HTN_ERR_FRAME_TOO_LARGE before reading its payload', () => {
    const header = Buffer.from([0x10, 0x00, 0x00, FrameType.DATA, 0, 0, 0, 0, 1]);
    expect(() => decodeFrames(header, 65536)).toThrow(expect.objectContaining({ code: HtnErrorCode.FRAME_TOO_LARGE }));
  });
});

describe('session under random input', () => {
  it('always ends in a clean, coded close and never throws', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 5 }), async (messages) => {
      const [a, b] = createMemoryTransportPair();
      b.start({ onMessage: () => {}, onClose: () => {} });
      const session = new Session(a, { role: 'server', software: 'fuzz' });
      for (const m of messages) a.inject(m);
      const err = await session.closed;
      expect(err).toBeInstanceOf(HtnError);
      expect(err?.code).toMatch(/^HTN_ERR_/);
    }), { numRuns: 200 });
  });
});
