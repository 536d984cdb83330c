import { HtnError, HtnErrorCode } from './errors.js';

/** Protocol versions this implementation speaks (see docs/protocol.md). */
export const PROTOCOL_VERSION_MIN = 1;
export const PROTOCOL_VERSION_MAX = 1;

/**
 * Limits and timings of a session. One defaults object; every option is
 * validated once, at construction, before any I/O.
 */
export interface SessionLimits {
  /** Largest frame payload this side accepts, in bytes (1 KiB .. 16 MiB - 1). Default 256 KiB. */
  maxFrameSize: number;
  /** Largest OPEN payload and HELLO body, in bytes. Default 16 KiB. */
  maxHeaderSize: number;
  /**
   * Streams the peer may have open towards us at once. Default 2048, so that
   * with the default initialWindow every stream fits the default budget
   * (2048 x 32 KiB = 64 MiB).
   */
  maxConcurrentStreams: number;
  /**
   * Hard ceiling on received-but-unread bytes across all streams, including
   * credit already granted to the peer. Default 64 MiB.
   */
  maxBufferedBytes: number;
  /** Credit every new stream starts with, in each direction. Default 32 KiB. */
  initialWindow: number;
  /**
   * Credit the receiver tops a busy stream up to when budget allows. Default
   * 1 MiB: enough for ~350 MB/s with a 3 ms window round trip; only streams
   * that run their window dry grow past initialWindow.
   */
  streamWindow: number;
  /** Bytes handed to the transport but not yet acknowledged before the scheduler waits. Default 128 KiB. */
  transportHighWater: number;
}

export interface SessionTimings {
  /** Send a heartbeat this often, in ms. Default 5,000. */
  heartbeatIntervalMs: number;
  /** Declare the peer dead after this long without any inbound traffic, in ms. Default 15,000. */
  heartbeatTimeoutMs: number;
  /** Give up if the peer's HELLO has not arrived within this many ms. Default 10,000. */
  handshakeTimeoutMs: number;
  /** How long `close()`/`goAway()` let open streams finish before resetting them, in ms. Default 30,000. */
  drainTimeoutMs: number;
}

export const defaultLimits: Readonly<SessionLimits> = Object.freeze({
  maxFrameSize: 256 * 1024,
  maxHeaderSize: 16 * 1024,
  maxConcurrentStreams: 2048,
  maxBufferedBytes: 64 * 1024 * 1024,
  initialWindow: 32 * 1024,
  streamWindow: 1024 * 1024,
  transportHighWater: 128 * 1024,
});

export const defaultTimings: Readonly<SessionTimings> = Object.freeze({
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 15_000,
  handshakeTimeoutMs: 10_000,
  drainTimeoutMs: 30_000,
});

/** u24 frame length field. */
export const FRAME_SIZE_CEILING = 0xff_ffff;
/** Flow-control credit fits a signed 31-bit integer, as in HTTP/2. */
export const WINDOW_CEILING = 0x7fff_ffff;

function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HtnError(
      HtnErrorCode.INVALID_OPTION,
      `option "${field}" must be an integer in [${min}, ${max}], got ${String(value)}`,
    );
  }
  return value;
}

/** Merge `input` over the defaults, validate, freeze. Throws HTN_ERR_INVALID_OPTION naming the field. */
export function resolveLimits(input: Partial<SessionLimits> = {}): Readonly<SessionLimits> {
  const given = stripUndefined(input);
  const l = { ...defaultLimits, ...given };
  // A smaller frame size pulls the header limit down with it unless both are set.
  if (given.maxHeaderSize === undefined) l.maxHeaderSize = Math.min(defaultLimits.maxHeaderSize, l.maxFrameSize);
  checkInt('limits.maxFrameSize', l.maxFrameSize, 1024, FRAME_SIZE_CEILING);
  checkInt('limits.maxHeaderSize', l.maxHeaderSize, 256, l.maxFrameSize);
  checkInt('limits.maxConcurrentStreams', l.maxConcurrentStreams, 1, 1 << 30);
  checkInt('limits.initialWindow', l.initialWindow, 1024, WINDOW_CEILING);
  checkInt('limits.streamWindow', l.streamWindow, l.initialWindow, WINDOW_CEILING);
  checkInt('limits.maxBufferedBytes', l.maxBufferedBytes, l.streamWindow, Number.MAX_SAFE_INTEGER);
  checkInt('limits.transportHighWater', l.transportHighWater, 1024, Number.MAX_SAFE_INTEGER);
  return Object.freeze(l);
}

export function resolveTimings(input: Partial<SessionTimings> = {}): Readonly<SessionTimings> {
  const t = { ...defaultTimings, ...stripUndefined(input) };
  checkInt('timings.heartbeatIntervalMs', t.heartbeatIntervalMs, 10, 3_600_000);
  checkInt('timings.heartbeatTimeoutMs', t.heartbeatTimeoutMs, t.heartbeatIntervalMs, 3_600_000);
  checkInt('timings.handshakeTimeoutMs', t.handshakeTimeoutMs, 10, 3_600_000);
  checkInt('timings.drainTimeoutMs', t.drainTimeoutMs, 0, 3_600_000);
  return Object.freeze(t);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export { checkInt as validateInteger };
