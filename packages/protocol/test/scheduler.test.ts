import { describe, expect, it } from 'vitest';
import { decodeFrames, encodeFrame, FrameType } from '../src/index.js';
import type { Transport } from '../src/index.js';
import { Scheduler } from '../src/scheduler.js';
import type { DataSource } from '../src/scheduler.js';

/** A transport that records messages and acknowledges them only when told. */
class HeldTransport implements Transport {
  sent: Buffer[] = [];
  #acks: Array<() => void> = [];
  bufferedAmount = 0;
  start(): void {}
  send(data: Uint8Array, cb: (err?: Error) => void): void {
    this.sent.push(Buffer.from(data));
    this.#acks.push(cb);
  }
  ackAll(): void {
    const acks = this.#acks;
    this.#acks = [];
    for (const a of acks) a();
  }
  close(): void {}
  terminate(): void {}
  types(): number[] {
    return this.sent.flatMap((m) => decodeFrames(m).map((f) => f.type));
  }
}

/** A stream with endless data and endless credit. */
function bulk(id: number): DataSource {
  return {
    scheduled: false,
    hasSendable: () => true,
    takeFrame: (max) => encodeFrame({ type: FrameType.DATA, streamId: id, fin: false, payload: Buffer.alloc(max) }),
  };
}

/** Pumping is deferred to the end of the event-loop turn. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const ping = (): Buffer => encodeFrame({ type: FrameType.PING, streamId: 0, ack: false, payload: Buffer.alloc(8) });

describe('scheduler', () => {
  it('sends a control frame before any further bulk data, even with a backlog', async () => {
    const t = new HeldTransport();
    const s = new Scheduler(t, 128 * 1024, 16 * 1024, () => {});
    s.enableData(16 * 1024);
    s.ready(bulk(1));
    await turn();
    const before = t.sent.length;
    expect(before).toBeGreaterThan(0); // filled up to the high-water mark, then waits
    s.control(ping());
    await turn();
    t.ackAll();
    const after = t.types().slice(t.types().length - (t.sent.length - before));
    expect(after[0]).toBe(FrameType.PING);
  });

  it('never hands the transport more than the high-water mark plus one frame', async () => {
    const t = new HeldTransport();
    const s = new Scheduler(t, 64 * 1024, 16 * 1024, () => {});
    s.enableData(16 * 1024);
    s.ready(bulk(1));
    s.ready(bulk(3));
    await turn();
    expect(s.inflight).toBeGreaterThan(0);
    expect(s.inflight).toBeLessThanOrEqual(64 * 1024 + 16 * 1024 + 9);
  });

  it('serves ready streams round-robin, one frame per turn', async () => {
    const t = new HeldTransport();
    const s = new Scheduler(t, 64 * 1024, 8 * 1024, () => {});
    s.enableData(8 * 1024);
    s.ready(bulk(1));
    s.ready(bulk(3));
    s.ready(bulk(5));
    await turn();
    const ids = t.sent.flatMap((m) => decodeFrames(m).map((f) => f.streamId)).slice(0, 6);
    expect(ids).toEqual([1, 3, 5, 1, 3, 5]);
  });

  it('coalesces the small frames of one event-loop turn into one message', async () => {
    const t = new HeldTransport();
    const frames = Array.from({ length: 5 }, (_, i) => encodeFrame({ type: FrameType.WINDOW_UPDATE, streamId: 1 + 2 * i, increment: 100 }));
    const batched = new Scheduler(t, 1024 * 1024, 16 * 1024, () => {});
    batched.enableData(16 * 1024);
    // A source that emits small frames: all of its output in one pass becomes one message.
    let n = 0;
    batched.ready({ scheduled: false, hasSendable: () => n < frames.length, takeFrame: () => frames[n++] });
    batched.control(ping());
    await turn();
    expect(t.sent).toHaveLength(1);
    expect(decodeFrames(t.sent[0]!).map((f) => f.type)).toEqual([FrameType.PING, ...frames.map(() => FrameType.WINDOW_UPDATE)]);
  });
});
