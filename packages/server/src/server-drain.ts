import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TunnelStream } from '@hawser/protocol';
import { ErrorCodes } from './errors.js';
import { sendKubeStatus, writeKubeStatus, type Refusal } from './relay/kube-status.js';
import type { OperatorRequest, OperatorResponse } from './relay/operator-http.js';
import type { TunnelDirectory } from './relay/relay-options.js';
import { RELAY_PREFIX } from './relay/relay-route.js';
import type { Logger } from './log.js';


/** A relayed request that never finishes by itself: a watch, `logs -f`. */
interface Endless {
  readonly streams: Set<TunnelStream>;
}

export interface ServerDrainOptions {
  /** How long accepted requests get to finish once the drain began (`--drain-timeout`). */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Retry-After of the requests refused while draining, in seconds. Default 1: the load balancer has another replica. */
  readonly retryAfterSeconds?: number;
}

export interface DrainSteps {
  /** Tells every agent to go away (GOAWAY with a retry hint); resolves when their sessions closed. */
  goAwayAgents(): Promise<unknown>;
  /** Asks HTTP/2 clients to open new connections (GOAWAY) and lets idle HTTP/1 ones go. */
  closeIdleClients?(): void;
  /** Gives up this replica's tunnel leases so other replicas take them at once. */
  releaseLeases?(): Promise<void>;
  /**
   * Keep answering (503 to new requests) at least this long, even when
   * nothing is left to finish: a load balancer that checks /readyz every
   * second must see the 503 before the listeners close, or a connection it
   * sends in that moment is cut. Bounded by the drain timeout. Default 0.
   */
  lingerMs?: number;
}

/** What a drain did, for the log line and tests. */
export interface DrainReport {
  /** Watches and follows ended at the start. */
  readonly ended: number;
  /** Requests still running at the deadline (the close path cuts them). */
  readonly cut: number;
  readonly durationMs: number;
}

/** Paths a load balancer and Prometheus keep asking while the replica drains. */
const HEALTH = new Set(['/readyz', '/livez', '/healthz', '/metrics']);

