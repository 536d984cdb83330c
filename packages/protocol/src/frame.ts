import { HtnError, HtnErrorCode } from './errors.js';
import { FRAME_SIZE_CEILING, WINDOW_CEILING } from './options.js';

/**
 * Wire frames. Every frame is a 9-byte header followed by `length` payload
 * bytes (docs/protocol.md, "Frame layout"):
 *
 *   0       3    4     5               9
 *   | len24 |type|flags| stream id u32 | payload ...
 *
 * All integers are big-endian. A transport message carries one or more whole
 * frames; a frame never spans two messages.
 */
export const FrameType = {
  HELLO: 0x0,
  OPEN: 0x1,
  DATA: 0x2,
  WINDOW_UPDATE: 0x3,
  RESET: 0x4,
  PING: 0x5,
  GOAWAY: 0x6,
  /**
   * Server to client, only to a peer whose HELLO announced
   * {@link MOVE_CAPABILITY}: open a new session (elsewhere), this one keeps
   * serving until you do. Make-before-break for a draining server.
   */
  MOVE: 0x7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FrameFlag = {
  /** DATA: the sender will send no more data on this stream (half-close). */
  FIN: 0x1,
  /** PING: this is the answer to a PING (a pong). */
  ACK: 0x1,
} as const;

export const FRAME_HEADER_SIZE = 9;
/** RESET and GOAWAY reason texts are capped so they stay loggable. */
export const MAX_REASON_BYTES = 256;
export const PING_PAYLOAD_SIZE = 8;
/** GOAWAY retryAfterMs value meaning "no hint". */
export const NO_RETRY_HINT = 0xffff_ffff;
/** The HELLO capability of a client that handles MOVE (a peer without it gets none). */
export const MOVE_CAPABILITY = 'move';

export interface HelloFrame { type: typeof FrameType.HELLO; streamId: 0; minVersion: number; maxVersion: number; body: Uint8Array }
export interface OpenFrame { type: typeof FrameType.OPEN; streamId: number; payload: Uint8Array }
export interface DataFrame { type: typeof FrameType.DATA; streamId: number; fin: boolean; payload: Uint8Array }
export interface WindowUpdateFrame { type: typeof FrameType.WINDOW_UPDATE; streamId: number; increment: number }
export interface ResetFrame { type: typeof FrameType.RESET; streamId: number; code: number; message: string }
export interface PingFrame { type: typeof FrameType.PING; streamId: 0; ack: boolean; payload: Uint8Array }
export interface GoAwayFrame {
  type: typeof FrameType.GOAWAY; streamId: 0; lastStreamId: number; code: number;
  /** Come back after this many ms; undefined = no hint. */
  retryAfterMs: number | undefined; message: string;
}
export interface MoveFrame {
  type: typeof FrameType.MOVE; streamId: 0;
  /** Dial the new session after this many ms (spreads a fleet); undefined = at once. */
  retryAfterMs: number | undefined; message: string;
}
export type Frame = HelloFrame | OpenFrame | DataFrame | WindowUpdateFrame | ResetFrame | PingFrame | GoAwayFrame | MoveFrame;

const MAX_STREAM_ID = 0x7fff_ffff;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Encode a reason text, cut to {@link MAX_REASON_BYTES} on a character boundary. */
export function encodeReason(message: string): Uint8Array {
  let bytes = utf8Encoder.encode(message);
  if (bytes.length <= MAX_REASON_BYTES) return bytes;
  let cut = MAX_REASON_BYTES;
  // Back off over UTF-8 continuation bytes (10xxxxxx) so the cut stays valid.
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  bytes = bytes.subarray(0, cut);
  return bytes;
}

function header(buf: Buffer, length: number, type: number, flags: number, streamId: number): void {
  buf.writeUIntBE(length, 0, 3);
  buf[3] = type;
  buf[4] = flags;
  buf.writeUInt32BE(streamId, 5);
}

/**
 * Write a DATA frame into `buf` (at least FRAME_HEADER_SIZE + payload bytes)
 * and return the view holding it: the bulk path's encoder, which lets the
 * caller choose (and reuse) the memory.
 */
export function writeDataFrame(buf: Buffer, streamId: number, fin: boolean, payload: Uint8Array): Buffer {
  writeDataHeader(buf, streamId, fin, payload.length);
  buf.set(payload, FRAME_HEADER_SIZE);
  return buf.subarray(0, FRAME_HEADER_SIZE + payload.length);
}

/** Write only the header of a DATA frame whose payload the caller puts at FRAME_HEADER_SIZE. */
export function writeDataHeader(buf: Buffer, streamId: number, fin: boolean, payloadLength: number): void {
  header(buf, payloadLength, FrameType.DATA, fin ? FrameFlag.FIN : 0, streamId);
}

/** Serialize one frame. Throws on programmer errors (values out of range), never on peer input. */
export function encodeFrame(frame: Frame): Buffer {
  switch (frame.type) {
    case FrameType.HELLO: {
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4 + frame.body.length);
      header(buf, 4 + frame.body.length, frame.type, 0, 0);
      buf.writeUInt16BE(frame.minVersion, 9);
      buf.writeUInt16BE(frame.maxVersion, 11);
      buf.set(frame.body, 13);
      return buf;
    }
    case FrameType.OPEN:
    case FrameType.DATA: {
      const flags = frame.type === FrameType.DATA && frame.fin ? FrameFlag.FIN : 0;
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + frame.payload.length);
      header(buf, frame.payload.length, frame.type, flags, frame.streamId);
      buf.set(frame.payload, FRAME_HEADER_SIZE);
      return buf;
    }
    case FrameType.WINDOW_UPDATE: {
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
      header(buf, 4, frame.type, 0, frame.streamId);
      buf.writeUInt32BE(frame.increment, 9);
      return buf;
    }
    case FrameType.RESET: {
      const reason = encodeReason(frame.message);
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4 + reason.length);
      header(buf, 4 + reason.length, frame.type, 0, frame.streamId);
      buf.writeUInt32BE(frame.code, 9);
      buf.set(reason, 13);
      return buf;
    }
    case FrameType.PING: {
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + PING_PAYLOAD_SIZE);
      header(buf, PING_PAYLOAD_SIZE, frame.type, frame.ack ? FrameFlag.ACK : 0, 0);
      buf.set(frame.payload.subarray(0, PING_PAYLOAD_SIZE), 9);
      return buf;
    }
    case FrameType.GOAWAY: {
      const reason = encodeReason(frame.message);
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 12 + reason.length);
      header(buf, 12 + reason.length, frame.type, 0, 0);
      buf.writeUInt32BE(frame.lastStreamId, 9);
      buf.writeUInt32BE(frame.code, 13);
      buf.writeUInt32BE(frame.retryAfterMs ?? NO_RETRY_HINT, 17);
      buf.set(reason, 21);
      return buf;
    }
    case FrameType.MOVE: {
      const reason = encodeReason(frame.message);
      const buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4 + reason.length);
      header(buf, 4 + reason.length, frame.type, 0, 0);
      buf.writeUInt32BE(frame.retryAfterMs ?? NO_RETRY_HINT, 9);
      buf.set(reason, 13);
      return buf;
    }
  }
}

