import type { IncomingMessage } from 'node:http';
import { Session, fromWebSocket, type Transport, type TunnelStream } from '@hawser/protocol';
import { AgentPaths, ERROR_CODE_HEADER, REQUEST_HEAD_CAPABILITY, TunnelCloseCodes, meansDeregistered } from '@hawser/contract';
import { WebSocket } from 'ws';
import { AGENT_VERSION } from './agent-version.js';
import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import type { AgentFacts } from './registration.js';
import { serverConnector } from './server-connection.js';
import type { AgentState } from './state-store.js';

/** Opens the tunnel's transport to `url` (tests hand over one end of an in-memory pair). */
export type DialTransport = (url: URL, state: AgentState) => Transport;

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
    const transport = this.#opts.dialTransport?.(url, state) ?? this.#webSocket(url, state, (err) => refuse(err));
    const facts = this.#opts.facts();
    const session = new Session(this.#watchCloseCode(transport), {
      role: 'client',
      software: `hawser-agent/${AGENT_VERSION}`,
      // The server relays only to agents that read request heads (stream-head.ts).
      capabilities: [REQUEST_HEAD_CAPABILITY],
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
      handshakeTimeout: 15_000,
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
        refuse(new Error(`server refused the tunnel: ${res.statusCode} ${code} ${body.slice(0, 200)}`));
      });
    });
    return fromWebSocket(ws);
  }
}