/** `watch=true|1`, `follow=true|1` or the old `/watch/` paths: the relay streams these until the client leaves. */
function endless(url: string): boolean {
  if (!url.startsWith(RELAY_PREFIX)) return false;
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (/\/watch\//.test(path)) return true;
  return query >= 0 && /(?:^|&)(?:watch|follow)=(?:true|1)(?:&|$)/.test(url.slice(query + 1));
}

/**
 * The replica's drain on SIGTERM. From the first moment, requests that
 * were not accepted yet get 503 + Retry-After (HSR_ERR_SERVER_DRAINING)
 * while the listeners stay open, so a load balancer that has not noticed
 * `/readyz` yet sends the client a retry, not a refused connection.
 * Watches and follows this replica relays end at once (the relay ends a
 * watch whose tunnel stream fails with an in-stream ERROR event and a
 * clean end of the body; client-go re-lists through the load balancer);
 * agents get GOAWAY with a hint; what was accepted gets `timeoutMs` to
 * finish; then the leases go and the close path cuts what is left.
 */
export class ServerDrain {
  readonly #opts: ServerDrainOptions;
  readonly #endless = new AsyncLocalStorage<Endless>();
  readonly #live = new Set<Endless>();
  readonly #inFlight = new Set<OperatorResponse | Duplex>();
  #draining = false;
  /** Called once when the last accepted request finishes. */
  readonly #idleWaiters = new Set<() => void>();

  constructor(opts: ServerDrainOptions) {
    this.#opts = opts;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Requests accepted and not finished yet (upgrades included). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Puts the drain in front of a listener's request and upgrade handlers (call once they are all attached). */
  guard(server: EventEmitter): void {
    const requests = server.listeners('request') as ((req: OperatorRequest, res: OperatorResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: OperatorRequest, res: OperatorResponse) => {
      const url = req.url ?? '';
      if (HEALTH.has(url.split('?')[0]!)) return void requests.forEach((fn) => fn.call(server, req, res));
      if (this.#draining) {
        // An HTTP/1 client keeps no connection to a replica on its way out.
        if ('shouldKeepAlive' in res) res.shouldKeepAlive = false;
        return void sendKubeStatus(res, this.#refusal());
      }
      this.#track(res);
      const run = (): void => requests.forEach((fn) => fn.call(server, req, res));
      if (!endless(url)) return run();
      const entry: Endless = { streams: new Set() };
      this.#live.add(entry);
      res.once('close', () => this.#live.delete(entry));
      this.#endless.run(entry, run);
    });
    const upgrades = server.listeners('upgrade') as ((req: IncomingMessage, socket: Duplex, head: Buffer) => void)[];
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.#draining) {
        socket.on('error', () => socket.destroy());
        return void writeKubeStatus(socket, this.#refusal());
      }
      this.#track(socket);
      upgrades.forEach((fn) => fn.call(server, req, socket, head));
    });
  }

  /**
   * The relay's tunnel directory, seen through the drain: a stream opened
   * for a watch or follow is remembered, so the drain can end it. Every
   * other request gets the directory's own answer untouched.
   */
  directory(inner: TunnelDirectory): TunnelDirectory {
    const lastLost = inner.lastLost?.bind(inner);
    return {
      session: (clusterId) => {
        const tunnel = inner.session(clusterId);
        const entry = this.#endless.getStore();
        if (!tunnel || !entry) return tunnel;
        return new Proxy(tunnel, {
          get(target, prop) {
            const value: unknown = Reflect.get(target, prop, target);
            if (prop === 'openStream') {
              return (payload: Uint8Array) => {
                const stream = (value as (p: Uint8Array) => TunnelStream).call(target, payload);
                entry.streams.add(stream);
                stream.once('close', () => entry.streams.delete(stream));
                return stream;
              };
            }
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
      ...(lastLost ? { lastLost } : {}),
    };
  }

  /** Runs the drain once; later calls get the same report. */
  drain(steps: DrainSteps): Promise<DrainReport> {
    this.#running ??= this.#drain(steps);
    return this.#running;
  }

  #running: Promise<DrainReport> | undefined;

  async #drain(steps: DrainSteps): Promise<DrainReport> {
    const started = performance.now();
    this.#draining = true;
    const log = this.#opts.log;
    log.info({ inFlight: this.#inFlight.size, timeoutMs: this.#opts.timeoutMs }, 'draining: new requests get 503 with Retry-After');
    let ended = 0;
    for (const entry of this.#live) {
      for (const stream of entry.streams) {
        ended++;
        stream.destroy(new Error('the server is draining'));
      }
    }
    for (const target of this.#inFlight) {
      // An HTTP/1 connection with a request in flight closes after its answer.
      if ('shouldKeepAlive' in target) (target as ServerResponse).shouldKeepAlive = false;
    }
    steps.closeIdleClients?.();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#opts.timeoutMs);
      timer.unref();
    });
    const idle = this.#whenIdle();
    const agents = steps.goAwayAgents().catch((err: unknown) => log.warn({ err }, 'draining: agent go-away failed'));
    const linger = new Promise<void>((resolve) => setTimeout(resolve, Math.min(steps.lingerMs ?? 0, this.#opts.timeoutMs)).unref());
    await Promise.race([Promise.all([idle, agents, linger]), deadline]);
    clearTimeout(timer);
    const cut = this.#inFlight.size;
    await steps.releaseLeases?.().catch((err: unknown) => log.warn({ err }, 'draining: releasing the leases failed; they expire by themselves'));
    const report: DrainReport = { ended, cut, durationMs: Math.round(performance.now() - started) };
    log.info(report, cut ? `drained: ${cut} request(s) still running at the deadline are cut` : 'drained: every accepted request finished');
    return report;
  }

  /**
   * Resolves once no accepted request is left, or after `ms`. The close
   * path calls it between ending the tunnels and closing the connections:
   * a request whose tunnel just ended gets its 503 + Retry-After written in
   * a moment, and closing its connection first would turn that into a cut
   * (a load balancer answers a cut with 502).
   */
  settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)).unref());
    return Promise.race([this.#whenIdle(), deadline]).finally(() => clearTimeout(timer));
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
  }

  #track(target: OperatorResponse | Duplex): void {
    this.#inFlight.add(target);
    const done = (): void => {
      if (!this.#inFlight.delete(target)) return;
      if (this.#inFlight.size > 0) return;
      for (const wake of this.#idleWaiters) wake();
      this.#idleWaiters.clear();
    };
    target.once('close', done);
    target.once('finish', done);
  }

  #refusal(): Refusal {
    const seconds = this.#opts.retryAfterSeconds ?? 1;
    return {
      status: 503,
      code: ErrorCodes.SERVER_DRAINING,
      message: `this Hawser server is shutting down; retry in ${seconds} s (another replica answers)`,
      headers: { 'retry-after': String(seconds) },
    };
  }
}
