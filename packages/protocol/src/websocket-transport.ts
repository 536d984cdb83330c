import type { Transport, TransportHandlers } from './transport.js';

/**
 * The subset of the `ws` WebSocket API the tunnel uses, as a structural type
 * so this package never imports `ws`. A `ws` WebSocket satisfies it.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array, options: { binary: boolean }, cb?: (err?: Error) => void): void;
  ping(data?: Uint8Array, mask?: boolean, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open' | 'message' | 'close' | 'error' | 'pong', listener: (...args: never[]) => void): unknown;
  removeListener(event: 'open' | 'message' | 'close' | 'error' | 'pong', listener: (...args: never[]) => void): unknown;
}

const WS_CONNECTING = 0;
const WS_OPEN = 1;

function toBytes(data: unknown): Uint8Array | undefined {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  return undefined;
}

function noop(): void {}

/**
 * Wrap a `ws` WebSocket as a {@link Transport}. The socket may still be
 * connecting: sends wait for 'open'. Wrap it (and start the session) right
 * away, in the same tick as `new WebSocket()` or the server's 'connection'
 * event, because the peer's HELLO can arrive together with the upgrade
 * response and a message nobody listens for is lost. Text messages are handed
 * to the session as bytes, where they fail frame decoding and close the
 * session with HTN_ERR_FRAME_MALFORMED.
 */
export function fromWebSocket(socket: WebSocketLike): Transport {
  return new WebSocketTransport(socket);
}

/** Per-socket state shared by the transport and its module-level listeners. */
interface SocketState {
  handlers: TransportHandlers | undefined;
  /** Messages sent while the socket was still connecting. */
  pending: Array<{ data: Uint8Array; cb: (err?: Error) => void }>;
  /** Messages received before start(). */
  early: Uint8Array[];
  error: Error | undefined;
  closed: boolean;
}

// Named module-level listeners (as in `ws` itself) so stack traces read well
// and no closure per socket is kept alive; they find their state by socket.
const states = new WeakMap<WebSocketLike, SocketState>();

function socketOnMessage(this: WebSocketLike, data: unknown): void {
  const bytes = toBytes(data);
  const state = states.get(this);
  if (bytes === undefined || !state) return;
  if (state.handlers) state.handlers.onMessage(bytes);
  else state.early.push(bytes);
}

function socketOnOpen(this: WebSocketLike): void {
  const state = states.get(this);
  if (!state) return;
  const pending = state.pending;
  state.pending = [];
  for (const { data, cb } of pending) this.send(data, { binary: true }, cb);
}

function socketOnPong(this: WebSocketLike): void {
  states.get(this)?.handlers?.onPong?.();
}

function socketOnError(this: WebSocketLike, err: Error): void {
  // ws always emits 'close' after 'error'; remember the cause for it. Having
  // this listener at all is what keeps an 'error' from crashing the process.
  const state = states.get(this);
  if (state) state.error ??= err;
}

function socketOnClose(this: WebSocketLike, code: number, reason: Buffer | string): void {
  const state = states.get(this);
  if (!state || state.closed) return;
  state.closed = true;
  this.removeListener('message', socketOnMessage);
  this.removeListener('pong', socketOnPong);
  this.removeListener('open', socketOnOpen);
  const pending = state.pending;
  state.pending = [];
  for (const { cb } of pending) cb(new Error('websocket closed before it opened'));
  state.handlers?.onClose(code, String(reason), state.error);
}

class WebSocketTransport implements Transport {
  #socket: WebSocketLike;
  #state: SocketState = { handlers: undefined, pending: [], early: [], error: undefined, closed: false };

  constructor(socket: WebSocketLike) {
    this.#socket = socket;
    socket.binaryType = 'nodebuffer';
    states.set(socket, this.#state);
    // 'error' and 'close' are watched from the start so a failure before
    // start() is still caught and still reported.
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
    socket.on('message', socketOnMessage);
    socket.on('pong', socketOnPong);
    if (socket.readyState === WS_CONNECTING) socket.on('open', socketOnOpen);
  }

  get bufferedAmount(): number {
    let queued = 0;
    for (const p of this.#state.pending) queued += p.data.length;
    return this.#socket.bufferedAmount + queued;
  }

  start(handlers: TransportHandlers): void {
    this.#state.handlers = handlers;
    const early = this.#state.early;
    this.#state.early = [];
    for (const m of early) handlers.onMessage(m);
    const rs = this.#socket.readyState;
    if (rs !== WS_OPEN && rs !== WS_CONNECTING && !this.#state.closed) {
      this.#state.closed = true;
      handlers.onClose(1006, 'websocket not open', this.#state.error);
    }
  }

  send(data: Uint8Array, cb: (err?: Error) => void): void {
    if (this.#socket.readyState === WS_CONNECTING && !this.#state.closed) {
      this.#state.pending.push({ data, cb });
      return;
    }
    if (this.#socket.readyState !== WS_OPEN) {
      queueMicrotask(() => cb(new Error('websocket not open')));
      return;
    }
    this.#socket.send(data, { binary: true }, cb);
  }

  ping(): void {
    if (this.#socket.readyState === WS_OPEN) this.#socket.ping(undefined, undefined, noop);
  }

  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch {
      // close() throws on an invalid code/reason; never let that escape.
      this.#socket.terminate();
    }
  }

  terminate(): void {
    this.#socket.terminate();
  }
}
