import { afterEach, describe, expect, it } from 'vitest';
import { barrier, closePair, nextStream, patternBytes, readAll, readyPair, until } from './helpers.js';
import type { Pair } from './helpers.js';
import type { TunnelStream } from '../src/index.js';

const KiB = 1024;
let pair: Pair | undefined;
afterEach(() => {
  if (pair) closePair(pair);
  pair = undefined;
});

/** A stream from the client session and its accepted end on the server, with the open settled. */
async function streamPair(p: Pair): Promise<{ stream: TunnelStream; peer: TunnelStream }> {
  const accepted = nextStream(p.server);
  const stream = p.client.openStream();
  const peer = await accepted;
  return { stream, peer };
}

describe('DATA frames from queued writes', () => {
  it('gathers small chunks written in one turn into one frame, FIN included', async () => {
    pair = await readyPair({ limits: { initialWindow: 256 * KiB } }, { limits: { initialWindow: 256 * KiB } });
    const { stream, peer } = await streamPair(pair);
    const received = readAll(peer);
    const before = pair.clientTransport.sentMessages;
    const body = patternBytes(48 * KiB);
    const callbacks: number[] = [];
    // Three 16 KiB chunks, the size a TLS socket hands over.
    for (let i = 0; i < 3; i++) stream.write(body.subarray(i * 16 * KiB, (i + 1) * 16 * KiB), () => callbacks.push(i));
    stream.end();
    expect((await received).equals(body)).toBe(true);
    expect(pair.clientTransport.sentMessages - before).toBe(1);
    expect(callbacks).toEqual([0, 1, 2]);
  });

  it('splits chunks across frames at the frame size and keeps every byte in order', async () => {
    pair = await readyPair({ limits: { initialWindow: 256 * KiB, maxFrameSize: 16 * KiB } }, { limits: { initialWindow: 256 * KiB } });
    const { stream, peer } = await streamPair(pair);
    const received = readAll(peer);
    const before = pair.clientTransport.sentMessages;
    const body = patternBytes(100 * KiB, 7);
    // Chunks that straddle frame boundaries: 10, 30, 25 and 35 KiB.
    let at = 0;
    for (const size of [10, 30, 25, 35]) {
      stream.write(body.subarray(at, at + size * KiB));
      at += size * KiB;
    }
    stream.end();
    expect((await received).equals(body)).toBe(true);
    // 100 KiB in frames of at most 16 KiB: seven frames, not one per chunk piece.
    expect(pair.clientTransport.sentMessages - before).toBe(7);
  });

  it('holds the writer once a frame\'s worth is queued, and lets it go when the frame leaves', async () => {
    pair = await readyPair();
    const { stream, peer } = await streamPair(pair);
    const received = readAll(peer);
    const body = patternBytes(256 * KiB, 3);
    let drains = 0;
    stream.on('drain', () => drains++);
    let ok = true;
    let written = 0;
    while (ok && written < 16) ok = stream.write(body.subarray(written * 16 * KiB, ++written * 16 * KiB));
    // With only the initial 32 KiB of credit, the stream's queue takes
    // 64 KiB (four chunks, the fourth waiting on its callback), not a
    // 256 KiB frame's worth; then Node's own buffer fills to its
    // high-water mark, which counts the waiting chunk (16 KiB on Node 20,
    // 64 KiB from Node 22), and write() says stop.
    expect(ok).toBe(false);
    expect(written).toBe(4 + stream.writableHighWaterMark / (16 * KiB) - 1);
    await new Promise((resolve) => stream.once('drain', resolve));
    stream.end();
    expect((await received).equals(body.subarray(0, written * 16 * KiB))).toBe(true);
    expect(drains).toBe(1);
  });

  it('with credit for a whole frame, takes up to a frame\'s worth (256 KiB) from the writer and sends it as one message', async () => {
    const limits = { initialWindow: 256 * KiB };
    pair = await readyPair({ limits }, { limits });
    const { stream, peer } = await streamPair(pair);
    const received = readAll(peer);
    const before = pair.clientTransport.sentMessages;
    const body = patternBytes(240 * KiB, 5);
    // Fifteen 16 KiB chunks, each accepted at once: the stream has credit
    // for all of them, so the queue limit is the frame size, not 64 KiB
    // (which would hold the writer at the fourth and send several frames).
    const accepted: number[] = [];
    for (let i = 0; i < 15; i++) stream.write(body.subarray(i * 16 * KiB, (i + 1) * 16 * KiB), () => accepted.push(i));
    stream.end();
    expect((await received).equals(body)).toBe(true);
    expect(pair.clientTransport.sentMessages - before).toBe(1);
    expect(accepted).toHaveLength(15);
  });

  it('a frame never takes more than the peer window allows', async () => {
    pair = await readyPair({}, { limits: { initialWindow: 8 * KiB, streamWindow: 8 * KiB } });
    const { stream, peer } = await streamPair(pair);
    peer.pause();
    for (let i = 0; i < 4; i++) stream.write(patternBytes(4 * KiB, i + 1));
    const arrived = (): number => peer.readableLength + peer.bufferedBytes;
    // The reader is paused: its window (8 KiB) crosses, and then nothing
    // more, which the probe stream's later arrival proves.
    await until(() => arrived() >= 8 * KiB, 'the window has crossed');
    await barrier(pair);
    expect(arrived()).toBe(8 * KiB);
    const received = readAll(peer);
    peer.resume();
    stream.end();
    expect((await received).length).toBe(16 * KiB);
  });
});
