import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame, FrameType, HtnError, HtnErrorCode, MOVE_CAPABILITY, Session, WireCode, createMemoryTransportPair } from '../src/index.js';
import type { TunnelStream } from '../src/index.js';
import { barrier, closePair, createSessionPair, nextStream, patternBytes, readAll, readyPair, until } from './helpers.js';
import type { Pair } from './helpers.js';

let pair: Pair | undefined;
afterEach(() => {
  if (pair) closePair(pair);
  pair = undefined;
  vi.useRealTimers();
});

function errorOf(stream: TunnelStream): Promise<Error> {
  return new Promise((resolve) => stream.once('error', resolve));
}

describe('handshake', () => {
  it('exchanges versions, software, capabilities and the cluster UID', async () => {
    pair = await readyPair(
      { software: 'hawser-agent/1.2.3', capabilities: ['exec'], metadata: { clusterUid: 'c-123' } },
      { software: 'hawser-server/2.0.0', capabilities: ['drain'] },
    );
    expect(pair.server.peer).toMatchObject({ version: 1, software: 'hawser-agent/1.2.3', capabilities: ['exec'], metadata: { clusterUid: 'c-123' } });
    expect(pair.client.peer).toMatchObject({ version: 1, software: 'hawser-server/2.0.0', capabilities: ['drain'] });
  });

  it('refuses incompatible versions on both sides with a message naming both ranges', async () => {
    pair = createSessionPair({ minVersion: 2, maxVersion: 3 }, {});
    const [c, s] = await Promise.all([pair.client.closed, pair.server.closed]);
    for (const err of [c, s]) {
      expect(err?.code).toBe(HtnErrorCode.VERSION_MISMATCH);
      expect(err?.message).toMatch(/2\.\.3/);
      expect(err?.message).toMatch(/1\.\.1/);
    }
    await expect(pair.client.ready).rejects.toMatchObject({ code: HtnErrorCode.VERSION_MISMATCH });
  });

  it('closes with a handshake timeout when the peer never says HELLO', async () => {
    vi.useFakeTimers();
    const [a, b] = createMemoryTransportPair();
    b.start({ onMessage: () => {}, onClose: () => {} });
    const session = new Session(a, { role: 'client', software: 'x', timings: { handshakeTimeoutMs: 1000 } });
    await vi.advanceTimersByTimeAsync(1001);
    expect((await session.closed)?.code).toBe(HtnErrorCode.HANDSHAKE_TIMEOUT);
  });

  it('validates options once at construction, naming the bad field', () => {
    const [a] = createMemoryTransportPair();
    expect(() => new Session(a, { role: 'client', software: 'x', limits: { maxFrameSize: 10 } })).toThrow(/limits\.maxFrameSize/);
    expect(() => new Session(a, { role: 'client', software: 'x', timings: { heartbeatTimeoutMs: 1 } })).toThrow(/timings\.heartbeatTimeoutMs/);
    expect(() => new Session(a, { role: 'peer' as 'client', software: 'x' })).toThrow(HtnError);
  });
});

