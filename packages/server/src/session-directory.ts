import { Session, fromWebSocket, type PeerInfo, type Transport } from '@hawser/protocol';
import type { TunnelDirectory } from './cluster-relay.js';
import type { TunnelContext, TunnelHandler, TunnelSession } from './tunnel-handler.js';

export interface SessionDirectoryOptions {
  /** Our software string in the handshake, e.g. `hawser/0.1.0`. */
  software: string;
  /**
   * Called once the agent's handshake is in, before its session is used: a
   * returned refusal closes the tunnel with that WebSocket code and reason.
   */
  admit?(context: TunnelContext, peer: PeerInfo): Promise<{ code: number; reason: string } | undefined>;
  /** Called once the agent's handshake is in and admitted, with what it said about itself. */
  onReady?(context: TunnelContext, peer: PeerInfo): void | Promise<void>;
  /** Hint sent with a drain's go-away: come back after this many ms. Default 1000. */
  drainRetryAfterMs?: number;
}

/**
 * The protocol side of agent tunnels: runs a tunnel Session on every
 * accepted agent WebSocket and keeps the live one per cluster, which the
 * relay looks up for each operator request. A newer tunnel from the same
 * cluster replaces an older one (the agent reconnected before the server
 * noticed the old one die).
 */
export class SessionDirectory implements TunnelHandler, TunnelDirectory {
  readonly #opts: SessionDirectoryOptions;
  readonly #sessions = new Map<string, Session>();

  constructor(opts: SessionDirectoryOptions) {
    this.#opts = opts;
  }

  session(clusterId: string): Session | undefined {
    return this.#sessions.get(clusterId);
  }

  get size(): number {
    return this.#sessions.size;
  }

  open(context: TunnelContext): TunnelSession {
    const { socket: ws, cluster, log } = context;
    // Server-initiated closes must reach the agent with their own WebSocket
    // close code (1001 drain, 4403 deregistered), whatever code the session
    // would close with; the agent decides how to retry from it.
    let closeAs: { code: number; reason: string } | undefined;
    const transport = fromWebSocket(ws);
    const wrapped: Transport = {
      start: (handlers) => transport.start(handlers),
      send: (data, cb) => transport.send(data, cb),
      get bufferedAmount() {
        return transport.bufferedAmount;
      },
      ping: () => transport.ping?.(),
      close: (code, reason) => transport.close(closeAs?.code ?? code, closeAs?.reason ?? reason),
      terminate: () => transport.terminate(),
    };
    const session = new Session(wrapped, { role: 'server', software: this.#opts.software });
    // Operators' requests are opened by us; an agent never opens streams.
    session.on('stream', (stream: { destroy(err?: Error): void }) => stream.destroy(new Error('agents may not open streams')));
    session.ready.then(
      async (peer) => {
        const refusal = await this.#opts.admit?.(context, peer);
        if (refusal) {
          closeAs = refusal;
          session.destroy(new Error(refusal.reason));
          return;
        }
        const previous = this.#sessions.get(cluster.id);
        this.#sessions.set(cluster.id, session);
        if (previous && previous !== session) previous.destroy(new Error('superseded by a newer tunnel'));
        log.info({ peer: peer.software, version: peer.version, metadata: peer.metadata }, 'tunnel session ready');
        await this.#opts.onReady?.(context, peer);
      },
      (err: Error) => log.warn({ err: err.message }, 'tunnel handshake failed'),
    );
    void session.closed.then((err) => {
      if (this.#sessions.get(cluster.id) === session) this.#sessions.delete(cluster.id);
      log.info({ err: err?.message }, 'tunnel session closed');
    });
    return {
      close: async (code: number, reason: string) => {
        closeAs = { code, reason };
        if (code === 1001) {
          // Drain: no new streams; open ones get the session's drain deadline.
          await session.goAway({ retryAfterMs: this.#opts.drainRetryAfterMs ?? 1000, message: reason });
          return;
        }
        session.destroy(new Error(reason));
      },
    };
  }
}
