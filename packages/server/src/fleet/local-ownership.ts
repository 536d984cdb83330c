import type { LeasedAgent, TunnelOwner, TunnelOwnership } from './tunnel-ownership.js';

interface LocalLease {
  readonly connectionId: string;
  readonly epoch: number;
  readonly agent: LeasedAgent;
}

/**
 * TunnelOwnership for one replica (the embedded store, which a second
 * replica cannot share): this replica owns a cluster's tunnel exactly while
 * its registry holds a ready session for it. Nothing expires and nothing is
 * taken over by another replica, so onLost never fires; epochs still grow
 * with each claim so fencing code behaves as on PostgreSQL.
 */
export class LocalOwnership implements TunnelOwnership {
  readonly replicaId: string;
  readonly #leases = new Map<string, LocalLease>();
  #epoch = 0;

  constructor(replicaId: string) {
    this.replicaId = replicaId;
  }

  owner(clusterId: string): TunnelOwner | undefined {
    const l = this.#leases.get(clusterId);
    if (!l) return undefined;
    return { clusterId, replicaId: this.replicaId, peerUrl: '', epoch: l.epoch, expiresAt: Number.MAX_SAFE_INTEGER, agent: l.agent };
  }

  claim(clusterId: string, connectionId: string, agent: LeasedAgent): Promise<number> {
    const epoch = ++this.#epoch;
    this.#leases.set(clusterId, { connectionId, epoch, agent });
    return Promise.resolve(epoch);
  }

  release(clusterId: string, connectionId: string): Promise<void> {
    if (this.#leases.get(clusterId)?.connectionId === connectionId) this.#leases.delete(clusterId);
    return Promise.resolve();
  }

  holds(clusterId: string): boolean {
    return this.#leases.has(clusterId);
  }

  onLost(): () => void {
    return () => undefined;
  }

  close(): Promise<void> {
    this.#leases.clear();
    return Promise.resolve();
  }
}
