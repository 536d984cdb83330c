import type { ServerReplicaRecord, TunnelLeaseRecord } from '../store/store.js';
import type { LeaseNotice } from './lease-notice.js';
import type { LeasedAgent, TunnelOwner } from './tunnel-ownership.js';

interface CachedLease {
  readonly clusterId: string;
  readonly replicaId: string;
  readonly connectionId: string;
  readonly epoch: number;
  /** Local clock: computed from the time to live the database reported, so no clock is compared with another host's. */
  expiresAt: number;
  readonly agent: LeasedAgent;
}

/** A LeasedAgent from stored or notified JSON; unknown fields get safe defaults. */
export function leasedAgent(v: unknown): LeasedAgent {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  return {
    software: typeof o.software === 'string' ? o.software : '',
    capabilities: Array.isArray(o.capabilities) ? o.capabilities.filter((c): c is string => typeof c === 'string') : [],
    maxHeaderSize: typeof o.maxHeaderSize === 'number' ? o.maxHeaderSize : 0,
  };
}

/**
 * Every replica's view of who holds which tunnel: loaded with one SELECT,
 * then kept fresh by notifications, so `owner()` never queries. Claims are
 * ordered by epoch, not by arrival: a notification that arrives late never
 * replaces a newer claim. A reload (after the LISTEN connection came back)
 * replaces everything, then re-applies the notifications that arrived while
 * it ran, so nothing sent in that window is lost.
 */
export class OwnerCache {
  readonly #leases = new Map<string, CachedLease>();
  readonly #byReplica = new Map<string, Set<string>>();
  readonly #peers = new Map<string, string>();
  /** When each cluster's lease was last released (local clock), for lastGone. */
  readonly #gone = new Map<string, number>();
  /** Notices seen while a reload runs; undefined when none runs. */
  #buffer: { notice: LeaseNotice; at: number }[] | undefined;

  owner(clusterId: string, now = Date.now()): TunnelOwner | undefined {
    const l = this.#leases.get(clusterId);
    if (!l || l.expiresAt <= now) return undefined;
    return {
      clusterId,
      replicaId: l.replicaId,
      peerUrl: this.#peers.get(l.replicaId) ?? '',
      epoch: l.epoch,
      expiresAt: l.expiresAt,
      agent: l.agent,
    };
  }

  /** When the cluster's lease was released or expired, while nobody holds it; undefined while it is held or was never seen. */
  goneAt(clusterId: string, now = Date.now()): number | undefined {
    const l = this.#leases.get(clusterId);
    if (l) return l.expiresAt <= now ? l.expiresAt : undefined;
    return this.#gone.get(clusterId);
  }

  /** The newest epoch known for the cluster, expired or not (0: none). */
  epoch(clusterId: string): number {
    return this.#leases.get(clusterId)?.epoch ?? 0;
  }

  /** Where a replica's peer listener is, as it advertised it. */
  peerUrl(replicaId: string): string | undefined {
    return this.#peers.get(replicaId);
  }

  /** Replicas that advertised a peer listener, other than `self`. */
  replicasOtherThan(self: string): number {
    return [...this.#peers.keys()].filter((id) => id !== self).length;
  }

  /** Number of cached leases (expired ones included until replaced or released). */
  get size(): number {
    return this.#leases.size;
  }

  apply(notice: LeaseNotice, now = Date.now()): void {
    this.#buffer?.push({ notice, at: now });
    switch (notice.k) {
      case 'lease':
        this.#put({ clusterId: notice.c, replicaId: notice.r, connectionId: notice.n, epoch: notice.e, expiresAt: now + notice.ms, agent: leasedAgent(notice.a) });
        return;
      case 'released': {
        const l = this.#leases.get(notice.c);
        if (l && l.replicaId === notice.r && l.epoch <= notice.e) {
          this.#drop(l);
          if (this.#gone.size > 10_000) this.#gone.clear();
          this.#gone.set(notice.c, now);
        }
        return;
      }
      case 'renewed':
        for (const id of this.#byReplica.get(notice.r) ?? []) {
          const l = this.#leases.get(id);
          if (l) l.expiresAt = Math.max(l.expiresAt, now + notice.ms);
        }
        return;
      case 'replica':
        this.#peers.set(notice.r, notice.u);
        return;
      case 'replica-gone':
        this.#peers.delete(notice.r);
        return;
      case 'event':
        return;
    }
  }

  /** Records a lease read from the store (this replica's own claim, before its notification arrives). */
  record(lease: TunnelLeaseRecord, now = Date.now()): void {
    this.#put({ ...lease, expiresAt: now + lease.remainingMs, agent: leasedAgent(lease.agent) });
  }

  /** Drops a cluster's entry (its lease row was deleted without a notice); true when there was one. */
  forget(clusterId: string): boolean {
    const l = this.#leases.get(clusterId);
    if (l) this.#drop(l);
    return l !== undefined;
  }

  /** Starts a reload: notifications from now on are kept to re-apply over its result. */
  beginLoad(): void {
    this.#buffer = [];
  }

  /**
   * Replaces everything with what the store holds, then re-applies what
   * arrived meanwhile. Returns the clusters whose owner or epoch changed.
   */
  finishLoad(leases: readonly TunnelLeaseRecord[], replicas: readonly ServerReplicaRecord[], now = Date.now()): string[] {
    const before = new Map([...this.#leases].map(([id, l]) => [id, `${l.replicaId}@${l.epoch}`]));
    const buffered = this.#buffer ?? [];
    this.#buffer = undefined;
    this.#leases.clear();
    this.#byReplica.clear();
    this.#peers.clear();
    for (const r of replicas) this.#peers.set(r.id, r.peerUrl);
    for (const l of leases) this.record(l, now);
    for (const b of buffered) this.apply(b.notice, b.at);
    const changed = [...before.keys()].filter((id) => !this.#leases.has(id));
    for (const [id, l] of this.#leases) if (before.get(id) !== `${l.replicaId}@${l.epoch}`) changed.push(id);
    return changed;
  }

  /** A failed reload: the notifications kept so far were applied already. */
  abandonLoad(): void {
    this.#buffer = undefined;
  }

  #put(next: CachedLease): void {
    const prev = this.#leases.get(next.clusterId);
    if (prev && prev.epoch > next.epoch) return;
    if (prev) this.#drop(prev);
    this.#leases.set(next.clusterId, next);
    let set = this.#byReplica.get(next.replicaId);
    if (!set) this.#byReplica.set(next.replicaId, (set = new Set()));
    set.add(next.clusterId);
  }

  #drop(l: CachedLease): void {
    this.#leases.delete(l.clusterId);
    const set = this.#byReplica.get(l.replicaId);
    set?.delete(l.clusterId);
    if (set?.size === 0) this.#byReplica.delete(l.replicaId);
  }
}