describe('streams', () => {
  it('carries the open payload and echoes bytes in order', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const stream = pair.client.openStream('GET /api label=1');
    const remote = await incoming;
    expect(remote.openPayload.toString()).toBe('GET /api label=1');
    expect(remote.id % 2).toBe(1);
    remote.pipe(remote);
    const data = patternBytes(3_000_000, 7);
    stream.end(data);
    expect((await readAll(stream)).equals(data)).toBe(true);
  });

  it('keeps each stream in order while many streams interleave', async () => {
    pair = await readyPair();
    pair.server.on('stream', (s: TunnelStream) => s.pipe(s));
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const s = pair!.client.openStream();
      const parts = Array.from({ length: 50 }, (_, j) => patternBytes(1000 + j * 37, i * 100 + j + 1));
      void (async () => {
        for (const p of parts) if (!s.write(p)) await new Promise((r) => s.once('drain', r));
        s.end();
      })();
      return (await readAll(s)).equals(Buffer.concat(parts));
    }));
    expect(results.every(Boolean)).toBe(true);
  });

  it('lets the server open streams too, with even ids', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.client);
    const s = pair.server.openStream();
    expect(s.id % 2).toBe(0);
    const remote = await incoming;
    remote.end('from agent');
    s.end();
    expect((await readAll(s)).toString()).toBe('from agent');
  });

  it('half-closes: the peer sees end and can still answer', async () => {
    pair = await readyPair();
    pair.server.on('stream', async (s: TunnelStream) => {
      const body = await readAll(s);
      s.end(`got ${body.length}`);
    });
    const s = pair.client.openStream();
    s.end(Buffer.alloc(12345));
    expect((await readAll(s)).toString()).toBe('got 12345');
    await until(() => pair!.client.streamCount === 0 && pair!.server.streamCount === 0, 'both ends have forgotten the stream');
  });

  it('delivers every byte in order over a link with latency', async () => {
    pair = await readyPair({}, {}, { latencyMs: 5 });
    pair.server.on('stream', (s: TunnelStream) => s.pipe(s));
    const s = pair.client.openStream();
    const data = patternBytes(1_000_000, 11);
    s.end(data);
    expect((await readAll(s)).equals(data)).toBe(true);
  });

  it('opens and ends a stream without any data', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const s = pair.client.openStream('empty');
    s.end();
    const remote = await incoming;
    expect((await readAll(remote)).length).toBe(0);
    remote.end();
    expect((await readAll(s)).length).toBe(0);
  });

  it('emits timeout after the idle time set with setTimeout, like a socket', async () => {
    pair = await readyPair();
    pair.server.on('stream', () => {});
    const s = pair.client.openStream();
    const started = Date.now();
    await new Promise<void>((resolve) => s.setTimeout(30, resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(s.setNoDelay(true).setKeepAlive(true).ref().unref()).toBe(s);
  });

  it('never reuses stream ids within a session', async () => {
    pair = await readyPair();
    pair.server.on('stream', (s: TunnelStream) => s.end());
    const ids = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const s = pair.client.openStream();
      ids.add(s.id);
      s.end();
      await readAll(s);
    }
    expect(ids.size).toBe(50);
  });
});

describe('cancellation', () => {
  it('resets the peer stream when the opener destroys its stream', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const s = pair.client.openStream();
    s.write('x');
    const remote = await incoming;
    const failed = errorOf(remote);
    s.destroy();
    const err = await failed;
    expect(err).toMatchObject({ code: HtnErrorCode.STREAM_RESET, wireCode: WireCode.CANCEL, remote: true });
  });

  it('lets the accepting side reset with an application code and reason', async () => {
    pair = await readyPair();
    pair.server.on('stream', (s: TunnelStream) => s.reset(0x1001, 'upstream refused the connection'));
    const s = pair.client.openStream();
    const err = await errorOf(s);
    expect(err).toMatchObject({ code: HtnErrorCode.STREAM_RESET, wireCode: 0x1001 });
    expect(err.message).toMatch(/upstream refused the connection/);
  });

  it('survives destroy(err) on a stream nobody listens to, and tells the peer why', async () => {
    pair = await readyPair();
    pair.server.on('stream', (s: TunnelStream) => s.destroy(new Error('agents may not open streams')));
    const s = pair.client.openStream();
    const err = await errorOf(s);
    expect(err).toMatchObject({ code: HtnErrorCode.INTERNAL, remote: true });
    expect(err.message).toMatch(/agents may not open streams/);
  });

  it('keeps the cause of a stream ended without an error listener in closeError', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const s = pair.client.openStream();
    s.write('x');
    const remote = await incoming;
    const closed = new Promise((r) => remote.once('close', r));
    s.reset(0x1002, 'client went away');
    await closed;
    expect(remote.closeError).toMatchObject({ code: HtnErrorCode.STREAM_RESET, wireCode: 0x1002 });
    expect(remote.errored).toBe(remote.closeError);
  });

  it('destroys open streams with the session error when the session dies', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const s = pair.client.openStream();
    s.write('x');
    const remote = await incoming;
    const [e1, e2] = [errorOf(s), errorOf(remote)];
    pair.server.destroy(new HtnError(HtnErrorCode.INTERNAL, 'boom'));
    expect((await e1 as HtnError).code).toBe(HtnErrorCode.INTERNAL);
    expect((await e2 as HtnError).code).toBe(HtnErrorCode.INTERNAL);
    expect((await pair.client.closed)?.remote).toBe(true);
  });
});

