import { EventEmitter } from 'node:events';
import { HtnError, HtnErrorCode, WireCode, htnCodeOf, isHtnError } from './errors.js';
import { decodeFrames, encodeFrame, FrameType, MAX_STREAM_ID_VALUE, MOVE_CAPABILITY } from './frame.js';
import type { DataFrame, Frame, GoAwayFrame, OpenFrame, ResetFrame, WindowUpdateFrame } from './frame.js';
import { encodeHello, negotiateVersion, parseHello } from './handshake.js';
import type { HelloInfo, PeerInfo } from './handshake.js';
import { Heartbeat } from './heartbeat.js';
import { PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, resolveLimits, resolveTimings } from './options.js';
import type { SessionLimits, SessionTimings } from './options.js';
import { ReceiveBudget } from './receive-budget.js';
import { Scheduler } from './scheduler.js';
import { TunnelStream } from './stream.js';
import type { StreamAddress, StreamHost } from './stream.js';
import { CLOSE_CODE_BASE, CLOSE_CODE_SPAN, CLOSE_NORMAL } from './transport.js';
import type { Transport } from './transport.js';

/** Which end of the tunnel this is; decides stream id parity (client odd, server even). */
export const SessionRole = { CLIENT: 'client', SERVER: 'server' } as const;
export type SessionRole = (typeof SessionRole)[keyof typeof SessionRole];

/** Options of {@link Session}. Validated once, at construction. */
export interface SessionOptions {
  /** `client` (the agent, which dials) opens odd stream ids; `server` opens even ids. Required. */
  role: SessionRole;
  /** Our software and version, sent in HELLO, e.g. "hawser-agent/1.2.0". Required. */
  software: string;
  /** Optional features we support. Default []. */
  capabilities?: string[];
  /** Free-form metadata sent in HELLO; the agent puts `clusterUid` here. Default {}. */
  metadata?: Record<string, string>;
  /** Protocol version range we speak. Default {@link PROTOCOL_VERSION_MIN}..{@link PROTOCOL_VERSION_MAX}. */
  minVersion?: number;
  maxVersion?: number;
  /** Size and memory limits; see {@link SessionLimits} for defaults. */
  limits?: Partial<SessionLimits>;
  /** Heartbeat, handshake and drain timings; see {@link SessionTimings} for defaults. */
  timings?: Partial<SessionTimings>;
  /** Address facts every stream reports (`remoteAddress` etc.), for logs. Default none. */
  streamAddress?: StreamAddress;
}

/** Options of {@link Session.goAway}. */
export interface GoAwayOptions {
  /** Hint for the peer: reconnect no sooner than this, in ms. Default: no hint. */
  retryAfterMs?: number;
  /** Short reason, logged by the peer. Default "going away". */
  message?: string;
  /** Open streams get this long to finish before they are reset. Default `timings.drainTimeoutMs`. */
  timeoutMs?: number;
}

/** What a server's MOVE said; emitted as 'move'. */
export interface MoveInfo {
  message: string;
  /** Dial the new session after this many ms; undefined = at once. */
  retryAfterMs: number | undefined;
}

/** Options of {@link Session.move}. */
export interface MoveOptions {
  /** Dial the new session no sooner than this, in ms (spreads a fleet). Default: at once. */
  retryAfterMs?: number;
  /** Short reason, logged by the peer. Default "moving". */
  message?: string;
}

/** What a peer's GOAWAY said; emitted as 'goaway'. */
export interface GoAwayInfo {
  code: number;
  message: string;
  retryAfterMs: number | undefined;
  lastStreamId: number;
}

