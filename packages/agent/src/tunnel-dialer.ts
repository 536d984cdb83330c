import type { IncomingMessage } from 'node:http';
import { HtnError, HtnErrorCode, MOVE_CAPABILITY, Session, fromWebSocket, type Transport, type TunnelStream } from '@hawser/protocol';
import { AgentPaths, ERROR_CODE_HEADER, REQUEST_HEAD_CAPABILITY, TunnelCloseCodes, meansDeregistered } from '@hawser/contract';
import { WebSocket } from 'ws';
import { AGENT_VERSION } from './agent-version.js';
import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import type { AgentFacts } from './registration.js';
import { serverConnector } from './server-connection.js';
import type { AgentState } from './state-store.js';

/**
 * Opens the tunnel's transport to `url` (tests hand over one end of an
 * in-memory pair). `refuse` ends the dial with an error, such as the one
 * {@link upgradeRefusal} makes of a refused upgrade.
 */
export type DialTransport = (url: URL, state: AgentState, refuse: (err: Error) => void) => Transport;

/** The server's hint to the millisecond (tunnel-endpoint.ts); Retry-After (seconds) is the fallback. */
const RETRY_AFTER_MS_HEADER = 'x-hawser-retry-after-ms';
/** A hint longer than this is read as this: a wrong header must not park the agent for hours. */
const MAX_HINT_MS = 300_000;

/**
 * The error a refused tunnel upgrade ends the dial with. A 503 with a
 * retry hint (a draining server: HSR_ERR_SERVER_DRAINING, Retry-After) carries it
 * as `retryAfterMs`, which the Reconnector waits out instead of backing off.
 */
export function upgradeRefusal(status: number | undefined, headers: IncomingMessage['headers'], body: string): HtnError {
  const code = String(headers[ERROR_CODE_HEADER] ?? '');
  let retryAfterMs: number | undefined;
  if (status === 503 || status === 429) {
    const ms = Number(headers[RETRY_AFTER_MS_HEADER]);
    const seconds = Number(headers['retry-after']);
    if (Number.isFinite(ms) && ms > 0) retryAfterMs = ms;
    else if (Number.isFinite(seconds) && seconds > 0) retryAfterMs = seconds * 1000;
    if (retryAfterMs !== undefined) retryAfterMs = Math.min(MAX_HINT_MS, Math.round(retryAfterMs));
  }
  return new HtnError(HtnErrorCode.TRANSPORT, `server refused the tunnel: ${status} ${code} ${body.slice(0, 200)}`, retryAfterMs === undefined ? {} : { retryAfterMs });
}

/**
 * How long a dial may take, from the first byte to the server's HELLO (the
 * TLS handshake, the upgrade, the server's admission and its HELLO). Longer
 * than the protocol's 10 s because a fleet reconnecting at once queues on
 * the server: an agent that gives up at 10 s wastes the handshake the server
 * already paid for and comes back only after a longer backoff (the storm of
 * docs/fleet-capacity.md lost 6,795 such attempts at 10 s).
 */
export const DIAL_TIMEOUT_MS = 30_000;

export interface TunnelDialerOptions {
  config: Pick<AgentConfig, 'proxy' | 'mode' | 'chartVersion'>;
  facts: () => AgentFacts;
  log: Logger;
  /** The test seam; production dials a WebSocket. */
  dialTransport?: DialTransport | undefined;
  /** The server said this cluster is deregistered: a 4403 close, or a refused upgrade with such a code. */
  onDeregistered: () => void;
  /** Each stream the server opens. */
  onStream: (stream: TunnelStream) => void;
}

/**
 * One tunnel dial: the transport (a WebSocket over TLS with the agent's
 * client certificate, through the proxy if any), watched for the server's
 * "deregistered" signals, and the protocol session on it.
 */
export class TunnelDialer {
  readonly #opts: TunnelDialerOptions;

  constructor(opts: TunnelDialerOptions) {
    this.#opts = opts;
  }