function malformed(message: string): HtnError {
  return new HtnError(HtnErrorCode.FRAME_MALFORMED, message);
}

function decodeReason(bytes: Uint8Array): string {
  if (bytes.length > MAX_REASON_BYTES) throw malformed(`reason text of ${bytes.length} bytes exceeds ${MAX_REASON_BYTES}`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw malformed('reason text is not valid UTF-8');
  }
}

/**
 * Decode every frame in one transport message. Throws only {@link HtnError}
 * (HTN_ERR_FRAME_MALFORMED or HTN_ERR_FRAME_TOO_LARGE); payloads are views
 * into `message`, not copies.
 */
export function decodeFrames(message: Uint8Array, maxFrameSize: number = FRAME_SIZE_CEILING): Frame[] {
  const buf = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  if (buf.length === 0) throw malformed('empty message');
  const frames: Frame[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < FRAME_HEADER_SIZE) throw malformed(`truncated frame header (${buf.length - off} bytes)`);
    const length = buf.readUIntBE(off, 3);
    const type = buf[off + 3] as number;
    const flags = buf[off + 4] as number;
    const streamId = buf.readUInt32BE(off + 5);
    if (length > maxFrameSize) {
      throw new HtnError(HtnErrorCode.FRAME_TOO_LARGE, `frame payload of ${length} bytes exceeds limit ${maxFrameSize}`);
    }
    const start = off + FRAME_HEADER_SIZE;
    if (buf.length - start < length) throw malformed(`truncated frame: length says ${length}, ${buf.length - start} present`);
    if (streamId > MAX_STREAM_ID) throw malformed('reserved high bit of stream id is set');
    const payload = buf.subarray(start, start + length);
    frames.push(decodeOne(type, flags, streamId, payload));
    off = start + length;
  }
  return frames;
}

