import { EventEmitter } from 'node:events';
import { Backoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import { HtnError, HtnErrorCode, isHtnError } from './errors.js';
import type { GoAwayInfo, MoveInfo, Session } from './session.js';

/** Options of {@link Reconnector}. */
export interface ReconnectorOptions {
  /** Dial and start a session (the agent's WebSocket + `new Session(...)`). Must honour `signal`. Required. */
  connect: (signal: AbortSignal) => Promise<Session>;
  /** Backoff policy or its options. Default `new Backoff()`. */
  backoff?: Backoff | BackoffOptions;
  /** Return false to stop for good (for example, the cluster was deregistered). Default: always retry. */
  shouldRetry?: (err: unknown) => boolean;
  /** Sleep used between attempts; injectable for tests. Default: an unref'd setTimeout. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Keeps one session alive on the agent side: connect, wait for the session
 * to end, back off (honouring a GOAWAY "come back after" hint), repeat.
 *
 * A GOAWAY hands over rather than waits: the old session keeps serving the
 * streams it has until the peer closes it, while the next session is dialed
 * after the hint (a draining server's requests in flight finish there, and
 * new ones reach the next server without waiting for the slowest of them).
 * A MOVE (announce MOVE_CAPABILITY to get them) is make-before-break: the
 * old session keeps taking new streams until the next one is up, then this
 * side retires it with its own GOAWAY.
 *
 * Events: `'session' (session)` each time one is ready;
 * `'retry' (err: unknown, delayMs: number)` before each wait;
 * `'stopped' (err?: unknown)` the loop ended (close(), or shouldRetry said no).
 */
export class Reconnector extends EventEmitter {
  #connect: (signal: AbortSignal) => Promise<Session>;
  #backoff: Backoff;
  #shouldRetry: (err: unknown) => boolean;
  #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  #abort = new AbortController();
  #session: Session | undefined;
  /** Sessions told to go away or to move, still finishing their streams. */
  readonly #draining = new Set<Session>();
  /** A session asked to move: it serves until the next one is ready, then is retired. */
  #moving: Session | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ReconnectorOptions) {
    super();
    if (typeof options?.connect !== 'function') throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "connect" must be a function');
    this.#connect = options.connect;
    this.#backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
    this.#shouldRetry = options.shouldRetry ?? alwaysRetry;
    this.#sleep = options.sleep ?? sleep;
  }

  /** Sessions that got a GOAWAY and still finish their open streams. */
  get drainingCount(): number {
    return this.#draining.size;
  }

  /** The live session, if any. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** Start the loop (idempotent). */
  start(): void {
    this.#running ??= this.#run().catch((err: unknown) => {
      // The loop itself must never reject unobserved.
      this.emit('stopped', err);
    });
  }

  /** Stop reconnecting and drain the live session. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.all([this.#session?.close(), ...[...this.#draining].map((s) => s.close())]);
    await this.#running;
  }

  /** Stop reconnecting and abort the live session. */
  destroy(err?: Error): void {
    this.#abort.abort();
    this.#session?.destroy(err);
    for (const s of this.#draining) s.destroy(err);
  }

  /** The next session is up: the one asked to move takes no new streams now and closes once its own are done. */
  #retireMoved(): void {
    const old = this.#moving;
    this.#moving = undefined;
    old?.goAway({ message: 'moved to a new session' }).catch(() => undefined);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let failure: unknown;
      let hint: number | undefined;
      let wasReady = false;
      let asked = false;
      try {
        const session = await this.#connect(signal);
        let goAway: GoAwayInfo | undefined;
        let moved: MoveInfo | undefined;
        const handOver = new Promise<undefined>((resolve) => {
          session.on('goaway', (info: GoAwayInfo) => {
            goAway = info;
            resolve(undefined);
          });
          session.on('move', (info: MoveInfo) => {
            moved = info;
            resolve(undefined);
          });
        });
        this.#session = session;
        await session.ready;
        wasReady = true;
        this.#backoff.connected();
        this.emit('session', session);
        this.#retireMoved();
        failure = await Promise.race([session.closed, handOver]);
        if ((goAway || moved) && !session.isClosed) {
          this.#draining.add(session);
          void session.closed.then(() => {
            this.#draining.delete(session);
            if (this.#moving === session) this.#moving = undefined;
          });
          if (moved && !goAway) {
            this.#moving = session;
            asked = true;
          }
        }
        this.#backoff.disconnected();
        hint = goAway?.retryAfterMs ?? moved?.retryAfterMs;
      } catch (err) {
        failure = err;
      }
      this.#session = undefined;
      if (isHtnError(failure) && failure.retryAfterMs !== undefined) hint = failure.retryAfterMs;
      if (signal.aborted) break;
      if (failure !== undefined && !this.#shouldRetry(failure)) {
        this.emit('stopped', failure);
        return;
      }
      // A dial refused with a hint (503 + Retry-After on the upgrade: a
      // draining server, a busy one) says when to come back: wait that, plus
      // up to a tenth more so a fleet told the same second does not return
      // in step, and do not grow the backoff (a busy server would otherwise
      // push its fleet to the 30 s cap). A GOAWAY hint ends a session that
      // was up: hint plus the jittered backoff, as before. A MOVE is no
      // failure either, and the old session serves until the next is up:
      // the server's hint already spreads its agents, so the hint plus up
      // to a tenth (at least 100 ms of jitter), never the grown backoff
      // (which after a few moves within a minute outlasted the server's
      // patience, and the server had to send GOAWAY after all).
      const delay = asked
        ? (hint ?? 0) + Math.floor(Math.random() * Math.max(100, (hint ?? 0) * 0.1))
        : !wasReady && hint !== undefined && hint > 0
          ? hint + Math.floor(Math.random() * hint * 0.1)
          : this.#backoff.next(hint);
      this.emit('retry', failure, delay);
      try {
        await this.#sleep(delay, signal);
      } catch {
        break;
      }
    }
    this.emit('stopped');
  }
}

function alwaysRetry(): boolean {
  return true;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
