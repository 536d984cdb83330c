import { Session, fromWebSocket, type PeerInfo, type Transport } from '@hawser/protocol';
import type { TunnelDirectory } from '../relay/cluster-relay.js';
import type { TunnelContext, TunnelHandler, TunnelSession } from './tunnel-handler.js';
import { LeaseLostClose, leasedAgentOf } from '../fleet/lease-lost.js';
import type { TunnelOwnership } from '../fleet/tunnel-ownership.js';

/** One live agent tunnel on this replica. */
export interface TunnelConnection {
  readonly id: string;
  readonly clusterId: string;
  readonly clusterName: string;
  readonly connectedAt: Date;
  readonly remoteAddress: string | undefined;
  /** Fingerprint of the client certificate it was opened with. */
  readonly certificateFingerprint: string;
  /**
   * Closes the tunnel telling the agent why; resolves once the WebSocket is
   * closed (it is terminated if the agent does not complete the close
   * handshake within the grace period).
   */
  close(code: number, reason: string): Promise<void>;
}

export interface TunnelRegistryOptions {
  /** Our software string in the handshake, e.g. `hawser/0.1.0`. */
  software: string;
  /**
   * Called once the agent's handshake is in, before its session is used: a
   * returned refusal closes the tunnel with that WebSocket code and reason.
   */
  admit?(context: TunnelContext, peer: PeerInfo): Promise<{ code: number; reason: string } | undefined>;
  /** Called once the agent's handshake is in, with what it said about itself. */
  onReady?(context: TunnelContext, peer: PeerInfo): void | Promise<void>;
  /** Hint sent with a drain's go-away: come back after this many ms. Default 1000. */
  drainRetryAfterMs?: number;
  /**
   * The fleet's leases: a ready session claims its cluster, a closed one
   * releases it; a lease lost (or a claim refused) closes the tunnel with
   * 1012 so the agent reconnects to whichever replica the balancer picks.
   */
  ownership?: TunnelOwnership;
  /** How long a drain lets the tunnel's open streams finish before they are reset. Default: the session's (30 s). */
  drainTimeoutMs?: number;
  /**
   * Make-before-break on a drain (a fleet: another replica can take the
   * tunnel): agents that announced MOVE are asked to dial their next tunnel
   * while this one keeps serving, and get this long to do it before the
   * GOAWAY. 0 (the default: one server, nowhere to move to) sends GOAWAY at once.
   */
  moveWindowMs?: number;
}

/** Spread of the agents' next dials when a drain moves many at once: one per this many ms, within 80% of the move window. */
const MOVE_SPREAD_PER_TUNNEL_MS = 5;

/** The server could not decide on a tunnel (its store failed): 1011, and the agent reconnects with backoff. */
const AdmissionFailedClose = { code: 1011, reason: 'the server could not admit this tunnel now; reconnect' } as const;

/**
 * The one registry of live agent tunnels on this replica: the admin API
 * (`cluster list`), deregistration and drain, the relay and the metrics all
 * read it, so they cannot disagree about which clusters are connected.
 *
 * The tunnel endpoint adds a connection once it admitted the WebSocket and
 * removes it when the socket closes; as the TunnelHandler the registry also
 * runs the protocol Session on it, and a session that ends takes its
 * connection out of every view at the same moment. A newer tunnel from the
 * same cluster replaces an older one (the agent reconnected before the
 * server noticed the old one die).
 */
export class TunnelRegistry implements TunnelHandler, TunnelDirectory {
  readonly #opts: TunnelRegistryOptions;
  readonly #byCluster = new Map<string, Set<TunnelConnection>>();
  readonly #byId = new Map<string, TunnelConnection>();
  /** Sessions whose handshake completed, by connection id. */
  readonly #sessions = new Map<string, Session>();
  /** When each cluster's last session closed: a reconnect is expected shortly after. */
  readonly #lastLost = new Map<string, number>();
  /** Who wants to hear that a cluster's tunnel state changed (the console's live fleet view). */
  readonly #watchers = new Set<(clusterId: string) => void>();

  #moveSpreadMs = 0;
  /** The move window of the drain under way (0: GOAWAY at once). */
  #moveWindowMs = 0;

