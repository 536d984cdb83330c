/**
 * The seam between the session and whatever carries its bytes. A transport
 * is a message-oriented, binary, ordered, reliable channel: a WebSocket in
 * production ({@link fromWebSocket}), an in-memory pair in tests
 * ({@link createMemoryTransportPair}).
 */

/** Callbacks the session installs with {@link Transport.start}. */
export interface TransportHandlers {
  /** One whole binary message arrived. */
  onMessage(data: Uint8Array): void;
  /** The channel is closed (called exactly once). `error` is set when it failed rather than closed. */
  onClose(code: number, reason: string, error?: Error): void;
  /** A transport-level liveness signal (WebSocket pong) arrived. */
  onPong?(): void;
}

export interface Transport {
  /** Install handlers; messages are not delivered before this. Called once. */
  start(handlers: TransportHandlers): void;
  /**
   * Queue one message. `cb` runs once the bytes have left this process (or
   * failed); the session uses it as its backpressure signal.
   */
  send(data: Uint8Array, cb: (err?: Error) => void): void;
  /** Bytes queued but not yet written out. */
  readonly bufferedAmount: number;
  /** Send a transport-level ping, if the channel has one (WebSocket ping). */
  ping?(): void;
  /** Orderly close: queued messages are flushed, then the channel closes with `code`. */
  close(code: number, reason: string): void;
  /** Immediate, unclean close; used when the peer is presumed dead. */
  terminate(): void;
}

/** Normal closure (RFC 6455). */
export const CLOSE_NORMAL = 1000;
/**
 * Close codes 4000 + wire code (4001..4099) carry a tunnel error (private-use
 * range of RFC 6455). Codes 4100..4999 are left to the application (e.g. the
 * server's 4403 "deregistered"); the session reports those as
 * HTN_ERR_TRANSPORT with the code in the message.
 */
export const CLOSE_CODE_BASE = 4000;
export const CLOSE_CODE_SPAN = 100;
