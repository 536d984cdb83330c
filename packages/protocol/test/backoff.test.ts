import { describe, expect, it } from 'vitest';
import { Backoff, HtnError, HtnErrorCode, MOVE_CAPABILITY, Reconnector } from '../src/index.js';
import type { BackoffOptions, Session, TunnelStream } from '../src/index.js';
import { createSessionPair } from './helpers.js';

describe('Backoff', () => {
  it('grows exponentially with full jitter up to the cap', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([99, 199, 399, 799, 999, 999]);
    const zero = new Backoff({ random: () => 0 });
    expect(zero.next()).toBe(0);
  });

  it('spreads delays over the whole range rather than around a mean', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const delays = Array.from({ length: 2000 }, () => {
      const b = new Backoff({ baseMs: 1000, maxMs: 1000, random });
      return b.next();
    });
    expect(Math.min(...delays)).toBeLessThan(50);
    expect(Math.max(...delays)).toBeGreaterThan(950);
  });

  it('starts over after a session that stayed healthy for healthyAfterMs', () => {
    let now = 0;
    const b = new Backoff({ baseMs: 100, maxMs: 10_000, healthyAfterMs: 60_000, random: () => 0.5, now: () => now });
    b.next();
    b.next();
    b.next();
    expect(b.attempt).toBe(3);
    b.connected();
    now += 10_000;
    b.disconnected();
    expect(b.attempt).toBe(3);
    b.connected();
    now += 60_000;
    b.disconnected();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(50);
  });

  it('honours a server hint of when to come back, still jittered on top', () => {
    const b = new Backoff({ baseMs: 100, random: () => 0.5 });
    expect(b.next(5000)).toBe(5050);
  });

  it('rejects bad options naming the field', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(/baseMs/);
    expect(() => new Backoff({ baseMs: 100, maxMs: 10 })).toThrow(/maxMs/);
  });
});

describe('Reconnector', () => {
  /** A Reconnector over in-memory session pairs: the server ends, the client sessions in order, and a promise for the second. */
  function reconnecting(delays: number[] = [], opts: { capabilities?: string[]; sleep?: () => Promise<void>; backoff?: BackoffOptions } = {}): { reconnector: Reconnector; servers: Session[]; sessions: Session[]; second: Promise<void> } {
    const servers: Session[] = [];
    const reconnector = new Reconnector({
      connect: async () => {
        const pair = createSessionPair({ capabilities: opts.capabilities ?? [] });
        servers.push(pair.server);
        return pair.client;
      },
      backoff: opts.backoff ?? { baseMs: 100, random: () => 0 },
      sleep: async (ms) => {
        delays.push(ms);
        await opts.sleep?.();
      },
    });
    const sessions: Session[] = [];
    const second = new Promise<void>((resolve) => {
      reconnector.on('session', (s: Session) => {
        sessions.push(s);
        if (sessions.length === 2) resolve();
      });
    });
    return { reconnector, servers, sessions, second };
  }

  it('reconnects after a session ends, honouring the GOAWAY retry hint', async () => {
    const delays: number[] = [];
    const { reconnector, servers, second } = reconnecting(delays);
    reconnector.start();
    await new Promise((r) => reconnector.once('session', r));
    await servers[0]!.goAway({ retryAfterMs: 1234 });
    await second;
    expect(delays).toEqual([1234]);
    await reconnector.close();
    servers.forEach((s) => s.destroy());
  });

  it('hands over on GOAWAY: the next session is up while the old one still finishes its open stream', async () => {
    const { reconnector, servers, sessions, second } = reconnecting();
    reconnector.start();
    await new Promise((r) => reconnector.once('session', r));
    // A request in flight on the first session when its server goes away.
    const taken = new Promise<TunnelStream>((resolve) => sessions[0]!.once('stream', resolve));
    const request = servers[0]!.openStream(new Uint8Array([1]));
    const agentSide = await taken;
    const drained = servers[0]!.goAway({ retryAfterMs: 0, timeoutMs: 30_000 });
    await second;
    expect(sessions[0]!.isClosed).toBe(false);
    expect(reconnector.drainingCount).toBe(1);
    // The old session still carries its stream to the end, then closes.
    const body: Buffer[] = [];
    request.on('data', (d: Buffer) => body.push(d));
    const ended = new Promise((r) => request.once('end', r));
    agentSide.end('answered after the handover');
    request.end();
    await ended;
    expect(Buffer.concat(body).toString()).toBe('answered after the handover');
    await drained;
    await sessions[0]!.closed;
    expect(reconnector.drainingCount).toBe(0);
    expect(reconnector.session).toBe(sessions[1]);
    await reconnector.close();
    servers.forEach((s) => s.destroy());
  });

  it('moves make-before-break on MOVE: the old session takes new streams until the next one is up, then this side retires it', async () => {
    let dial!: () => void;
    const dialed = new Promise<void>((resolve) => (dial = resolve));
    const delays: number[] = [];
    // A backoff that would wait 10 s: a move waits the server's hint and a little jitter, never that.
    const backoff = { baseMs: 10_000, maxMs: 10_000, random: () => 0.999 };
    const { reconnector, servers, sessions, second } = reconnecting(delays, { capabilities: [MOVE_CAPABILITY], sleep: () => dialed, backoff });
    reconnector.start();
    await new Promise((r) => reconnector.once('session', r));
    expect(servers[0]!.move({ retryAfterMs: 40 })).toBe(true);
    await expect.poll(() => delays.length).toBe(1);
    expect(delays[0]).toBeGreaterThanOrEqual(40);
    expect(delays[0]).toBeLessThan(140);
    // Before the next session: the moving one still takes a new stream.
    const taken = new Promise<TunnelStream>((resolve) => sessions[0]!.once('stream', resolve));
    const request = servers[0]!.openStream(new Uint8Array([1]));
    (await taken).end('served while moving');
    request.end();
    const retired = new Promise((r) => servers[0]!.once('goaway', r));
    dial();
    await second;
    expect(await retired).toMatchObject({ message: 'moved to a new session' });
    await sessions[0]!.closed;
    expect(reconnector.session).toBe(sessions[1]);
    await reconnector.close();
    servers.forEach((s) => s.destroy());
  });

  it('backs off on failed connects and stops when shouldRetry says so', async () => {
    const delays: number[] = [];
    let attempts = 0;
    const reconnector = new Reconnector({
      connect: async () => {
        attempts++;
        throw new HtnError(attempts < 3 ? HtnErrorCode.TRANSPORT : HtnErrorCode.VERSION_MISMATCH, 'nope');
      },
      backoff: { baseMs: 100, maxMs: 1000, random: () => 0.5 },
      shouldRetry: (err) => (err as HtnError).code !== HtnErrorCode.VERSION_MISMATCH,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    const stopped = new Promise((r) => reconnector.once('stopped', r));
    reconnector.start();
    expect(await stopped).toMatchObject({ code: HtnErrorCode.VERSION_MISMATCH });
    expect(delays).toEqual([50, 100]);
  });
});