describe('limits', () => {
  it('refuses opens beyond the peer concurrent stream limit at once, with a clear code', async () => {
    pair = await readyPair({}, { limits: { maxConcurrentStreams: 2 } });
    pair.server.on('stream', () => {});
    pair.client.openStream();
    pair.client.openStream();
    expect(() => pair!.client.openStream()).toThrow(expect.objectContaining({ code: HtnErrorCode.STREAM_LIMIT }));
  });

  it('refuses a stream nobody accepts with HTN_ERR_STREAM_REFUSED instead of hanging', async () => {
    pair = await readyPair();
    const s = pair.client.openStream();
    expect(await errorOf(s)).toMatchObject({ code: HtnErrorCode.STREAM_REFUSED });
  });

  it('refuses an open payload above the header limit', async () => {
    pair = await readyPair({}, { limits: { maxHeaderSize: 1024 } });
    expect(() => pair!.client.openStream(Buffer.alloc(2000))).toThrow(expect.objectContaining({ code: HtnErrorCode.HEADER_TOO_LARGE }));
  });

  it('closes the session with HTN_ERR_FRAME_TOO_LARGE on an oversized frame, and tells the peer', async () => {
    pair = await readyPair({}, { limits: { maxFrameSize: 4096 } });
    const bad = encodeFrame({ type: FrameType.DATA, streamId: 1, fin: false, payload: Buffer.alloc(5000) });
    pair.serverTransport.inject(bad);
    expect((await pair.server.closed)?.code).toBe(HtnErrorCode.FRAME_TOO_LARGE);
    const remote = await pair.client.closed;
    expect(remote).toMatchObject({ code: HtnErrorCode.FRAME_TOO_LARGE, remote: true });
  });

  it('closes the session with HTN_ERR_FRAME_MALFORMED on garbage', async () => {
    pair = await readyPair();
    pair.serverTransport.inject(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect((await pair.server.closed)?.code).toMatch(/HTN_ERR_FRAME_(MALFORMED|TOO_LARGE)/);
  });

  it('closes the session with HTN_ERR_PROTOCOL on data for a stream that was never opened', async () => {
    pair = await readyPair();
    pair.serverTransport.inject(encodeFrame({ type: FrameType.DATA, streamId: 99, fin: false, payload: Buffer.from('x') }));
    expect((await pair.server.closed)?.code).toBe(HtnErrorCode.PROTOCOL);
  });

  it('closes the session with HTN_ERR_FLOW_CONTROL when the peer sends beyond its credit', async () => {
    pair = await readyPair({}, { limits: { initialWindow: 1024, streamWindow: 1024 } });
    pair.server.on('stream', () => {});
    pair.serverTransport.inject(encodeFrame({ type: FrameType.OPEN, streamId: 101, payload: Buffer.alloc(0) }));
    pair.serverTransport.inject(encodeFrame({ type: FrameType.DATA, streamId: 101, fin: false, payload: Buffer.alloc(2048) }));
    expect((await pair.server.closed)?.code).toBe(HtnErrorCode.FLOW_CONTROL);
  });
});

describe('flow control', () => {
  it('holds a stalled stream to its window while another stream runs at full speed, then delivers every byte', async () => {
    pair = await readyPair();
    const total = 8 * 1024 * 1024;
    const streams: TunnelStream[] = [];
    pair.server.on('stream', (s: TunnelStream) => {
      streams.push(s);
      if (s.openPayload.toString() === 'busy') s.pipe(s);
    });
    const stalled = pair.client.openStream('stalled');
    const data = patternBytes(total, 3);
    stalled.end(data);
    // The stalled reader has not read: the server buffers its window, then
    // nothing more (the probe stream crosses after anything sent before it).
    await until(() => pair!.server.bufferedBytes >= pair!.server.limits.initialWindow, 'the stalled window has filled');
    await barrier(pair);
    expect(pair.server.bufferedBytes).toBeLessThanOrEqual(pair.server.limits.initialWindow + pair.server.limits.transportHighWater);
    expect(pair.server.committedBytes).toBeLessThanOrEqual(pair.server.limits.maxBufferedBytes);

    const busy = pair.client.openStream('busy');
    const busyData = patternBytes(2 * 1024 * 1024, 5);
    busy.end(busyData);
    expect((await readAll(busy)).equals(busyData)).toBe(true);
    expect(pair.server.bufferedBytes).toBeLessThanOrEqual(pair.server.limits.streamWindow + pair.server.limits.transportHighWater);

    const stalledRemote = streams.find((s) => s.openPayload.toString() === 'stalled');
    expect((await readAll(stalledRemote!)).equals(data)).toBe(true);
  });

  it('grows a bulk stream\'s window towards streamWindow when the reader keeps up', async () => {
    // A 1 ms round trip (this transport acknowledges sends on delivery, so
    // the sender's transportHighWater must not be what limits it).
    pair = await readyPair({ limits: { transportHighWater: 4 * 1024 * 1024 } }, {}, { latencyMs: 1 });
    const incoming = nextStream(pair.server);
    const sender = pair.client.openStream();
    const chunk = Buffer.alloc(64 * 1024, 7);
    let left = 64;
    const produce = (): void => {
      while (left > 0) {
        left--;
        if (left === 0) sender.end(chunk);
        else if (!sender.write(chunk)) return void sender.once('drain', produce);
      }
    };
    produce();
    const receiver = await incoming;
    let peakCredit = 0;
    receiver.on('data', () => (peakCredit = Math.max(peakCredit, receiver.recvCredit)));
    await new Promise((resolve) => receiver.once('end', resolve));
    expect(receiver.bytesRead).toBe(64 * 64 * 1024);
    expect(peakCredit).toBeGreaterThan(128 * 1024);
    expect(peakCredit).toBeLessThanOrEqual(pair.server.limits.streamWindow);
  });

  it('never commits more than maxBufferedBytes across streams and refuses opens beyond it', async () => {
    pair = await readyPair({}, { limits: { initialWindow: 64 * 1024, streamWindow: 64 * 1024, maxBufferedBytes: 256 * 1024 } });
    pair.server.on('stream', () => {});
    const opened = Array.from({ length: 4 }, () => pair!.client.openStream());
    for (const s of opened) s.write(Buffer.alloc(100_000));
    // Each stream fills its 64 KiB window; nothing beyond is committed.
    await until(() => pair!.server.bufferedBytes === 4 * 64 * 1024, 'four windows have filled');
    expect(pair.server.committedBytes).toBeLessThanOrEqual(256 * 1024);
    const fifth = pair.client.openStream();
    expect(await errorOf(fifth)).toMatchObject({ code: HtnErrorCode.STREAM_REFUSED });
  });
});

describe('heartbeat', () => {
  it('detects a frozen peer within 15 s by default', async () => {
    vi.useFakeTimers();
    pair = createSessionPair();
    await vi.advanceTimersByTimeAsync(10);
    await pair.server.ready;
    pair.clientTransport.freeze();
    await vi.advanceTimersByTimeAsync(12_000);
    expect(pair.server.isClosed).toBe(false);
    await vi.advanceTimersByTimeAsync(3_100);
    expect(pair.server.isClosed).toBe(true);
    expect((await pair.server.closed)?.code).toBe(HtnErrorCode.HEARTBEAT_TIMEOUT);
  });

  it('detects a silent network on both sides within the configured timeout', async () => {
    vi.useFakeTimers();
    pair = createSessionPair({ timings: { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2000 } }, { timings: { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2000 } });
    await vi.advanceTimersByTimeAsync(10);
    pair.clientTransport.silence();
    await vi.advanceTimersByTimeAsync(2100);
    expect((await pair.server.closed)?.code).toBe(HtnErrorCode.HEARTBEAT_TIMEOUT);
    expect((await pair.client.closed)?.code).toBe(HtnErrorCode.HEARTBEAT_TIMEOUT);
  });

  it('keeps an idle but healthy session open, sending pings that are real traffic', async () => {
    vi.useFakeTimers();
    pair = createSessionPair();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(pair.client.isClosed || pair.server.isClosed).toBe(false);
    expect(pair.clientTransport.pings).toBeGreaterThanOrEqual(10);
    expect(pair.clientTransport.sentMessages).toBeGreaterThanOrEqual(12);
  });
});

describe('drain', () => {
  it('goAway stops new streams, tells the peer when to come back, and lets open streams finish', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const s = pair.client.openStream();
    s.write('a');
    const remote = await incoming;
    const goaway = new Promise((r) => pair!.client.once('goaway', r));
    const drained = pair.server.goAway({ retryAfterMs: 2000, message: 'replica shutting down' });
    expect(await goaway).toMatchObject({ retryAfterMs: 2000, message: 'replica shutting down', code: 0 });
    expect(() => pair!.client.openStream()).toThrow(expect.objectContaining({ code: HtnErrorCode.GOING_AWAY, retryAfterMs: 2000 }));
    expect(() => pair!.server.openStream()).toThrow(expect.objectContaining({ code: HtnErrorCode.GOING_AWAY }));
    s.end('b');
    expect((await readAll(remote)).toString()).toBe('ab');
    remote.end('done');
    expect((await readAll(s)).toString()).toBe('done');
    await drained;
    expect(await pair.server.closed).toBeUndefined();
    expect(await pair.client.closed).toBeUndefined();
  });

  it('move asks a client that announced it for a new session while this one keeps serving; to any other it is not sent', async () => {
    pair = await readyPair({ capabilities: [MOVE_CAPABILITY] });
    const moved = new Promise((r) => pair!.client.once('move', r));
    expect(pair.server.move({ retryAfterMs: 250, message: 'replica draining' })).toBe(true);
    expect(await moved).toEqual({ retryAfterMs: 250, message: 'replica draining' });
    // Nothing is draining: the server still opens streams on it.
    expect(pair.server.draining).toBe(false);
    const incoming = nextStream(pair.client);
    pair.server.openStream().end('still here');
    expect((await readAll(await incoming)).toString()).toBe('still here');
    expect(() => pair!.client.move()).toThrow(expect.objectContaining({ code: HtnErrorCode.INVALID_OPTION }));
    await closePair(pair);

    pair = await readyPair();
    let heard = false;
    pair.client.once('move', () => (heard = true));
    expect(pair.server.move()).toBe(false);
    await pair.server.goAway();
    expect(heard).toBe(false);
  });

  it('fails a server that gets a MOVE (only a server asks), with a protocol error, even from a client that announced move', async () => {
    pair = await readyPair({ capabilities: [MOVE_CAPABILITY] }, { capabilities: [MOVE_CAPABILITY] });
    pair.clientTransport.send(encodeFrame({ type: FrameType.MOVE, streamId: 0, retryAfterMs: 0, message: 'x' }), () => undefined);
    expect(await pair.server.closed).toMatchObject({ code: HtnErrorCode.PROTOCOL });
  });

  it('fails a client that gets a MOVE it never announced, with a protocol error', async () => {
    pair = await readyPair();
    pair.serverTransport.send(encodeFrame({ type: FrameType.MOVE, streamId: 0, retryAfterMs: undefined, message: 'x' }), () => undefined);
    expect(await pair.client.closed).toMatchObject({ code: HtnErrorCode.PROTOCOL });
  });

  it('resets streams still open at the drain deadline with HTN_ERR_DRAIN_TIMEOUT', async () => {
    pair = await readyPair();
    const incoming = nextStream(pair.server);
    const s = pair.client.openStream();
    s.write('a');
    const remote = await incoming;
    const [e1, e2] = [errorOf(s), errorOf(remote)];
    await pair.server.goAway({ timeoutMs: 30 });
    expect(await e1).toMatchObject({ code: HtnErrorCode.DRAIN_TIMEOUT, remote: true });
    expect(await e2).toMatchObject({ code: HtnErrorCode.DRAIN_TIMEOUT });
    expect(await pair.server.closed).toBeUndefined();
  });

  it('reports an application close code such as 4403 as HTN_ERR_TRANSPORT naming the code', async () => {
    pair = await readyPair();
    pair.serverTransport.close(4403, 'deregistered');
    const err = await pair.client.closed;
    expect(err?.code).toBe(HtnErrorCode.TRANSPORT);
    expect(err?.message).toMatch(/4403, deregistered/);
  });

  it('close() with no streams closes both sides cleanly', async () => {
    pair = await readyPair();
    await pair.client.close();
    expect(await pair.server.closed).toBeUndefined();
  });
});
