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

/**
 * Cluster id -> live tunnels on this replica. Usually one per cluster; more
 * appear briefly while an agent reconnects or when two agent pods run. The
 * registry only indexes; the tunnel endpoint adds and removes entries.
 */
export class TunnelRegistry {
  readonly #byCluster = new Map<string, Set<TunnelConnection>>();

  add(connection: TunnelConnection): void {
    let set = this.#byCluster.get(connection.clusterId);
    if (!set) {
      set = new Set();
      this.#byCluster.set(connection.clusterId, set);
    }
    set.add(connection);
  }

  remove(connection: TunnelConnection): void {
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

  /** Number of live tunnels. */
  get size(): number {
    let n = 0;
    for (const set of this.#byCluster.values()) n += set.size;
    return n;
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
    await Promise.all(connections.map((c) => c.close(code, reason)));
    return connections.length;
  }
}