function expectFlags(flags: number, allowed: number, type: string): void {
  if ((flags & ~allowed) !== 0) throw malformed(`unknown flags 0x${flags.toString(16)} on ${type}`);
}

function expectStream(streamId: number, zero: boolean, type: string): void {
  if (zero && streamId !== 0) throw malformed(`${type} must be on stream 0`);
  if (!zero && streamId === 0) throw malformed(`${type} must not be on stream 0`);
}

function decodeOne(type: number, flags: number, streamId: number, p: Buffer): Frame {
  switch (type) {
    case FrameType.HELLO:
      expectFlags(flags, 0, 'HELLO');
      expectStream(streamId, true, 'HELLO');
      if (p.length < 4) throw malformed('HELLO shorter than 4 bytes');
      return { type, streamId: 0, minVersion: p.readUInt16BE(0), maxVersion: p.readUInt16BE(2), body: p.subarray(4) };
    case FrameType.OPEN:
      expectFlags(flags, 0, 'OPEN');
      expectStream(streamId, false, 'OPEN');
      return { type, streamId, payload: p };
    case FrameType.DATA:
      expectFlags(flags, FrameFlag.FIN, 'DATA');
      expectStream(streamId, false, 'DATA');
      return { type, streamId, fin: (flags & FrameFlag.FIN) !== 0, payload: p };
    case FrameType.WINDOW_UPDATE: {
      expectFlags(flags, 0, 'WINDOW_UPDATE');
      expectStream(streamId, false, 'WINDOW_UPDATE');
      if (p.length !== 4) throw malformed('WINDOW_UPDATE payload must be 4 bytes');
      const increment = p.readUInt32BE(0);
      if (increment === 0 || increment > WINDOW_CEILING) throw malformed(`WINDOW_UPDATE increment ${increment} out of range`);
      return { type, streamId, increment };
    }
    case FrameType.RESET:
      expectFlags(flags, 0, 'RESET');
      expectStream(streamId, false, 'RESET');
      if (p.length < 4) throw malformed('RESET shorter than 4 bytes');
      return { type, streamId, code: p.readUInt32BE(0), message: decodeReason(p.subarray(4)) };
    case FrameType.PING:
      expectFlags(flags, FrameFlag.ACK, 'PING');
      expectStream(streamId, true, 'PING');
      if (p.length !== PING_PAYLOAD_SIZE) throw malformed('PING payload must be 8 bytes');
      return { type, streamId: 0, ack: (flags & FrameFlag.ACK) !== 0, payload: p };
    case FrameType.GOAWAY: {
      expectFlags(flags, 0, 'GOAWAY');
      expectStream(streamId, true, 'GOAWAY');
      if (p.length < 12) throw malformed('GOAWAY shorter than 12 bytes');
      const lastStreamId = p.readUInt32BE(0);
      if (lastStreamId > MAX_STREAM_ID) throw malformed('GOAWAY last stream id out of range');
      const retry = p.readUInt32BE(8);
      return {
        type, streamId: 0, lastStreamId, code: p.readUInt32BE(4),
        retryAfterMs: retry === NO_RETRY_HINT ? undefined : retry, message: decodeReason(p.subarray(12)),
      };
    }
    case FrameType.MOVE: {
      expectFlags(flags, 0, 'MOVE');
      expectStream(streamId, true, 'MOVE');
      if (p.length < 4) throw malformed('MOVE shorter than 4 bytes');
      const retry = p.readUInt32BE(0);
      return { type, streamId: 0, retryAfterMs: retry === NO_RETRY_HINT ? undefined : retry, message: decodeReason(p.subarray(4)) };
    }
    default:
      throw malformed(`unknown frame type 0x${type.toString(16)}`);
  }
}

export const MAX_STREAM_ID_VALUE = MAX_STREAM_ID;
