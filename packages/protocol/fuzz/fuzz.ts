/**
 * Fuzz the frame decoder and the session with random and mutated input.
 *
 *   npm run fuzz                       # 1,000,000 inputs to each target
 *   npm run fuzz -- --iterations 200000 --seed 7
 *
 * Mutations start from valid frames: bit flips, byte overwrites, truncation,
 * length-field lies, duplicated and spliced frames. A "crash" is any throw
 * that is not an HtnError from the decoder, any throw at all out of a
 * session, an uncaught exception, or a broken memory invariant. Exits 1 on
 * the first crash, printing the input in hex.
 */
import { performance } from 'node:perf_hooks';
import { decodeFrames, encodeFrame, FrameType, HtnError, Session } from '../src/index.js';
import type { Frame, Transport, TransportHandlers, TunnelStream } from '../src/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const iterations = arg('iterations', 1_000_000);
const seed = arg('seed', Date.now() % 1_000_000);

// xorshift32: fast and reproducible from the printed seed.
let state = seed >>> 0 || 1;
function rnd(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 0x1_0000_0000;
}
const int = (n: number): number => Math.floor(rnd() * n);
// A seeded pool of random bytes; inputs are views into it (generation stays cheap).
const pool = Buffer.allocUnsafe(1 << 20);
for (let i = 0; i < pool.length; i++) pool[i] = int(256);
function bytes(n: number): Buffer {
  const at = int(pool.length - n);
  return pool.subarray(at, at + n);
}

function crash(what: string, input: Uint8Array, err: unknown): never {
  console.error(`CRASH in ${what} (seed ${seed}): ${err instanceof Error ? err.stack : String(err)}`);
  console.error(`input (${input.length} bytes): ${Buffer.from(input).toString('hex').slice(0, 2000)}`);
  process.exit(1);
}

process.on('uncaughtException', (err) => crash('process (uncaught exception)', new Uint8Array(0), err));
process.on('unhandledRejection', (err) => crash('process (unhandled rejection)', new Uint8Array(0), err));

function randomFrame(): Frame {
  const streamId = rnd() < 0.7 ? 1 + 2 * int(8) : int(0x8000_0000);
  switch (int(8)) {
    case 0: return { type: FrameType.OPEN, streamId, payload: bytes(int(40)) };
    case 1: return { type: FrameType.DATA, streamId, fin: rnd() < 0.3, payload: bytes(int(rnd() < 0.1 ? 70_000 : 200)) };
    case 2: return { type: FrameType.WINDOW_UPDATE, streamId, increment: 1 + int(0x7fff_fffe) };
    case 3: return { type: FrameType.RESET, streamId, code: int(20), message: 'x'.repeat(int(20)) };
    case 4: return { type: FrameType.PING, streamId: 0, ack: rnd() < 0.5, payload: bytes(8) };
    case 5: return { type: FrameType.GOAWAY, streamId: 0, lastStreamId: int(100), code: int(3), retryAfterMs: rnd() < 0.5 ? undefined : int(10_000), message: 'bye' };
    case 6: return { type: FrameType.MOVE, streamId: 0, retryAfterMs: rnd() < 0.5 ? undefined : int(10_000), message: 'move' };
    default: return { type: FrameType.HELLO, streamId: 0, minVersion: 1, maxVersion: 1, body: Buffer.from('{}') };
  }
}

function mutate(input: Buffer): Buffer {
  const b = Buffer.from(input);
  switch (int(6)) {
    case 0: { // bit flips
      const flips = 1 + int(4);
      for (let i = 0; i < flips && b.length > 0; i++) {
        const at = int(b.length);
        b[at] = (b[at] as number) ^ (1 << int(8));
      }
      return b;
    }
    case 1: // truncation
      return b.subarray(0, int(b.length + 1));
    case 2: { // length lie
      if (b.length >= 3) b.writeUIntBE(rnd() < 0.5 ? int(0x1_000_000) : Math.max(0, b.length - 9 + int(5) - 2), 0, 3);
      return b;
    }
    case 3: // byte overwrite in the header
      if (b.length > 0) b[int(Math.min(9, b.length))] = int(256);
      return b;
    case 4: // splice with another frame
      return Buffer.concat([b, encodeFrame(randomFrame()).subarray(0, int(30))]);
    default: // pristine
      return b;
  }
}

/** Frames a well-behaved peer might send to a server session, so cases reach deep states. */
let nextPeerId = 1;
function plausibleFrame(): Frame {
  if (nextPeerId === 1 || rnd() < 0.1) {
    const id = nextPeerId;
    nextPeerId += 2;
    return { type: FrameType.OPEN, streamId: id, payload: bytes(int(30)) };
  }
  const open = 1 + 2 * int((nextPeerId - 1) / 2);
  switch (int(6)) {
    case 0: {
      const id = nextPeerId;
      nextPeerId += 2;
      return { type: FrameType.OPEN, streamId: id, payload: bytes(int(30)) };
    }
    case 1:
    case 2: return { type: FrameType.DATA, streamId: open, fin: rnd() < 0.1, payload: bytes(int(rnd() < 0.05 ? 40_000 : 300)) };
    case 3: return { type: FrameType.WINDOW_UPDATE, streamId: open, increment: 1 + int(100_000) };
    case 4: return { type: FrameType.RESET, streamId: open, code: int(14), message: 'fuzz' };
    default: return { type: FrameType.PING, streamId: 0, ack: rnd() < 0.5, payload: bytes(8) };
  }
}

