import type { ClusterRecord, Store } from '../store/store.js';

/**
 * Cluster-by-name lookups for the relay, remembered for a moment. Every
 * relayed request names its cluster; on embedded PGlite a query runs on the
 * event loop, so one per request would cost every other request too. A
 * deregistered cluster's tunnel is closed at once anyway (its requests get
 * 503), and after `ttlMs` they get 404. While the store fails (a
 * PostgreSQL restart), the last record seen is used past its time: the
 * replicas keep serving established tunnels instead of answering 500.
 */
export function cachedClusterLookup(
  store: Store,
  ttlMs = 2_000,
): ((name: string) => Promise<ClusterRecord | undefined>) & { forget(): void } {
  const cache = new Map<string, { cluster: ClusterRecord | undefined; until: number }>();
  const lookup = async (name: string): Promise<ClusterRecord | undefined> => {
    const now = Date.now();
    const hit = cache.get(name);
    if (hit && hit.until > now) return hit.cluster;
    let cluster: ClusterRecord | undefined;
    try {
      cluster = await store.getClusterByName(name);
    } catch (err) {
      if (hit) return hit.cluster;
      throw err;
    }
    // Unknown names are remembered too (a typo in a loop must not hit the
    // store each time), but the map stays bounded.
    if (cache.size > 10_000) cache.clear();
    cache.set(name, { cluster, until: now + ttlMs });
    return cluster;
  };
  // A cluster added or changed on any replica (fleet event cluster.changed): a remembered miss must not hide it.
  return Object.assign(lookup, { forget: () => cache.clear() });
}
