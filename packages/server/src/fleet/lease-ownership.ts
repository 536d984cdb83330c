import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { FLEET_CHANNEL, parseLeaseNotice, type LeaseNotice } from './lease-notice.js';
import { OwnerCache } from './owner-cache.js';
import type { PgListener } from './pg-listener.js';
import type { LeasedAgent, TunnelOwner, TunnelOwnership } from './tunnel-ownership.js';

export interface LeaseOwnershipOptions {
  readonly store: Store;
  /** The LISTEN connection (shared with the fleet bus). */
  readonly listener: PgListener;
  readonly replicaId: string;
  /** Lease time to live; renewed every third of it. */
  readonly ttlMs: number;
  readonly log: Logger;
  /** `https://host:port` of this replica's peer listener, if known at start. */
  readonly peerUrl?: string;
}

interface Held {
  readonly epoch: number;
  readonly connectionId: string;
  /**
   * Local monotonic clock (performance.now(), immune to wall-clock steps):
   * when the last successful claim or renewal *started*, plus the TTL. The database computed its expiry later than that, so this
   * replica stops calling itself the owner before the lease really expires.
   */
  until: number;
}

/**
 * TunnelOwnership on PostgreSQL: one lease row per cluster (tunnel_leases),
 * claimed by the replica whose agent session became ready, renewed by one
 * UPDATE per tick for all of this replica's leases, fenced by a global
 * epoch. The owner cache is fed by notifications on the fleet channel and
 * re-read whenever the LISTEN connection comes back.
 *
 * A lease is lost (onLost fires, once) when another replica claims the
 * cluster (seen by notification, or by a renewal that no longer finds it),
 * or when renewals fail until it expires: a replica cut off from
 * PostgreSQL stops calling itself the owner of anything.
 */