  constructor(opts: TunnelRegistryOptions = { software: 'hawser' }) {
    this.#opts = opts;
    opts.ownership?.onLost((clusterId) => void this.closeCluster(clusterId, LeaseLostClose.code, LeaseLostClose.reason));
  }

  add(connection: TunnelConnection): void {
    let set = this.#byCluster.get(connection.clusterId);
    if (!set) {
      set = new Set();
      this.#byCluster.set(connection.clusterId, set);
    }
    set.add(connection);
    this.#byId.set(connection.id, connection);
  }

  /** Takes a connection out of every view; safe to call more than once. */
  remove(connection: TunnelConnection): void {
    this.#byId.delete(connection.id);
    this.#sessions.delete(connection.id);
    const set = this.#byCluster.get(connection.clusterId);
    if (!set) return;
    set.delete(connection);
    if (set.size === 0) this.#byCluster.delete(connection.clusterId);
  }

  /** The newest live tunnel of a cluster (the one to route requests to). */
  get(clusterId: string): TunnelConnection | undefined {
    let newest: TunnelConnection | undefined;
    for (const c of this.#byCluster.get(clusterId) ?? []) {
      if (!newest || c.connectedAt >= newest.connectedAt) newest = c;
    }
    return newest;
  }

  list(clusterId?: string): TunnelConnection[] {
    if (clusterId !== undefined) return [...(this.#byCluster.get(clusterId) ?? [])];
    return [...this.#byCluster.values()].flatMap((set) => [...set]);
  }

  isConnected(clusterId: string): boolean {
    return this.#byCluster.has(clusterId);
  }

  /**
   * Calls `fn` with a cluster's id whenever its tunnel becomes ready (after
   * its agent info is recorded) or closes. Returns the unsubscribe function.
   */
  watch(fn: (clusterId: string) => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  #changed(clusterId: string): void {
    for (const fn of this.#watchers) {
      try {
        fn(clusterId);
      } catch {
        // A watcher's failure is its own; the registry goes on.
      }
    }
  }

  /** Number of live tunnels. */
  get size(): number {
    return this.#byId.size;
  }

  /** The relay's view: the session of the cluster's newest tunnel whose handshake completed. */
  /** When the cluster's last tunnel session closed (ms since the epoch), if one did. */
  lastLost(clusterId: string): number | undefined {
    return this.#lastLost.get(clusterId);
  }

  session(clusterId: string): Session | undefined {
    let newest: TunnelConnection | undefined;
    for (const c of this.#byCluster.get(clusterId) ?? []) {
      if (this.#sessions.has(c.id) && (!newest || c.connectedAt >= newest.connectedAt)) newest = c;
    }
    return newest && this.#sessions.get(newest.id);
  }

  /** Closes every tunnel of one cluster; resolves with how many were closed. */
  async closeCluster(clusterId: string, code: number, reason: string): Promise<number> {
    const connections = this.list(clusterId);
    await Promise.all(connections.map((c) => c.close(code, reason)));
    return connections.length;
  }

  /** Closes every tunnel (drain). */
  async closeAll(code: number, reason: string): Promise<number> {
    const connections = this.list();
    // Moving needs another replica to move to: a lone one (a single server on PostgreSQL) says GOAWAY at once.
    const window = this.#opts.moveWindowMs ?? 0;
    const others = window > 0 ? ((await this.#opts.ownership?.otherReplicas?.()) ?? 1) : 0;
    this.#moveWindowMs = others > 0 ? window : 0;
    this.#moveSpreadMs = Math.min(Math.floor(this.#moveWindowMs * 0.8), connections.length * MOVE_SPREAD_PER_TUNNEL_MS);
    await Promise.all(connections.map((c) => c.close(code, reason)));
    return connections.length;
  }

  /** TunnelHandler: runs the protocol Session on an admitted agent WebSocket. */
  open(context: TunnelContext): TunnelSession {
    const { socket: ws, cluster, connectionId, log } = context;
    // Server-initiated closes must reach the agent with their own WebSocket
    // close code (1001 drain, 4403 deregistered), whatever code the session
    // would close with; the agent decides how to retry from it.
    let closeAs: { code: number; reason: string } | undefined;
    // Set once the session serves requests: only losing such a one means a reconnect is due.
    let ready = false;
    // The lease claim in flight or done: a release must wait for it, or a late claim would outlive the tunnel.
    let claim: Promise<boolean> | undefined;
    const ownership = this.#opts.ownership;
    const clusterId = cluster.id;
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
        let refusal: { code: number; reason: string } | undefined;
        try {
          refusal = await this.#opts.admit?.(context, peer);
        } catch (err) {
          // The store failed (PostgreSQL restarting): this tunnel cannot be
          // admitted now, and a rejection here would be nobody's to handle.
          log.error({ err: (err as Error).message }, 'could not admit the tunnel; closing it so the agent reconnects');
          refusal = AdmissionFailedClose;
        }
        if (refusal) {
          closeAs = refusal;
          session.destroy(new Error(refusal.reason));
          return;
        }
        const connection = this.#byId.get(connectionId);
        if (!connection) return void session.destroy(new Error('tunnel closed during the handshake'));
        for (const older of this.list(cluster.id)) {
          if (older !== connection) this.#sessions.get(older.id)?.destroy(new Error('superseded by a newer tunnel'));
        }
        this.#sessions.set(connectionId, session);
        ready = true;
        if (ownership) {
          claim = ownership.claim(clusterId, connectionId, leasedAgentOf(peer)).then(
            () => true,
            (err: unknown) => {
              log.warn({ err: (err as Error).message, code: (err as { code?: string }).code }, 'could not claim the tunnel lease; closing the tunnel so the agent reconnects');
              closeAs = LeaseLostClose;
              session.destroy(new Error(LeaseLostClose.reason));
              return false;
            },
          );
          if (!(await claim)) return;
        }
        log.info({ peer: peer.software, version: peer.version, metadata: peer.metadata }, 'tunnel session ready');
        try {
          await this.#opts.onReady?.(context, peer);
        } catch (err) {
          // Bookkeeping (what the agent said of itself): the tunnel serves without it.
          log.warn({ err: (err as Error).message }, 'could not record the agent\'s information; the tunnel serves anyway');
        } finally {
          this.#changed(clusterId);
        }
      },
      (err: Error) => log.warn({ err: err.message }, 'tunnel handshake failed'),
    );
    void session.closed.then((err) => {
      // The tunnel is over for the relay; it is over for everyone else too.
      const connection = this.#byId.get(connectionId);
      // A ready session that was lost (not one this server ended for good,
      // such as a deregistration) is likely to come back within a heartbeat
      // window: the relay answers "not connected" with Retry-After then.
      if (ready && (closeAs === undefined || closeAs.code === 1001 || closeAs.code === LeaseLostClose.code)) this.#lastLost.set(clusterId, Date.now());
      if (ownership && claim) {
        void claim
          .then((held) => (held ? ownership.release(clusterId, connectionId) : undefined))
          .catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not release the tunnel lease; it expires by itself'));
      }
      if (connection) this.remove(connection);
      this.#changed(clusterId);
      log.info({ err: err?.message }, 'tunnel session closed');
    });
    return {
      close: async (code: number, reason: string) => {
        // A draining tunnel takes no new streams, and its agent's next tunnel
        // (on another replica) takes the lease: that must not cut the
        // requests still finishing here, which were admitted while it held it.
        if (closeAs?.code === 1001 && code === LeaseLostClose.code) return;
        closeAs = { code, reason };
        if (code === 1001) {
          const window = this.#moveWindowMs;
          if (window > 0 && session.move({ retryAfterMs: Math.floor(Math.random() * this.#moveSpreadMs), message: reason })) {
            // It keeps serving; the agent retires it (its own GOAWAY) once
            // its next tunnel is up elsewhere, and it closes when its
            // streams are done. One that has not moved in time gets GOAWAY.
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, window, false)));
            const moved = await Promise.race([session.closed.then(() => true), late]);
            clearTimeout(timer);
            if (moved) return;
            log.info({ windowMs: window }, 'the agent did not move in time; telling it to go away');
          }
          // Drain: no new streams; open ones get the session's drain deadline.
          const timeoutMs = this.#opts.drainTimeoutMs;
          await session.goAway({ retryAfterMs: this.#opts.drainRetryAfterMs ?? 1000, message: reason, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
          return;
        }
        session.destroy(new Error(reason));
      },
    };
  }
}