const State = { HANDSHAKE: 0, OPEN: 1, CLOSED: 2 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * A multiplexed tunnel session over one {@link Transport}.
 *
 * Events:
 * - `'ready' (peer: PeerInfo)` handshake done; also {@link Session.ready}.
 * - `'stream' (stream: TunnelStream)` the peer opened a stream. With no
 *   listener, incoming streams are refused.
 * - `'goaway' (info: GoAwayInfo)` the peer is draining; open no new streams.
 * - `'move' (info: MoveInfo)` (client) the server asks for a new session;
 *   this one keeps serving until the client retires it (make-before-break).
 * - `'close' (err?: HtnError)` the session is over; `err` is unset after a
 *   clean close. The session never emits 'error'.
 */
export class Session extends EventEmitter {
  readonly role: SessionRole;
  #transport: Transport;
  #limits: Readonly<SessionLimits>;
  #timings: Readonly<SessionTimings>;
  #local: HelloInfo;
  #address: StreamAddress;
  #state: State = State.HANDSHAKE;
  #peer: PeerInfo | undefined;
  #streams = new Map<number, TunnelStream>();
  #localOpen = 0;
  #remoteOpen = 0;
  #nextLocalId: number;
  #lastPeerId = 0;
  #budget: ReceiveBudget;
  #pendingOpens: Array<{ stream: TunnelStream; frame: Buffer }> = [];
  #scheduler: Scheduler;
  #heartbeat: Heartbeat;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #drainTimer: NodeJS.Timeout | undefined;
  #localGoAway = false;
  #remoteGoAway: GoAwayInfo | undefined;
  #closeWhenIdle = false;
  #closeError: HtnError | undefined;
  #ready: Promise<PeerInfo>;
  #resolveReady!: (peer: PeerInfo) => void;
  #rejectReady!: (err: HtnError) => void;
  #closed: Promise<HtnError | undefined>;
  #resolveClosed!: (err: HtnError | undefined) => void;
  #host: StreamHost;

  /**
   * Start a session on an open transport. Sends HELLO at once. Throws
   * HTN_ERR_INVALID_OPTION (naming the field) for bad options, before any I/O.
   */
  constructor(transport: Transport, options: SessionOptions) {
    super();
    if (options.role !== SessionRole.CLIENT && options.role !== SessionRole.SERVER) {
      throw new HtnError(HtnErrorCode.INVALID_OPTION, `option "role" must be "client" or "server", got ${String(options.role)}`);
    }
    if (typeof options.software !== 'string' || options.software.length === 0 || options.software.length > 256) {
      throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "software" must be a non-empty string of at most 256 characters');
    }
    const minVersion = options.minVersion ?? PROTOCOL_VERSION_MIN;
    const maxVersion = options.maxVersion ?? PROTOCOL_VERSION_MAX;
    if (!Number.isInteger(minVersion) || !Number.isInteger(maxVersion) || minVersion < 1 || maxVersion > 0xffff || minVersion > maxVersion) {
      throw new HtnError(HtnErrorCode.INVALID_OPTION, `options "minVersion".."maxVersion" must be a range within 1..65535, got ${minVersion}..${maxVersion}`);
    }
    this.#limits = resolveLimits(options.limits);
    this.#timings = resolveTimings(options.timings);
    this.role = options.role;
    this.#transport = transport;
    this.#address = { ...options.streamAddress };
    this.#nextLocalId = options.role === SessionRole.CLIENT ? 1 : 2;
    this.#local = {
      minVersion,
      maxVersion,
      software: options.software,
      capabilities: [...(options.capabilities ?? [])],
      metadata: { ...options.metadata },
      settings: {
        maxFrameSize: this.#limits.maxFrameSize,
        maxHeaderSize: this.#limits.maxHeaderSize,
        maxConcurrentStreams: this.#limits.maxConcurrentStreams,
        initialWindow: this.#limits.initialWindow,
      },
    };
    const hello = encodeFrame(encodeHello(this.#local));
    if (hello.length - 13 > this.#limits.maxHeaderSize) {
      throw new HtnError(HtnErrorCode.INVALID_OPTION, `options "capabilities"/"metadata" make a HELLO larger than limits.maxHeaderSize (${this.#limits.maxHeaderSize})`);
    }
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Nobody may be awaiting ready; a rejection must never become an unhandled one.
    this.#ready.catch(noop);
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#host = {
      ready: (s) => this.#scheduler.ready(s),
      control: (f) => this.#scheduler.control(f),
      consumed: (s, n) => this.#budget.consumed(s, n),
      release: (n) => this.#budget.release(n),
      done: (s) => this.#streamDone(s),
      dataFrameSize: () => this.#scheduler.maxPayload,
    };
    this.#scheduler = new Scheduler(transport, this.#limits.transportHighWater, 1024, () => this.#onIdle());
    this.#budget = new ReceiveBudget(this.#limits.maxBufferedBytes, this.#limits.streamWindow, (f) => this.#scheduler.control(f));
    this.#heartbeat = new Heartbeat(
      this.#timings.heartbeatIntervalMs,
      this.#timings.heartbeatTimeoutMs,
      () => this.#sendPing(),
      (silent) => this.#onDead(silent),
    );
    this.#handshakeTimer = setTimeout(sessionOnHandshakeTimeout, this.#timings.handshakeTimeoutMs, this);
    this.#handshakeTimer.unref();
    transport.start({
      onMessage: (data) => this.#onMessage(data),
      onClose: (code, reason, error) => this.#onTransportClose(code, reason, error),
      onPong: () => this.#heartbeat.seen(),
    });
    this.#scheduler.control(hello);
  }

  /** Resolves with the peer's HELLO once the handshake is done; rejects if the session dies first. */
  get ready(): Promise<PeerInfo> {
    return this.#ready;
  }

  /** Resolves when the session is over, with the error that ended it (undefined after a clean close). */
  get closed(): Promise<HtnError | undefined> {
    return this.#closed;
  }

  /** The peer's HELLO, once the handshake is done. */
  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  get limits(): Readonly<SessionLimits> {
    return this.#limits;
  }

  get isClosed(): boolean {
    return this.#state === State.CLOSED;
  }

  /** True once either side has sent GOAWAY: no new streams. */
  get draining(): boolean {
    return this.#localGoAway || this.#remoteGoAway !== undefined;
  }

  /** Open streams (both directions). */
  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Bytes this session holds: received data not yet read, plus frames
   * handed to the transport and not yet acknowledged. Bounded by
   * `limits.maxBufferedBytes` + `limits.transportHighWater` + one frame.
   */
  get bufferedBytes(): number {
    let received = 0;
    for (const s of this.#streams.values()) received += s.bufferedBytes;
    return received + this.#scheduler.inflight + this.#scheduler.queuedControlBytes;
  }

  /** Receive budget in use: unread bytes plus credit granted to the peer (never above maxBufferedBytes). */
  get committedBytes(): number {
    return this.#budget.committed;
  }

  /**
   * Open a stream to the peer. `payload` (at most `limits.maxHeaderSize`
   * bytes) travels in the OPEN frame; the peer reads it as
   * `stream.openPayload`. Data may be written at once. Throws HtnError
   * (STREAM_LIMIT, GOING_AWAY, SESSION_CLOSED, HEADER_TOO_LARGE) instead of
   * waiting; a refusal by the peer destroys the stream with HTN_ERR_STREAM_REFUSED.
   */
  openStream(payload: Uint8Array | string = ''): TunnelStream {
    if (this.#state === State.CLOSED) throw new HtnError(HtnErrorCode.SESSION_CLOSED, 'session is closed', { cause: this.#closeError });
    if (this.draining) {
      throw new HtnError(HtnErrorCode.GOING_AWAY, this.#localGoAway ? 'session is draining (goAway called)' : 'peer sent GOAWAY; open streams on a new session', {
        retryAfterMs: this.#remoteGoAway?.retryAfterMs,
      });
    }
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
    const headerLimit = Math.min(this.#limits.maxHeaderSize, this.#peer?.settings.maxHeaderSize ?? Infinity);
    if (bytes.length > headerLimit) {
      throw new HtnError(HtnErrorCode.HEADER_TOO_LARGE, `open payload of ${bytes.length} bytes exceeds ${headerLimit}`);
    }
    const peerLimit = this.#peer?.settings.maxConcurrentStreams ?? this.#limits.maxConcurrentStreams;
    if (this.#localOpen >= peerLimit) {
      throw new HtnError(HtnErrorCode.STREAM_LIMIT, `peer allows ${peerLimit} concurrent streams and ${peerLimit} are open`);
    }
    if (!this.#budget.canAdmit(this.#limits.initialWindow)) {
      throw new HtnError(HtnErrorCode.STREAM_LIMIT, `receive budget exhausted (${this.#budget.committed} of ${this.#limits.maxBufferedBytes} bytes committed)`);
    }
    if (this.#nextLocalId > MAX_STREAM_ID_VALUE) {
      throw new HtnError(HtnErrorCode.STREAM_LIMIT, 'stream ids exhausted on this session; open a new session');
    }
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    const sendCredit = this.#peer?.settings.initialWindow ?? 0;
    const stream = new TunnelStream(this.#host, id, true, bytes, sendCredit, this.#limits.initialWindow, this.#address);
    this.#budget.commit(this.#limits.initialWindow);
    this.#streams.set(id, stream);
    this.#localOpen++;
    const frame = encodeFrame({ type: FrameType.OPEN, streamId: id, payload: bytes });
    if (this.#state === State.HANDSHAKE) this.#pendingOpens.push({ stream, frame });
    else this.#scheduler.control(frame);
    return stream;
  }

  /**
   * Graceful drain: tell the peer to open no new streams (with an optional
   * "come back after N ms" hint), let open streams finish within
   * `timeoutMs`, reset the rest with HTN_ERR_DRAIN_TIMEOUT, then close.
   * Resolves when the session is closed.
   */
  goAway(options: GoAwayOptions = {}): Promise<void> {
    const done = this.#closed.then(noop);
    if (this.#state === State.CLOSED || this.#localGoAway) return done;
    const timeoutMs = options.timeoutMs ?? this.#timings.drainTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "timeoutMs" must be a non-negative integer');
    const retry = options.retryAfterMs;
    if (retry !== undefined && (!Number.isInteger(retry) || retry < 0 || retry >= 0xffff_ffff)) {
      throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "retryAfterMs" must be an integer in [0, 4294967294]');
    }
    this.#localGoAway = true;
    if (this.#state === State.HANDSHAKE) {
      this.#finish(undefined, CLOSE_NORMAL, 'going away');
      return done;
    }
    this.#scheduler.control(encodeFrame({
      type: FrameType.GOAWAY, streamId: 0, lastStreamId: this.#lastPeerId, code: WireCode.NO_ERROR,
      retryAfterMs: retry, message: options.message ?? 'going away',
    }));
    this.#drainTimer = setTimeout(sessionOnDrainTimeout, timeoutMs, this);
    this.#drainTimer.unref();
    this.#closeWhenIdle = true;
    this.#maybeCloseIdle();
    return done;
  }

  /**
   * Server only: ask the client to open a new session (through the load
   * balancer, to another server) while this one keeps serving; the client
   * retires this one with its own GOAWAY once the new one is up. Sent only
   * to a client whose HELLO announced {@link MOVE_CAPABILITY}, on an open
   * session nobody is draining yet; returns whether it was sent (false: use
   * goAway()).
   */
  move(options: MoveOptions = {}): boolean {
    if (this.role !== 'server') throw new HtnError(HtnErrorCode.INVALID_OPTION, 'only a server session asks its client to move');
    const retry = options.retryAfterMs;
    if (retry !== undefined && (!Number.isInteger(retry) || retry < 0 || retry >= 0xffff_ffff)) {
      throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "retryAfterMs" must be an integer in [0, 4294967294]');
    }
    if (this.#state !== State.OPEN || this.draining || !this.#peer?.capabilities.includes(MOVE_CAPABILITY)) return false;
    this.#scheduler.control(encodeFrame({ type: FrameType.MOVE, streamId: 0, retryAfterMs: retry, message: options.message ?? 'moving' }));
    return true;
  }

  /** Drain with the default deadline, then close. Same as `goAway()`. */
  close(): Promise<void> {
    return this.goAway();
  }

  /**
   * Abort now: every stream is destroyed, the peer is told why (GOAWAY
   * carrying `err`'s code), the transport is closed.
   */
  destroy(err?: Error): void {
    if (this.#state === State.CLOSED) return;
    const htn = err === undefined
      ? new HtnError(HtnErrorCode.SESSION_CLOSED, 'session destroyed')
      : isHtnError(err) ? err : new HtnError(HtnErrorCode.INTERNAL, err.message, { cause: err });
    this.#fail(htn);
  }

  // --- timers ----------------------------------------------------------------

  /** @internal */
  handshakeTimedOut(): void {
    this.#handshakeTimer = undefined;
    if (this.#state !== State.HANDSHAKE) return;
    this.#fail(new HtnError(HtnErrorCode.HANDSHAKE_TIMEOUT, `no HELLO from peer within ${this.#timings.handshakeTimeoutMs} ms`));
  }

  /** @internal */
  drainTimedOut(): void {
    this.#drainTimer = undefined;
    if (this.#state === State.CLOSED) return;
    const err = new HtnError(HtnErrorCode.DRAIN_TIMEOUT, `stream still open when the drain deadline passed`);
    for (const stream of [...this.#streams.values()]) stream.destroy(err);
    this.#maybeCloseIdle();
  }

  #onDead(silentMs: number): void {
    this.#fail(new HtnError(HtnErrorCode.HEARTBEAT_TIMEOUT, `no traffic from peer for ${silentMs} ms`), true);
  }

  #sendPing(): void {
    if (this.#state !== State.OPEN) return;
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(Date.now(), 0);
    this.#scheduler.control(encodeFrame({ type: FrameType.PING, streamId: 0, ack: false, payload }));
    this.#transport.ping?.();
  }

  // --- inbound ---------------------------------------------------------------

  #onMessage(data: Uint8Array): void {
    if (this.#state === State.CLOSED) return;
    this.#heartbeat.seen();
    try {
      const frames = decodeFrames(data, this.#limits.maxFrameSize);
      for (const frame of frames) {
        // A frame can end the session (GOAWAY, error); the rest of the message is moot.
        if (this.isClosed) return;
        this.#dispatch(frame);
      }
    } catch (err) {
      // Peer input must never throw out of the session: everything becomes a clean close.
      this.#fail(isHtnError(err) ? err : new HtnError(HtnErrorCode.INTERNAL, `failed to handle a frame: ${(err as Error)?.message}`, { cause: err }));
    }
  }

  #dispatch(frame: Frame): void {
    if (this.#state === State.HANDSHAKE) {
      if (frame.type !== FrameType.HELLO) throw protocolError(`expected HELLO as first frame, got type ${frame.type}`);
      this.#onHello(parseHello(frame, this.#limits.maxHeaderSize));
      return;
    }
    switch (frame.type) {
      case FrameType.HELLO:
        throw protocolError('second HELLO');
      case FrameType.OPEN:
        return this.#onOpen(frame);
      case FrameType.DATA:
        return this.#onData(frame);
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(frame);
      case FrameType.RESET:
        return this.#onReset(frame);
      case FrameType.PING:
        if (!frame.ack) this.#scheduler.control(encodeFrame({ type: FrameType.PING, streamId: 0, ack: true, payload: frame.payload }));
        return;
      case FrameType.GOAWAY:
        return this.#onGoAway(frame);
      case FrameType.MOVE:
        // Only a server asks, and only a client that said it understands.
        if (this.role !== 'client' || !this.#local.capabilities.includes(MOVE_CAPABILITY)) throw protocolError('unexpected MOVE');
        this.emit('move', { message: frame.message, retryAfterMs: frame.retryAfterMs } satisfies MoveInfo);
        return;
    }
  }

  #onHello(hello: HelloInfo): void {
    const version = negotiateVersion(this.#local, hello);
    this.#peer = { ...hello, version };
    this.#state = State.OPEN;
    this.#budget.active = true;
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#heartbeat.start();
    const peerWindow = hello.settings.initialWindow;
    const pending = this.#pendingOpens;
    this.#pendingOpens = [];
    let admitted = 0;
    for (const { stream, frame } of pending) {
      if (stream.destroyed) continue;
      stream.setInitialSendCredit(peerWindow);
      if (++admitted > hello.settings.maxConcurrentStreams) {
        stream.abort(new HtnError(HtnErrorCode.STREAM_LIMIT, `peer allows ${hello.settings.maxConcurrentStreams} concurrent streams`));
        this.#forget(stream);
        continue;
      }
      this.#scheduler.control(frame);
    }
    this.#scheduler.enableData(Math.min(hello.settings.maxFrameSize, this.#limits.maxFrameSize));
    this.emit('ready', this.#peer);
    this.#resolveReady(this.#peer);
  }

  /** Is `id` one that was opened at some point in this session (so late frames for it are harmless)? */
  #wasOpened(id: number): boolean {
    const peerParity = this.role === SessionRole.CLIENT ? 0 : 1;
    if (id % 2 === peerParity) return id <= this.#lastPeerId;
    return id < this.#nextLocalId;
  }

  #lookup(id: number, what: string): TunnelStream | undefined {
    const stream = this.#streams.get(id);
    if (stream) return stream;
    // Frames can cross a RESET or FIN in flight; for a stream that existed they are dropped.
    if (this.#wasOpened(id)) return undefined;
    throw protocolError(`${what} on stream ${id}, which was never opened`);
  }

  #onOpen(frame: OpenFrame): void {
    const id = frame.streamId;
    const peerParity = this.role === SessionRole.CLIENT ? 0 : 1;
    if (id % 2 !== peerParity) throw protocolError(`peer opened stream ${id} with our id parity`);
    if (id <= this.#lastPeerId) throw protocolError(`stream id ${id} not above last peer stream ${this.#lastPeerId} (ids are never reused)`);
    if (frame.payload.length > this.#limits.maxHeaderSize) {
      throw new HtnError(HtnErrorCode.HEADER_TOO_LARGE, `open payload of ${frame.payload.length} bytes exceeds ${this.#limits.maxHeaderSize}`);
    }
    this.#lastPeerId = id;
    let refusal: string | undefined;
    if (this.#localGoAway) refusal = 'session is draining';
    else if (this.#remoteOpen >= this.#limits.maxConcurrentStreams) refusal = `concurrent stream limit ${this.#limits.maxConcurrentStreams} reached`;
    else if (!this.#budget.canAdmit(this.#limits.initialWindow)) refusal = 'receive budget exhausted';
    else if (this.listenerCount('stream') === 0) refusal = 'no stream handler';
    if (refusal !== undefined) {
      this.#scheduler.control(encodeFrame({ type: FrameType.RESET, streamId: id, code: WireCode.REFUSED, message: refusal }));
      return;
    }
    const payload = Buffer.from(frame.payload); // detach from the transport message
    const stream = new TunnelStream(this.#host, id, false, payload, this.#peer?.settings.initialWindow ?? 0, this.#limits.initialWindow, this.#address);
    this.#budget.commit(this.#limits.initialWindow);
    this.#streams.set(id, stream);
    this.#remoteOpen++;
    this.emit('stream', stream);
  }

  #onData(frame: DataFrame): void {
    const stream = this.#lookup(frame.streamId, 'DATA');
    if (!stream) return;
    if (stream.finReceived) throw protocolError(`DATA after FIN on stream ${frame.streamId}`);
    if (frame.payload.length > stream.recvCredit) {
      throw new HtnError(HtnErrorCode.FLOW_CONTROL, `stream ${frame.streamId}: ${frame.payload.length} bytes sent with only ${stream.recvCredit} bytes of credit`);
    }
    stream.onData(frame.payload, frame.fin);
  }

  #onWindowUpdate(frame: WindowUpdateFrame): void {
    const stream = this.#lookup(frame.streamId, 'WINDOW_UPDATE');
    if (!stream) return;
    if (!stream.onWindowUpdate(frame.increment)) {
      throw new HtnError(HtnErrorCode.FLOW_CONTROL, `stream ${frame.streamId}: window grew above 2^31-1`);
    }
  }

  #onReset(frame: ResetFrame): void {
    const stream = this.#lookup(frame.streamId, 'RESET');
    if (!stream) return;
    this.#forget(stream);
    stream.onReset(frame.code, frame.message);
  }

  #onGoAway(frame: GoAwayFrame): void {
    const info: GoAwayInfo = { code: frame.code, message: frame.message, retryAfterMs: frame.retryAfterMs, lastStreamId: frame.lastStreamId };
    if (frame.code !== WireCode.NO_ERROR) {
      // The peer is closing because of an error; report its code as ours.
      this.#remoteGoAway = info;
      this.emit('goaway', info);
      this.#fail(new HtnError(htnSessionCode(frame.code), `peer closed the session: ${frame.message}`, {
        wireCode: frame.code, remote: true, retryAfterMs: frame.retryAfterMs,
      }), false, false);
      return;
    }
    if (this.#remoteGoAway) return;
    this.#remoteGoAway = info;
    this.emit('goaway', info);
    // Streams we opened that the peer never saw are safe to retry elsewhere.
    for (const stream of [...this.#streams.values()]) {
      if (stream.local && stream.id > frame.lastStreamId && !stream.destroyed) {
        this.#forget(stream);
        stream.abort(new HtnError(HtnErrorCode.STREAM_REFUSED, `peer is going away and did not process stream ${stream.id}`, {
          wireCode: WireCode.REFUSED, remote: true, retryAfterMs: frame.retryAfterMs,
        }));
      }
    }
    this.#closeWhenIdle = true;
    this.#maybeCloseIdle();
  }

  // --- stream host -----------------------------------------------------------

  #streamDone(stream: TunnelStream): void {
    this.#forget(stream);
  }

  #forget(stream: TunnelStream): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#budget.forget(stream);
    this.#scheduler.remove(stream);
    if (stream.local) this.#localOpen--;
    else this.#remoteOpen--;
    this.#maybeCloseIdle();
  }

  // --- closing ---------------------------------------------------------------

  #maybeCloseIdle(): void {
    if (!this.#closeWhenIdle || this.#state !== State.OPEN || this.#streams.size > 0) return;
    // Let queued control frames (final RESETs, GOAWAY) reach the transport first.
    if (this.#scheduler.idle) this.#finish(undefined, CLOSE_NORMAL, 'drained');
  }

  #onIdle(): void {
    if (this.#closeWhenIdle) this.#maybeCloseIdle();
  }

  /** Local fatal error: tell the peer (GOAWAY with the code), close, clean up. */
  #fail(err: HtnError, terminate = false, tellPeer = true): void {
    if (this.#state === State.CLOSED) return;
    if (tellPeer && !terminate) {
      // Bypass the scheduler: the reason must go out even if data is backed up.
      try {
        this.#transport.send(encodeFrame({
          type: FrameType.GOAWAY, streamId: 0, lastStreamId: this.#lastPeerId, code: err.wireCode,
          retryAfterMs: err.retryAfterMs, message: err.message,
        }), noop);
      } catch {
        // The transport is already gone; closing below is all that is left.
      }
    }
    this.#finish(err, err.wireCode < CLOSE_CODE_SPAN ? CLOSE_CODE_BASE + err.wireCode : CLOSE_CODE_BASE + WireCode.INTERNAL, err.code, terminate);
  }

  #finish(err: HtnError | undefined, code: number, reason: string, terminate = false): void {
    if (this.#state === State.CLOSED) return;
    this.#cleanup(err);
    try {
      if (terminate) this.#transport.terminate();
      else this.#transport.close(code, reason);
    } catch {
      // Never let a transport's close path throw out of the session.
    }
    this.#emitClose(err);
  }

  #onTransportClose(code: number, reason: string, error?: Error): void {
    if (this.#state === State.CLOSED) return;
    let err: HtnError | undefined;
    if (code > CLOSE_CODE_BASE && code < CLOSE_CODE_BASE + CLOSE_CODE_SPAN) {
      const wire = code - CLOSE_CODE_BASE;
      err = new HtnError(htnSessionCode(wire), `peer closed the session (${reason || 'no reason'})`, { wireCode: wire, remote: true });
    } else if (code === CLOSE_NORMAL && this.#state === State.OPEN && this.#streams.size === 0 && this.draining) {
      err = undefined;
    } else if (code === CLOSE_NORMAL && this.#state === State.OPEN && this.draining) {
      err = new HtnError(HtnErrorCode.SESSION_CLOSED, 'peer closed the session while streams were open');
    } else {
      err = new HtnError(HtnErrorCode.TRANSPORT, `transport closed (code ${code}${reason ? `, ${reason}` : ''})${error ? `: ${error.message}` : ''}`, { cause: error });
    }
    this.#cleanup(err);
    this.#emitClose(err);
  }

  #cleanup(err: HtnError | undefined): void {
    this.#state = State.CLOSED;
    this.#budget.active = false;
    this.#closeError = err;
    this.#heartbeat.stop();
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
    this.#scheduler.stop();
    const streamErr = err ?? new HtnError(HtnErrorCode.SESSION_CLOSED, 'session closed');
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#localOpen = 0;
    this.#remoteOpen = 0;
    for (const s of streams) {
      s.abort(new HtnError(streamErr.code === HtnErrorCode.SESSION_CLOSED ? HtnErrorCode.SESSION_CLOSED : streamErr.code,
        `stream ${s.id} aborted: ${streamErr.message}`, { wireCode: streamErr.wireCode, remote: streamErr.remote, cause: streamErr }));
    }
    for (const { stream } of this.#pendingOpens) stream.abort(streamErr);
    this.#pendingOpens = [];
  }

  #emitClose(err: HtnError | undefined): void {
    if (err) this.#rejectReady(err);
    this.#resolveClosed(err);
    this.emit('close', err);
  }
}

function protocolError(message: string): HtnError {
  return new HtnError(HtnErrorCode.PROTOCOL, message);
}

/** Map a GOAWAY/close wire code to a session-level error code. */
function htnSessionCode(wire: number): typeof HtnErrorCode[keyof typeof HtnErrorCode] {
  if (wire === WireCode.CANCEL) return HtnErrorCode.SESSION_CLOSED;
  if (wire === WireCode.REFUSED) return HtnErrorCode.GOING_AWAY;
  return htnCodeOf(wire);
}

function sessionOnHandshakeTimeout(session: Session): void {
  session.handshakeTimedOut();
}

function sessionOnDrainTimeout(session: Session): void {
  session.drainTimedOut();
}

function noop(): void {}
