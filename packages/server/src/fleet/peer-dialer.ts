import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { Backoff, type BackoffOptions, type Session, type TunnelStream } from '@hawser/protocol';
import { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import { openPeerSession, PEER_TUNNEL_PATH, type PeerSessionOptions } from './peer-session.js';
import { replicaIdOfCertificate, type ReplicaIdentity } from './replica-certificate.js';

export interface PeerDialerOptions extends PeerSessionOptions {
  identity: ReplicaIdentity;
  /** The CA bundle the peer's serving certificate must chain to. */
  trust: () => readonly string[];
  log: Logger;
  /** Redial spacing after a failed or lost peer session. Default {@link PEER_BACKOFF}. */
  backoff?: BackoffOptions;
}

/** The replica to reach: its id (what its certificate must name) and its peer listener. */
export interface PeerAddress {
  readonly replicaId: string;
  readonly peerUrl: string;
}

interface PeerLink {
  url: string;
  session: Session | undefined;
  readonly backoff: Backoff;
  /** No new dial before this time (ms since the epoch). */
  retryAt: number;
  /** When the last dial or session failed, while it has not recovered. */
  failedAt: number | undefined;
}

/**
 * One peer Session per other replica, dialed on first need over mTLS with
 * this replica's certificate. The peer must present a chain to our CA, a
 * name matching its peer URL, and a replica certificate naming the replica
 * id the lease names: a certificate of another replica, an agent's or a
 * serving certificate is refused during the TLS handshake. A lost or
 * failed session is redialed on the next request after the protocol's
 * backoff; `close()` drains every session (streams finish, then it ends).
 */
/**
 * Redial spacing between replicas: 100 ms doubling to 2 s, full jitter.
 * Not the agents' 30 s cap: a fleet has a handful of replicas, and a peer
 * that restarted (a rolling restart, a kill -9) must be reachable again at
 * once, or requests for the tunnels it now holds are answered "not
 * connected" for as long as the backoff has grown.
 */
export const PEER_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 100, maxMs: 2_000 });

export class PeerDialer {
  readonly #o: PeerDialerOptions;
  readonly #links = new Map<string, PeerLink>();
  #closed = false;

  constructor(options: PeerDialerOptions) {
    this.#o = options;
  }

  /**
   * The session to `peer`, dialing when there is none; undefined while a
   * redial waits out its backoff (or after close). A returned session may
   * still be in its handshake: streams opened on it wait for it.
   */
  session(peer: PeerAddress): Session | undefined {
    if (this.#closed) return undefined;
    let link = this.#links.get(peer.replicaId);
    if (link && link.url !== peer.peerUrl) {
      // The replica restarted elsewhere under the same id: the old session leads nowhere.
      link.session?.destroy(new Error('peer moved to a new address'));
      link.session = undefined;
      link.url = peer.peerUrl;
      link.retryAt = 0;
    }
    if (!link) {
      link = { url: peer.peerUrl, session: undefined, backoff: new Backoff(this.#o.backoff ?? PEER_BACKOFF), retryAt: 0, failedAt: undefined };
      this.#links.set(peer.replicaId, link);
    }
    const current = link.session;
    if (current && !current.isClosed && !current.draining) return current;
    if (Date.now() < link.retryAt) return undefined;
    try {
      return this.#dial(peer.replicaId, link);
    } catch (err) {
      // A peer URL that is no URL (a bad --peer-advertise on that replica): wait like any failed dial.
      this.#o.log.warn({ peerReplica: peer.replicaId, peerUrl: link.url, err: (err as Error).message }, 'peer replica cannot be dialed');
      link.failedAt ??= Date.now();
      link.retryAt = Date.now() + link.backoff.next();
      return undefined;
    }
  }

  /** When reaching `replicaId` last failed, while it has not recovered since. */
  failedAt(replicaId: string): number | undefined {
    return this.#links.get(replicaId)?.failedAt;
  }

  #dial(replicaId: string, link: PeerLink): Session {
    const { certPem, keyPem } = this.#o.identity.current;
    const url = new URL(PEER_TUNNEL_PATH, link.url);
    const log = this.#o.log.child({ peerReplica: replicaId, peerUrl: link.url });
    const ws = new WebSocket(url, {
      ca: [...this.#o.trust()],
      cert: certPem,
      key: keyPem,
      minVersion: 'TLSv1.2',
      // The host name as usual, and then who it is: the replica the lease
      // names. (ws types this option after an old signature; tls.connect gets it as is.)
      checkServerIdentity: ((host: string, cert: PeerCertificate) =>
        checkServerIdentity(host, cert) ??
        (replicaIdOfCertificate(cert, 'server') === replicaId ? undefined : new Error(`peer at ${link.url} is not replica ${replicaId}`))) as never,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      maxPayload: 2 * 1024 * 1024,
      // As the agent does: TLS protects the bytes, a zero mask skips ws's per-byte XOR.
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    const session = openPeerSession(ws, 'client', this.#o);
    // Streams go from the dialer to the owner only.
    session.on('stream', (stream: TunnelStream) => stream.destroy(new Error('peer streams are opened by the dialing replica')));
    link.session = session;
    let ready = false;
    void session.ready.then(
      () => {
        ready = true;
        link.backoff.connected();
        link.failedAt = undefined;
        log.info('peer session ready');
      },
      () => undefined,
    );
    void session.closed.then((err) => {
      if (link.session === session) link.session = undefined;
      link.backoff.disconnected();
      if (!ready || err) {
        link.failedAt ??= Date.now();
        link.retryAt = Date.now() + link.backoff.next();
      }
      log[ready ? 'info' : 'warn']({ err: err?.message }, ready ? 'peer session closed' : 'peer session could not be opened');
    });
    return session;
  }

  /** Drain: open forwarded streams finish (within `timeoutMs`, default the session's drain deadline); no new dials. */
  async close(timeoutMs?: number): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#links.values()].map((l) => l.session?.goAway({ message: 'replica draining', ...(timeoutMs !== undefined ? { timeoutMs } : {}) })));
  }

  /** Abort every peer session at once. */
  destroy(): void {
    this.#closed = true;
    for (const l of this.#links.values()) l.session?.destroy(new Error('replica stopped'));
  }
}
