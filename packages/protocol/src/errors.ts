/**
 * Every failure the tunnel reports is an {@link HtnError} with a stable
 * `code`. Callers match on `code`, never on the message. docs/errors.md lists
 * every code; packages/contract/test/errors-doc.test.ts keeps both in sync.
 */

/** Stable error codes. Never reuse a code for a different meaning. */
export const HtnErrorCode = {
  INVALID_OPTION: 'HTN_ERR_INVALID_OPTION',
  FRAME_MALFORMED: 'HTN_ERR_FRAME_MALFORMED',
  FRAME_TOO_LARGE: 'HTN_ERR_FRAME_TOO_LARGE',
  HEADER_TOO_LARGE: 'HTN_ERR_HEADER_TOO_LARGE',
  PROTOCOL: 'HTN_ERR_PROTOCOL',
  FLOW_CONTROL: 'HTN_ERR_FLOW_CONTROL',
  VERSION_MISMATCH: 'HTN_ERR_VERSION_MISMATCH',
  HANDSHAKE_TIMEOUT: 'HTN_ERR_HANDSHAKE_TIMEOUT',
  HEARTBEAT_TIMEOUT: 'HTN_ERR_HEARTBEAT_TIMEOUT',
  STREAM_LIMIT: 'HTN_ERR_STREAM_LIMIT',
  STREAM_REFUSED: 'HTN_ERR_STREAM_REFUSED',
  STREAM_RESET: 'HTN_ERR_STREAM_RESET',
  GOING_AWAY: 'HTN_ERR_GOING_AWAY',
  DRAIN_TIMEOUT: 'HTN_ERR_DRAIN_TIMEOUT',
  SESSION_CLOSED: 'HTN_ERR_SESSION_CLOSED',
  TRANSPORT: 'HTN_ERR_TRANSPORT',
  INTERNAL: 'HTN_ERR_INTERNAL',
} as const;

export type HtnErrorCode = (typeof HtnErrorCode)[keyof typeof HtnErrorCode];

/**
 * Numeric codes carried on the wire in RESET and GOAWAY frames (see
 * docs/protocol.md, "Error codes"). Values >= 0x1000 are application codes
 * that the tunnel passes through untouched.
 */
export const WireCode = {
  NO_ERROR: 0,
  PROTOCOL: 1,
  FRAME_MALFORMED: 2,
  FRAME_TOO_LARGE: 3,
  HEADER_TOO_LARGE: 4,
  FLOW_CONTROL: 5,
  VERSION_MISMATCH: 6,
  HANDSHAKE_TIMEOUT: 7,
  HEARTBEAT_TIMEOUT: 8,
  REFUSED: 9,
  CANCEL: 10,
  INTERNAL: 11,
  DRAIN_TIMEOUT: 12,
  GOING_AWAY: 13,
} as const;

export type WireCode = (typeof WireCode)[keyof typeof WireCode];

/** First wire code reserved for applications (passed through as-is). */
export const APPLICATION_WIRE_CODE_BASE = 0x1000;

const wireToHtn: ReadonlyMap<number, HtnErrorCode> = new Map<number, HtnErrorCode>([
  [WireCode.PROTOCOL, HtnErrorCode.PROTOCOL],
  [WireCode.FRAME_MALFORMED, HtnErrorCode.FRAME_MALFORMED],
  [WireCode.FRAME_TOO_LARGE, HtnErrorCode.FRAME_TOO_LARGE],
  [WireCode.HEADER_TOO_LARGE, HtnErrorCode.HEADER_TOO_LARGE],
  [WireCode.FLOW_CONTROL, HtnErrorCode.FLOW_CONTROL],
  [WireCode.VERSION_MISMATCH, HtnErrorCode.VERSION_MISMATCH],
  [WireCode.HANDSHAKE_TIMEOUT, HtnErrorCode.HANDSHAKE_TIMEOUT],
  [WireCode.HEARTBEAT_TIMEOUT, HtnErrorCode.HEARTBEAT_TIMEOUT],
  [WireCode.REFUSED, HtnErrorCode.STREAM_REFUSED],
  [WireCode.CANCEL, HtnErrorCode.STREAM_RESET],
  [WireCode.INTERNAL, HtnErrorCode.INTERNAL],
  [WireCode.DRAIN_TIMEOUT, HtnErrorCode.DRAIN_TIMEOUT],
  [WireCode.GOING_AWAY, HtnErrorCode.GOING_AWAY],
]);

const htnToWire: ReadonlyMap<HtnErrorCode, number> = new Map<HtnErrorCode, number>([
  ...[...wireToHtn].map(([w, h]) => [h, w] as const),
  [HtnErrorCode.STREAM_LIMIT, WireCode.REFUSED],
  [HtnErrorCode.SESSION_CLOSED, WireCode.CANCEL],
  [HtnErrorCode.TRANSPORT, WireCode.INTERNAL],
  [HtnErrorCode.INVALID_OPTION, WireCode.INTERNAL],
]);

/** Extra, optional facts attached to an {@link HtnError}. */
export interface HtnErrorDetails {
  /** Numeric wire code (RESET/GOAWAY) behind this error, if any. */
  wireCode?: number;
  /** True when the peer reported the error, false when this side detected it. */
  remote?: boolean;
  /** Server hint: do not reconnect before this many milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** The one error class of `@hawser/protocol`; match on {@link HtnError.code}. */
export class HtnError extends Error {
  readonly code: HtnErrorCode;
  /** Numeric wire code (see {@link WireCode}); application codes are >= 0x1000. */
  readonly wireCode: number;
  readonly remote: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: HtnErrorCode, message: string, details: HtnErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'HtnError';
    this.code = code;
    this.wireCode = details.wireCode ?? wireCodeOf(code);
    this.remote = details.remote ?? false;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** Wire code that represents `code` in RESET/GOAWAY frames. */
export function wireCodeOf(code: HtnErrorCode): number {
  return htnToWire.get(code) ?? WireCode.INTERNAL;
}

/** Error code that a received wire code maps to; unknown codes are INTERNAL, app codes are STREAM_RESET. */
export function htnCodeOf(wireCode: number): HtnErrorCode {
  if (wireCode >= APPLICATION_WIRE_CODE_BASE) return HtnErrorCode.STREAM_RESET;
  return wireToHtn.get(wireCode) ?? HtnErrorCode.INTERNAL;
}

export function isHtnError(err: unknown): err is HtnError {
  return err instanceof HtnError;
}
