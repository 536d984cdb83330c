/**
 * One agent of the swarm (swarm-worker.ts runs thousands): the agent's own
 * TunnelDialer (so the HELLO is byte for byte what hawser-agent sends: its
 * software, the request-head capability, its metadata) under the agent's own
 * Reconnector and backoff (base 500 ms, cap 30 s, full jitter, as agent.ts
 * sets them). Only the transport is the bench's, through the dialer's test
 * seam: the same WebSocket over TLS with this agent's client certificate,
 * from a chosen 127.0.0.x source address (loopback has ~28k ports per
 * source address) and with a TLS context built once per agent, not per dial.
 * Streams get a tiny canned response instead of a relay to an API server.
 */
import { connect, createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { fromWebSocket, Reconnector, type Session, type TunnelStream } from '../../packages/protocol/src/index.js';
import { DIAL_TIMEOUT_MS, TunnelDialer, upgradeRefusal } from '../../packages/agent/src/tunnel-dialer.js';
import type { AgentState } from '../../packages/agent/src/state-store.js';
import { encodeResponseHead } from '../../packages/contract/src/stream-head.js';

/** What one swarm agent tells its worker. */
export interface SwarmAgentEvents {
  ready(agent: SwarmAgent): void;
  down(agent: SwarmAgent): void;
  /** A refused or failed dial / a closed session, in a few words (the tally's key). */
  failure(kind: string): void;
}

/** The canned answer to every stream: a small JSON body, like `GET /version`. */
const CANNED_BODY = Buffer.from(JSON.stringify({ major: '1', minor: '36', gitVersion: 'v1.36.0', platform: 'linux/amd64' }));
const CANNED = Buffer.concat([
  encodeResponseHead({ v: 1, status: 200, statusText: 'OK', headers: [['content-type', 'application/json'], ['content-length', String(CANNED_BODY.length)]] }),
  CANNED_BODY,
]);

const quietLog = { warn: () => undefined, info: () => undefined, debug: () => undefined, error: () => undefined };

export class SwarmAgent {
  readonly #state: AgentState;
  readonly #context: SecureContext;
  readonly #localAddress: string;
  readonly #events: SwarmAgentEvents;
  readonly #reconnector: Reconnector;
  readonly #dialer: TunnelDialer;
  connected = false;

  constructor(opts: { state: AgentState; localAddress: string; events: SwarmAgentEvents }) {
    this.#state = opts.state;
    this.#localAddress = opts.localAddress;
    this.#events = opts.events;
    this.#context = createSecureContext({ ca: opts.state.caBundle, cert: opts.state.certificate, key: opts.state.key });
    this.#dialer = new TunnelDialer({
      config: { proxy: undefined, mode: 'read-only', chartVersion: undefined } as never,
      facts: () => ({ kubernetesVersion: 'v1.36.0', clusterUID: undefined }) as never,
      log: quietLog as never,
      dialTransport: (url, _state, refuse) => this.#transport(url, refuse),
      onDeregistered: () => this.#events.failure('deregistered (4403)'),
      onStream: (stream) => answer(stream),
    });
    this.#reconnector = new Reconnector({
      connect: (signal) => Promise.resolve(this.#dialer.dial(this.#state, signal)),
      backoff: { baseMs: 500, maxMs: 30_000 },
    });
    this.#reconnector.on('session', (session: Session) => {
      this.connected = true;
      this.#events.ready(this);
      void session.closed.then((err) => {
        this.connected = false;
        this.#events.down(this);
        this.#events.failure(`session closed${err ? `: ${err.message.slice(0, 60)}` : ' cleanly by the server'}`);
      });
    });
    this.#reconnector.on('retry', (err: unknown) => {
      // undefined: a session that was up closed (tallied above); refused upgrades: tallied by #transport with their status.
      if (err === undefined) return;
      const message = (err as Error).message;
      if (!message.includes('refused the tunnel')) this.#events.failure(`dial: ${dialFailure(message)}`);
    });
  }

  start(): void {
    this.#reconnector.start();
  }

  destroy(): void {
    this.#reconnector.destroy();
  }

  /** The WebSocket as TunnelDialer makes it, from this agent's source address. */
  #transport(url: URL, refuse: (err: Error) => void) {
    const ws = new WebSocket(url, {
      // localAddress passes through to net.connect (the tls typings leave it out).
      createConnection: () => connect({ host: url.hostname, port: Number(url.port), secureContext: this.#context, localAddress: this.#localAddress } as ConnectionOptions),
      perMessageDeflate: false,
      generateMask: (mask: Buffer) => void mask.fill(0),
      handshakeTimeout: DIAL_TIMEOUT_MS,
      maxPayload: 2 * 1024 * 1024,
      headers: { 'user-agent': 'hawser-agent/bench-swarm' },
    } as never);
    ws.on('unexpected-response', (_req: unknown, res: IncomingMessage) => {
      const retryAfter = res.headers['retry-after'];
      this.#events.failure(`refused ${res.statusCode} ${String(res.headers['x-hawser-error'] ?? '')}${retryAfter ? ` Retry-After ${String(retryAfter)}` : ' (no Retry-After)'}`);
      // As TunnelDialer does: the refusal (and its retry hint) ends the dial.
      res.resume();
      refuse(upgradeRefusal(res.statusCode, res.headers, ''));
      ws.terminate();
    });
    return fromWebSocket(ws);
  }
}

/** A failed dial in a few stable words (the tally's key). */
function dialFailure(message: string): string {
  if (message.includes('ECONNREFUSED')) return 'connection refused (server down)';
  if (message.includes('ECONNRESET')) return 'connection reset';
  if (message.includes('HANDSHAKE_TIMEOUT')) return 'no HELLO in time (HTN_ERR_HANDSHAKE_TIMEOUT)';
  if (message.includes('1006')) return `transport closed (1006) ${message.slice(message.lastIndexOf(':') + 1, 60).trim()}`;
  return message.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR').slice(0, 60);
}

function answer(stream: TunnelStream): void {
  stream.on('error', () => undefined);
  stream.resume();
  stream.end(CANNED);
}