function sessionInput(): Buffer {
  const r = rnd();
  if (r < 0.93) return encodeFrame(plausibleFrame());
  if (r < 0.97) return mutate(encodeFrame(plausibleFrame()));
  return nextInput();
}

function nextInput(): Buffer {
  const r = rnd();
  if (r < 0.25) return bytes(int(64)); // pure noise
  const frames = 1 + (rnd() < 0.2 ? int(4) : 0);
  const message = Buffer.concat(Array.from({ length: frames }, () => encodeFrame(randomFrame())));
  return r < 0.85 ? mutate(message) : message;
}

// --- decoder -----------------------------------------------------------------

let decoded = 0;
let rejected = 0;
const t0 = performance.now();
for (let i = 0; i < iterations; i++) {
  const input = nextInput();
  try {
    decoded += decodeFrames(input, 64 * 1024).length;
  } catch (err) {
    if (!(err instanceof HtnError)) crash('decodeFrames', input, err);
    rejected++;
  }
}
const decoderMs = performance.now() - t0;
console.log(`decoder: ${iterations.toLocaleString('en')} inputs in ${(decoderMs / 1000).toFixed(1)} s ` +
  `(${decoded.toLocaleString('en')} frames decoded, ${rejected.toLocaleString('en')} inputs rejected cleanly)`);

// --- session -----------------------------------------------------------------

/** Synchronous transport: the fuzzer is the peer. */
class FuzzTransport implements Transport {
  handlers: TransportHandlers | undefined;
  closed = false;
  bufferedAmount = 0;
  start(h: TransportHandlers): void {
    this.handlers = h;
  }
  send(_data: Uint8Array, cb: (err?: Error) => void): void {
    cb();
  }
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose(code, reason);
  }
  terminate(): void {
    this.close(1006, 'terminated');
  }
}

const hello = encodeFrame({
  type: FrameType.HELLO, streamId: 0, minVersion: 1, maxVersion: 1,
  body: Buffer.from(JSON.stringify({ software: 'fuzz', capabilities: [], metadata: {}, settings: { maxFrameSize: 65536, maxHeaderSize: 16384, maxConcurrentStreams: 8, initialWindow: 65536 } })),
});

function onStream(this: Session, stream: TunnelStream): void {
  // Exercise the stream paths without an 'error' listener: the session must
  // never let a stream error escape as an unhandled 'error' event.
  if (rnd() < 0.5) stream.resume();
  if (rnd() < 0.3) stream.write('reply');
  if (rnd() < 0.2) stream.end();
  if (rnd() < 0.1) stream.destroy();
}

const limits = { maxConcurrentStreams: 8, maxBufferedBytes: 1024 * 1024, initialWindow: 64 * 1024, streamWindow: 128 * 1024 };
let fed = 0;
let sessions = 0;
let closedWithError = 0;
let streamsOpened = 0;
const t1 = performance.now();
while (fed < iterations) {
  const transport = new FuzzTransport();
  const session = new Session(transport, { role: 'server', software: 'fuzz-target', limits });
  session.on('stream', onStream);
  session.on('stream', () => streamsOpened++);
  sessions++;
  if (rnd() < 0.97) transport.handlers?.onMessage(hello);
  nextPeerId = 1;
  const messages = 1 + int(60);
  for (let m = 0; m < messages && !session.isClosed; m++) {
    const input = sessionInput();
    fed++;
    try {
      transport.handlers?.onMessage(input);
    } catch (err) {
      crash('session', input, err);
    }
    if (session.committedBytes < 0 || session.committedBytes > limits.maxBufferedBytes) {
      crash('session budget invariant', input, new Error(`committed ${session.committedBytes}`));
    }
  }
  // Let the deferred scheduler pump and stream callbacks run before the case
  // ends, so the send path is fuzzed too, not only the receive path.
  await new Promise((resolve) => setImmediate(resolve));
  if (session.isClosed) closedWithError++;
  session.destroy();
}
const sessionMs = performance.now() - t1;
console.log(`session: ${fed.toLocaleString('en')} inputs to ${sessions.toLocaleString('en')} sessions in ${(sessionMs / 1000).toFixed(1)} s ` +
  `(${streamsOpened.toLocaleString('en')} streams accepted, ${closedWithError.toLocaleString('en')} sessions closed by a coded error, the rest destroyed after the case)`);
console.log(`total: ${(iterations + fed).toLocaleString('en')} inputs, ${((decoderMs + sessionMs) / 1000).toFixed(1)} s, seed ${seed}, no crash`);
