import type { Session, TunnelStream } from '@hawser/protocol';
import type { RelayTunnel, TunnelDirectory } from '../relay/relay-options.js';
import { encodeEnvelope, envelopeOverhead } from './peer-envelope.js';
import { PEER_SESSION_LIMITS } from './peer-session.js';
import type { PeerAddress } from './peer-dialer.js';
import type { TunnelOwner, TunnelOwnership } from './tunnel-ownership.js';

export interface FleetDirectoryOptions {
  /** This replica's own agent tunnels (the tunnel registry). */
  local: TunnelDirectory;
  ownership: Pick<TunnelOwnership, 'replicaId' | 'owner' | 'lastGone'>;
  dialer: { session(peer: PeerAddress): Session | undefined; failedAt(replicaId: string): number | undefined };
  /** When this replica began routing (Date.now()); default: construction. */
  startedAt?: number;
}

/**
 * A cluster's tunnel on another replica, as the relay sees it: the agent's
 * facts come from the lease (what it announced when it claimed), streams
 * open on the peer session with the envelope in front of the request head.
 */
export class PeerTunnel implements RelayTunnel {
  readonly #session: Session;
  readonly #owner: TunnelOwner;
  readonly peer: RelayTunnel['peer'];

  constructor(session: Session, owner: TunnelOwner) {
    this.#session = session;
    this.#owner = owner;
    // The head must fit the agent's limit and, with the envelope, the peer session's.
    const room = (PEER_SESSION_LIMITS.maxHeaderSize ?? 0) - envelopeOverhead(owner.clusterId);
    this.peer = {
      software: owner.agent.software,
      capabilities: owner.agent.capabilities,
      settings: { maxHeaderSize: Math.min(owner.agent.maxHeaderSize, room) },
    };
  }

  get forwardedTo(): string {
    return this.#owner.replicaId;
  }

  get isClosed(): boolean {
    return this.#session.isClosed;
  }

  get draining(): boolean {
    return this.#session.draining;
  }

  openStream(payload: Uint8Array): TunnelStream {
    return this.#session.openStream(encodeEnvelope(this.#owner.clusterId, this.#owner.epoch, payload));
  }
}

/**
 * The relay's TunnelDirectory on a replica of a fleet: this replica's own
 * tunnel when it has one, else the owner the lease names (from the
 * notification-fed cache: no query per request), reached over the peer
 * session to that replica.
 */
export class FleetDirectory implements TunnelDirectory {
  readonly #o: FleetDirectoryOptions;

  readonly #startedAt: number;

  constructor(options: FleetDirectoryOptions) {
    this.#o = options;
    this.#startedAt = options.startedAt ?? Date.now();
  }

  session(clusterId: string): RelayTunnel | undefined {
    const local = this.#o.local.session(clusterId);
    if (local && !local.isClosed) return local;
    const owner = this.#o.ownership.owner(clusterId);
    if (!owner || owner.replicaId === this.#o.ownership.replicaId) return local;
    // An owner that has not advertised a peer listener (yet) cannot be reached: "not connected", retry.
    if (!owner.peerUrl) return undefined;
    const session = this.#o.dialer.session(owner);
    return session && new PeerTunnel(session, owner);
  }

  /**
   * A tunnel lost here, or an owner that exists but cannot be reached now:
   * either way a retry shortly is worth it (the relay adds Retry-After).
   */
  lastLost(clusterId: string): number | undefined {
    const lost = this.#o.local.lastLost?.(clusterId);
    if (lost !== undefined) return lost;
    const owner = this.#o.ownership.owner(clusterId);
    if (owner && owner.replicaId !== this.#o.ownership.replicaId) return this.#o.dialer.failedAt(owner.replicaId);
    // No owner: the lease was released or expired elsewhere a moment ago, and the agent is on its way back.
    const gone = this.#o.ownership.lastGone?.(clusterId);
    if (gone !== undefined || owner) return gone;
    // No owner and no release seen: a replica that started a moment ago saw
    // no release because it was not listening yet (a rolling restart moves
    // tunnels while replicas come up), so its start counts as the last news.
    return this.#startedAt;
  }
}
