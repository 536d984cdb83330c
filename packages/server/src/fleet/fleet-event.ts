/**
 * What must take effect on every replica within a second: one replica
 * publishes, every replica (itself included) hears it. On PostgreSQL this
 * travels by LISTEN/NOTIFY; on the embedded store (one replica) in process.
 */
export type FleetEvent =
  /** The cluster was deregistered: close its tunnel wherever it is. */
  | { readonly type: 'cluster.deregistered'; readonly clusterId: string }
  /** A cluster was created or changed (mode, labels): drop cached records. */
  | { readonly type: 'cluster.changed'; readonly clusterId: string }
  /** An API token was revoked or its rights changed: end its streams everywhere. */
  | { readonly type: 'credential.revoked'; readonly credentialId: string }
  /** A console session was ended (sign-out, revocation, tier loss). */
  | { readonly type: 'console-session.ended'; readonly idHash: string };

export interface FleetBus {
  /** Delivers the event to every replica, this one included; resolves once it is sent. */
  publish(event: FleetEvent): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(fn: (event: FleetEvent) => void): () => void;
  close(): Promise<void>;
}