export class LeaseOwnership implements TunnelOwnership {
  readonly replicaId: string;
  readonly #o: LeaseOwnershipOptions;
  readonly #cache = new OwnerCache();
  readonly #held = new Map<string, Held>();
  /**
   * Releases that failed (PostgreSQL unreachable), retried after each
   * successful renewal: other replicas' caches extend every lease of this
   * replica on its renewal notices, so a row left behind would look alive.
   */
  readonly #unreleased = new Map<string, { readonly clusterId: string; readonly connectionId: string }>();
  /** In-flight claims per cluster: a renewal or notice racing one must not call it lost. */
  readonly #claiming = new Map<string, number>();
  readonly #lost = new Set<(clusterId: string, reason: string) => void>();
  readonly #changes = new Set<(clusterId: string) => void>();
  readonly #unsubscribe: (() => void)[] = [];
  #peerUrl: string;
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  #renewFailing = false;
  #reloadTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: LeaseOwnershipOptions) {
    this.#o = options;
    this.replicaId = options.replicaId;
    this.#peerUrl = options.peerUrl ?? '';
  }

  /** Announces the replica, loads the owner cache and starts renewing. The listener must be started. */
  static async open(options: LeaseOwnershipOptions): Promise<LeaseOwnership> {
    const o = new LeaseOwnership(options);
    o.#unsubscribe.push(
      options.listener.onNotification((payload) => o.#onNotice(parseLeaseNotice(payload))),
      options.listener.onConnect(() => void o.#reload()),
    );
    try {
      await options.store.upsertServerReplica(o.replicaId, o.#peerUrl, FLEET_CHANNEL);
      // Leases of a former process with this id (a restarted StatefulSet pod)
      // hold no tunnel now; other replicas' renewal notices must not keep them alive.
      const stale = await options.store.releaseReplicaLeases(o.replicaId, FLEET_CHANNEL);
      if (stale > 0) options.log.info({ stale }, 'released the tunnel leases a former process with this replica id left');
      await o.#reload(true);
    } catch (err) {
      for (const u of o.#unsubscribe) u();
      throw err;
    }
    o.#timer = setInterval(() => void o.#tick(), Math.max(50, Math.floor(options.ttlMs / 3)));
    o.#timer.unref();
    return o;
  }

  owner(clusterId: string): TunnelOwner | undefined {
    return this.#cache.owner(clusterId);
  }

  lastGone(clusterId: string): number | undefined {
    return this.#cache.goneAt(clusterId);
  }

  /**
   * Other replicas with a peer listener whose heartbeat (every renewal tick)
   * is within two lease TTLs of the newest one: a killed replica's row stays
   * in the table, and a lone survivor must not wait for agents to move to it.
   * Measured against the newest heartbeat, not this clock, so clock skew
   * between the replicas and PostgreSQL does not count. When the store
   * cannot answer, the replicas the notifications announced.
   */
  async otherReplicas(): Promise<number> {
    try {
      const rows = await this.#o.store.listServerReplicas();
      const newest = Math.max(...rows.map((r) => r.heartbeatAt.getTime()));
      return rows.filter((r) => r.id !== this.replicaId && r.peerUrl !== '' && newest - r.heartbeatAt.getTime() < 2 * this.#o.ttlMs).length;
    } catch {
      return this.#cache.replicasOtherThan(this.replicaId);
    }
  }

  holds(clusterId: string): boolean {
    const h = this.#held.get(clusterId);
    return h !== undefined && h.until > performance.now();
  }

  /** Leases this replica holds now. */
  get heldCount(): number {
    return this.#held.size;
  }

  async claim(clusterId: string, connectionId: string, agent: LeasedAgent): Promise<number> {
    this.#claiming.set(clusterId, (this.#claiming.get(clusterId) ?? 0) + 1);
    const started = performance.now();
    try {
      const lease = await this.#o.store
        .claimTunnelLease({ clusterId, replicaId: this.replicaId, connectionId, ttlMs: this.#o.ttlMs, agent: { ...agent } }, FLEET_CHANNEL)
        .catch((err: unknown) => {
          throw new HawserServerError(ErrorCodes.LEASE_CLAIM_FAILED, `could not claim the tunnel lease: ${(err as Error).message}`, { cause: err });
        });
      this.#cache.record(lease);
      const mine = this.#held.get(clusterId);
      // Another replica claimed after us (its notice came first): we lost already.
      if (this.#cache.epoch(clusterId) > lease.epoch) {
        queueMicrotask(() => this.#fire(clusterId, 'the lease was taken over while it was being claimed'));
      } else if (!mine || mine.epoch < lease.epoch) {
        this.#held.set(clusterId, { epoch: lease.epoch, connectionId, until: started + this.#o.ttlMs });
      }
      return lease.epoch;
    } finally {
      const n = (this.#claiming.get(clusterId) ?? 1) - 1;
      if (n > 0) this.#claiming.set(clusterId, n);
      else this.#claiming.delete(clusterId);
    }
  }

  async release(clusterId: string, connectionId: string): Promise<void> {
    // close() released everything already (a drain's tunnels end after it).
    if (this.#closed) return;
    const h = this.#held.get(clusterId);
    if (h?.connectionId === connectionId) this.#held.delete(clusterId);
    try {
      await this.#o.store.releaseTunnelLease(clusterId, this.replicaId, connectionId, FLEET_CHANNEL);
    } catch (err) {
      if (!this.#closed) this.#unreleased.set(`${clusterId} ${connectionId}`, { clusterId, connectionId });
      throw err;
    }
  }

  /** Retries the releases that failed; those that fail again wait for the next renewal. */
  async #retryReleases(): Promise<void> {
    // A newer claim of ours for the cluster replaced the row already; the conditional DELETE leaves it alone.
    for (const [key, { clusterId, connectionId }] of [...this.#unreleased]) {
      try {
        await this.#o.store.releaseTunnelLease(clusterId, this.replicaId, connectionId, FLEET_CHANNEL);
        this.#unreleased.delete(key);
      } catch {
        return;
      }
    }
  }

  onLost(fn: (clusterId: string, reason: string) => void): () => void {
    this.#lost.add(fn);
    return () => this.#lost.delete(fn);
  }

  /**
   * Calls `fn` with a cluster's id whenever the cached owner of its tunnel
   * may have changed (a claim or release heard, or a re-read). Returns the
   * unsubscribe function.
   */
  onOwnerChange(fn: (clusterId: string) => void): () => void {
    this.#changes.add(fn);
    return () => this.#changes.delete(fn);
  }

  #changed(clusterId: string): void {
    for (const fn of this.#changes) {
      try {
        fn(clusterId);
      } catch (err) {
        this.#o.log.error({ err, clusterId }, 'an owner-change handler failed');
      }
    }
  }

  /** Records where other replicas reach this one (the peer listener, once bound). */
  async advertise(peerUrl: string): Promise<void> {
    this.#peerUrl = peerUrl;
    await this.#o.store.upsertServerReplica(this.replicaId, peerUrl, FLEET_CHANNEL);
  }

  /** One renewal now (tests; the timer calls it every TTL/3). */
  async renew(): Promise<void> {
    await this.#tick();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#reloadTimer);
    for (const u of this.#unsubscribe) u();
    const leases = [...[...this.#held].map(([clusterId, h]) => ({ clusterId, connectionId: h.connectionId })), ...this.#unreleased.values()];
    this.#held.clear();
    this.#unreleased.clear();
    const store = this.#o.store;
    // Best effort: a lease that cannot be released expires by itself.
    await Promise.allSettled(leases.map((l) => store.releaseTunnelLease(l.clusterId, this.replicaId, l.connectionId, FLEET_CHANNEL)));
    await store.deleteServerReplica(this.replicaId, FLEET_CHANNEL).catch(() => undefined);
  }

  #fire(clusterId: string, reason: string): void {
    this.#o.log.warn({ clusterId, reason }, 'tunnel lease lost');
    for (const fn of this.#lost) {
      try {
        fn(clusterId, reason);
      } catch (err) {
        this.#o.log.error({ err, clusterId }, 'a lease-lost handler failed');
      }
    }
  }

  #lose(clusterId: string, reason: string): void {
    if (!this.#held.delete(clusterId)) return;
    this.#fire(clusterId, reason);
  }

  #onNotice(notice: LeaseNotice | undefined): void {
    if (!notice || this.#closed) return;
    this.#cache.apply(notice);
    if (notice.k === 'released') this.#changed(notice.c);
    // Deregistration deletes the lease row without a lease notice of its own.
    if (notice.k === 'event' && notice.v.type === 'cluster.deregistered' && this.#cache.forget(notice.v.clusterId)) this.#changed(notice.v.clusterId);
    if (notice.k !== 'lease') return;
    this.#changed(notice.c);
    const h = this.#held.get(notice.c);
    // Our own newer claim (the agent reconnected to us) is no loss: that claim updates #held.
    if (h && notice.e > h.epoch && notice.r !== this.replicaId && !this.#claiming.has(notice.c)) {
      this.#lose(notice.c, `taken over by replica ${notice.r}`);
    }
  }

  /** Re-reads every lease and replica: at start, and after the LISTEN connection came back. */
  async #reload(first = false): Promise<void> {
    clearTimeout(this.#reloadTimer);
    this.#cache.beginLoad();
    let changed: string[];
    try {
      const [leases, replicas] = await Promise.all([this.#o.store.listTunnelLeases(), this.#o.store.listServerReplicas()]);
      changed = this.#cache.finishLoad(leases, replicas);
    } catch (err) {
      this.#cache.abandonLoad();
      if (first) throw err;
      this.#o.log.warn({ err: (err as Error).message }, 'could not re-read the tunnel leases; retrying');
      if (!this.#closed && this.#o.listener.connected) {
        this.#reloadTimer = setTimeout(() => void this.#reload(), 1_000);
        this.#reloadTimer.unref();
      }
      return;
    }
    for (const [clusterId, h] of this.#held) {
      if (this.#cache.epoch(clusterId) > h.epoch && !this.#claiming.has(clusterId)) this.#lose(clusterId, 'taken over (seen on re-reading the leases)');
    }
    for (const clusterId of changed) this.#changed(clusterId);
  }

  async #tick(): Promise<void> {
    if (this.#renewing || this.#closed) return;
    this.#renewing = true;
    const started = performance.now();
    const asked = new Map([...this.#held].map(([clusterId, h]) => [clusterId, h.epoch]));
    try {
      // A renewal that hangs (a silent partition) counts as failed once the next tick is due.
      const budget = Math.max(50, Math.floor(this.#o.ttlMs / 3));
      const renewed = await withDeadline(this.#o.store.renewTunnelLeases(this.replicaId, [...asked.values()], this.#o.ttlMs, FLEET_CHANNEL), budget);
      const ok = new Set(renewed.map((r) => `${r.clusterId}@${r.epoch}`));
      for (const [clusterId, epoch] of asked) {
        const h = this.#held.get(clusterId);
        if (!h || h.epoch !== epoch) continue;
        if (ok.has(`${clusterId}@${epoch}`)) h.until = Math.max(h.until, started + this.#o.ttlMs);
        else if (!this.#claiming.has(clusterId)) this.#lose(clusterId, 'the lease was taken over or expired');
      }
      if (this.#renewFailing) this.#o.log.info('tunnel lease renewals succeed again');
      this.#renewFailing = false;
      if (this.#unreleased.size > 0) await this.#retryReleases();
    } catch (err) {
      if (!this.#renewFailing) this.#o.log.warn({ err: (err as Error).message }, 'could not renew the tunnel leases; retrying');
      this.#renewFailing = true;
    } finally {
      this.#renewing = false;
      const now = performance.now();
      for (const [clusterId, h] of this.#held) {
        if (h.until <= now) this.#lose(clusterId, 'the lease expired: renewals failed (PostgreSQL unreachable?)');
      }
    }
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
