/**
 * Which replica holds each cluster's tunnel: the seam between the lease
 * store (fleet/ leases, fed by PostgreSQL notifications) and the parts that
 * act on it (the tunnel registry claims and releases, the relay routes, the
 * peer listener fences). One replica on the embedded store has a local
 * implementation with the same shape, so nothing above it knows the
 * difference.
 */

/** What a forwarding replica must know of the owner's agent before it opens a stream there. */
export interface LeasedAgent {
  readonly software: string;
  readonly capabilities: readonly string[];
  /** The agent's HELLO settings.maxHeaderSize: the request head must fit it. */
  readonly maxHeaderSize: number;
}

/** The replica that holds a cluster's tunnel, as the lease says. */
export interface TunnelOwner {
  readonly clusterId: string;
  readonly replicaId: string;
  /** Where other replicas reach it: `https://host:port` of its peer listener. */
  readonly peerUrl: string;
  /** Bumped by every claim: a stale owner's epoch is lower, so it can be fenced. */
  readonly epoch: number;
  /** Lease expiry, ms since the epoch; past it nobody owns the tunnel. */
  readonly expiresAt: number;
  readonly agent: LeasedAgent;
}

export interface TunnelOwnership {
  /** This replica's id (stable for the process's life). */
  readonly replicaId: string;
  /**
   * The cluster's owner now, from a cache kept fresh by notifications (never
   * a query per request); undefined when no unexpired lease exists.
   */
  owner(clusterId: string): TunnelOwner | undefined;
  /**
   * Records that this replica now holds the cluster's tunnel (a ready
   * session): takes the lease from whoever had it, bumping the epoch, and
   * tells every replica. Resolves with the new epoch.
   */
  claim(clusterId: string, connectionId: string, agent: LeasedAgent): Promise<number>;
  /** Gives the lease up if this connection still holds it (the tunnel closed). */
  release(clusterId: string, connectionId: string): Promise<void>;
  /**
   * Fencing: true only while this replica holds an unexpired lease at the
   * epoch it claimed. Checked before serving a request as the owner.
   */
  holds(clusterId: string): boolean;
  /** Called when a lease this replica held is lost (taken over, or expired unrenewed): close the local tunnel. */
  onLost(fn: (clusterId: string, reason: string) => void): () => void;
  /** Releases every lease this replica holds and stops renewing. */
  close(): Promise<void>;
  /**
   * Records where other replicas reach this one (the peer listener, once
   * bound), so their owner() answers carry it. Absent on one replica.
   */
  advertise?(peerUrl: string): Promise<void>;
  /**
   * When this replica last saw the cluster's lease released or expired (ms
   * since the epoch), while nobody holds it: a reconnect is then due, so the
   * relay's "not connected" says Retry-After on every replica, not only on
   * the one that lost the tunnel.
   */
  lastGone?(clusterId: string): number | undefined;
  /**
   * How many other replicas are alive with a peer listener (a drain moves
   * its agents only when there is somewhere to move to). Absent on one replica.
   */
  otherReplicas?(): Promise<number>;
}