  /** A session on a fresh transport; aborting `signal` destroys it. */
  dial(state: AgentState, signal: AbortSignal): Session {
    const url = new URL(AgentPaths.TUNNEL, state.serverUrl);
    url.protocol = 'wss:';
    // Set once the session exists: a refused upgrade destroys it.
    let refuse = (_err: Error): void => {};
    const transport = this.#opts.dialTransport?.(url, state, (err) => refuse(err)) ?? this.#webSocket(url, state, (err) => refuse(err));
    const facts = this.#opts.facts();
    const session = new Session(this.#watchCloseCode(transport), {
      role: 'client',
      timings: { handshakeTimeoutMs: DIAL_TIMEOUT_MS },
      software: `hawser-agent/${AGENT_VERSION}`,
      // The server relays only to agents that read request heads (stream-head.ts);
      // a draining server asks agents that understand MOVE to move before it stops serving them.
      capabilities: [REQUEST_HEAD_CAPABILITY, MOVE_CAPABILITY],
      metadata: {
        ...(facts.clusterUID ? { clusterUid: facts.clusterUID } : {}),
        ...(facts.kubernetesVersion ? { kubernetesVersion: facts.kubernetesVersion } : {}),
        mode: this.#opts.config.mode,
        // What installed it: the server shows mode and chart version per cluster (`hawser cluster list`).
        ...(this.#opts.config.chartVersion ? { chartVersion: this.#opts.config.chartVersion } : {}),
      },
    });
    refuse = (err) => session.destroy(err);
    session.on('stream', (stream: TunnelStream) => this.#opts.onStream(stream));
    const onAbort = () => session.destroy(new Error('agent stopping'));
    signal.addEventListener('abort', onAbort, { once: true });
    void session.closed.then(() => signal.removeEventListener('abort', onAbort));
    return session;
  }

  /**
   * 4403 is how the server says "deregistered, stop"; noted before the
   * session (and so the reconnect loop) learns that the tunnel closed.
   */
  #watchCloseCode(transport: Transport): Transport {
    return {
      start: (handlers) =>
        transport.start({
          ...handlers,
          onClose: (code, reason, error) => {
            if (code === TunnelCloseCodes.DEREGISTERED) {
              this.#opts.log.warn({ reason }, 'the server closed the tunnel: cluster deregistered');
              this.#opts.onDeregistered();
            }
            handlers.onClose(code, reason, error);
          },
        }),
      send: (data, cb) => transport.send(data, cb),
      get bufferedAmount() {
        return transport.bufferedAmount;
      },
      ping: () => transport.ping?.(),
      close: (code, reason) => transport.close(code, reason),
      terminate: () => transport.terminate(),
    };
  }

  /** The production transport: a WebSocket over TLS (and the proxy) with the agent's client certificate. */
  #webSocket(url: URL, state: AgentState, refuse: (err: Error) => void): Transport {
    const ws = new WebSocket(url, {
      createConnection: serverConnector(url, { ca: state.caBundle, cert: state.certificate, key: state.key }, this.#opts.config.proxy) as never,
      perMessageDeflate: false,
      // Masking guards browser-era proxies against cache poisoning; the agent
      // is no browser and the tunnel is TLS, and ws skips the per-byte XOR
      // for an all-zero key (docs/protocol.md: 50 MB body 92 -> 159 MB/s).
      generateMask: (mask: Buffer) => void mask.fill(0),
      handshakeTimeout: DIAL_TIMEOUT_MS,
      maxPayload: 2 * 1024 * 1024,
      headers: { 'user-agent': `hawser-agent/${AGENT_VERSION}` },
    });
    ws.on('unexpected-response', (_req: unknown, res: IncomingMessage) => {
      const code = String(res.headers[ERROR_CODE_HEADER] ?? '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (meansDeregistered(code)) this.#opts.onDeregistered();
        refuse(upgradeRefusal(res.statusCode, res.headers, body));
      });
    });
    return fromWebSocket(ws);
  }
}
