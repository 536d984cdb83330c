import type { SqlDriver } from './sql-driver.js';

export const ClusterStatuses = { ACTIVE: 'active', DEREGISTERED: 'deregistered' } as const;
export type ClusterStatus = (typeof ClusterStatuses)[keyof typeof ClusterStatuses];

export interface ClusterRecord {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly status: ClusterStatus;
  readonly createdAt: Date;
  readonly deregisteredAt: Date | null;
  readonly lastSeen: Date | null;
  readonly agentVersion: string | null;
  readonly kubernetesVersion: string | null;
  readonly clusterUid: string | null;
  /** The agent's mode (read-only, read-write, full) as it last reported it; null before it connected. */
  readonly agentMode: string | null;
  /** Version of the chart that installed the agent, as it last reported it. */
  readonly chartVersion: string | null;
  /** notAfter of the newest unrevoked certificate, if any. */
  readonly certificateNotAfter: Date | null;
}

export interface BootstrapTokenRecord {
  readonly jti: string;
  readonly clusterId: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
}

/** Why a bootstrap token could not be consumed; never shown to the caller. */
export const TokenRefusals = {
  UNKNOWN: 'unknown-token',
  REPLAYED: 'replayed',
  EXPIRED: 'expired',
  WRONG_CLUSTER: 'wrong-cluster',
} as const;
export type TokenRefusal = (typeof TokenRefusals)[keyof typeof TokenRefusals];

export type ConsumeTokenResult =
  | { readonly ok: true; readonly token: BootstrapTokenRecord }
  | { readonly ok: false; readonly reason: TokenRefusal };

export interface CertificateRecord {
  /** Lower-case hex, no leading zeros. */
  readonly serial: string;
  readonly clusterId: string;
  /** SHA-256 of the certificate DER, lower-case hex without colons. */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
  /** `sha256:<hex>` SPKI hash of the CA that issued it; null for certificates issued before CA rotation existed. */
  readonly caHash?: string | null;
}

/**
 * How a cluster that joins with its own ServiceAccount (`--join kubernetes`)
 * proves it: a projected token from `issuer` for `subject` with `audience`,
 * checked against the issuer's keys (found by discovery, or given).
 */
export interface ClusterJoinRecord {
  readonly clusterId: string;
  readonly issuer: string;
  /** `system:serviceaccount:NS:NAME`. */
  readonly subject: string;
  readonly audience: string;
  /** Where `/.well-known/openid-configuration` is read when it is not the issuer itself. */
  readonly discoveryUrl: string | null;
  /** PEM the discovery URL is trusted by; null: the system roots. */
  readonly discoveryCa: string | null;
  /** A static JWKS (`--jwks-file`); null: discovery. */
  readonly jwks: Readonly<Record<string, unknown>> | null;
}

export interface ApiTokenRecord {
  readonly id: string;
  /** SHA-256 of the token, hex; the token itself is never stored. */
  readonly hash: string;
  readonly user: string;
  readonly groups: readonly string[];
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
}

export const AuditOutcomes = { SUCCESS: 'success', FAILURE: 'failure' } as const;
export type AuditOutcome = (typeof AuditOutcomes)[keyof typeof AuditOutcomes];

/** The fixed audit event schema; `details` holds type-specific, non-secret extras. */
export interface AuditEventRecord {
  readonly id: string;
  readonly time: Date;
  readonly type: string;
  readonly actor: string;
  readonly clusterId: string | null;
  readonly requestId: string | null;
  readonly sourceIp: string | null;
  readonly outcome: AuditOutcome;
  readonly reason: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditFilter {
  clusterId?: string;
  type?: string;
  actor?: string;
  since?: Date;
  /** Exclusive upper bound on time (listNewestAuditEvents). */
  until?: Date;
  limit?: number;
}

export interface AgentInfo {
  agentVersion?: string | undefined;
  kubernetesVersion?: string | undefined;
  clusterUid?: string | undefined;
  /** Set both (null clears) from a tunnel HELLO; undefined leaves them as they are (registration). */
  install?: { agentMode: string | null; chartVersion: string | null } | undefined;
}

/**
 * Everything the server persists. One interface, one SQL implementation
 * (SqlStore) over two engines: embedded PGlite and PostgreSQL.
 */
/** A signed-in console user; the session id itself is never stored, only its hash. */
export interface ConsoleSessionRecord {
  readonly idHash: string;
  readonly user: string;
  readonly groups: readonly string[];
  /** The API token the session was made from: revoking it ends the session. */
  readonly apiTokenId: string | null;
  /** The operator credential behind it (`api-token:<id>` or `oidc:<issuer>#<sub>`): ending it ends the session's streams. */
  readonly credentialId: string;
  readonly csrf: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface Store {
  readonly engine: SqlDriver['engine'];

  /** Inserts an active cluster. Throws HSR_ERR_CLUSTER_EXISTS when an active cluster has the name. */
  createCluster(input: { name: string; labels?: Record<string, string> }): Promise<ClusterRecord>;
  getCluster(id: string): Promise<ClusterRecord | undefined>;
  /** The active cluster with this name. */
  getClusterByName(name: string): Promise<ClusterRecord | undefined>;
  /** Active clusters ordered by name (all, deregistered included, with `includeDeregistered`). */
  listClusters(options?: { includeDeregistered?: boolean }): Promise<ClusterRecord[]>;
  /** Versions and, if none is recorded yet, the cluster uid (a recorded uid is never replaced). */
  updateAgentInfo(clusterId: string, info: AgentInfo): Promise<void>;
  /**
   * Records `uid` as the cluster's uid unless one is recorded; returns the
   * uid recorded after the call (undefined when no such cluster).
   */
  pinClusterUid(clusterId: string, uid: string): Promise<string | undefined>;
  touchLastSeen(clusterId: string, at?: Date): Promise<void>;
  /** One statement for many clusters (the periodic refresh for live tunnels). */
  touchLastSeenMany(clusterIds: readonly string[], at?: Date): Promise<void>;
  /**
   * Marks the cluster deregistered and revokes all its certificates and unused
   * tokens in one transaction. Returns the serials revoked, or undefined when
   * no active cluster has this id.
   */
  deregisterCluster(clusterId: string): Promise<{ revokedSerials: string[] } | undefined>;

  insertBootstrapToken(input: { jti: string; clusterId: string; expiresAt: Date }): Promise<void>;
  getBootstrapToken(jti: string): Promise<BootstrapTokenRecord | undefined>;
  /**
   * Uses a token exactly once: one conditional UPDATE, so of two concurrent
   * callers exactly one gets `ok: true`.
   */
  consumeBootstrapToken(jti: string, clusterId: string): Promise<ConsumeTokenResult>;

  recordCertificate(input: Omit<CertificateRecord, 'createdAt' | 'revokedAt'>): Promise<void>;
  getCertificateByFingerprint(fingerprint: string): Promise<CertificateRecord | undefined>;
  listCertificates(clusterId: string): Promise<CertificateRecord[]>;
  /** Revokes one certificate by serial; false when unknown or already revoked. */
  revokeCertificate(serial: string): Promise<boolean>;
  /** Records (or replaces) how a cluster joins with its ServiceAccount. */
  setClusterJoin(join: ClusterJoinRecord): Promise<void>;
  getClusterJoin(clusterId: string): Promise<ClusterJoinRecord | undefined>;

  insertApiToken(input: Omit<ApiTokenRecord, 'createdAt' | 'revokedAt'>): Promise<void>;
  /** An unrevoked, unexpired token with this hash. */
  findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined>;
  /** Unrevoked tokens, oldest first (expired ones included, so they can be seen and revoked). */
  listApiTokens(): Promise<ApiTokenRecord[]>;
  /** Revokes a token by id; false when no unrevoked token has it. */
  revokeApiToken(id: string): Promise<boolean>;
  /** Admin tokens (group hawser:admins): active ones, and all ever stored (revoked included). */
  countAdminTokens(adminGroup: string): Promise<{ active: number; total: number }>;
  /**
   * Re-activates the admin token with this hash if migration 2 revoked it as
   * a legacy value; true when it did.
   */
  adoptLegacyAdminToken(hash: string): Promise<boolean>;
  /**
   * Stores `next` and revokes `oldId` in one transaction: a rotation never
   * leaves both valid or neither. False (and nothing stored) when `oldId`
   * was not an unrevoked token.
   */
  rotateApiToken(oldId: string, next: Omit<ApiTokenRecord, 'createdAt' | 'revokedAt'>): Promise<boolean>;

  insertAuditEvent(event: AuditEventRecord): Promise<void>;
  /** Many events in one statement (the relay's batches). */
  insertAuditEvents(events: readonly AuditEventRecord[]): Promise<void>;
  /** Events in time order, filtered; `since` is inclusive. Default limit 1000. */
  listAuditEvents(filter?: AuditFilter): Promise<AuditEventRecord[]>;
  /** The NEWEST `limit` events that match (default 1000), returned in time order; `until` is exclusive. */
  listNewestAuditEvents(filter?: AuditFilter): Promise<AuditEventRecord[]>;
  /**
   * Deletes up to `batch` events older than `before` (oldest first) and
   * returns how many it deleted: retention calls it until it returns less
   * than `batch`, so no single statement holds the embedded store for long.
   */
  pruneAuditEvents(before: Date, batch: number): Promise<number>;
  /**
   * Makes the space of pruned rows reusable. PostgreSQL's autovacuum does
   * this; embedded PGlite runs no autovacuum, so without it the table would
   * grow by every event ever written, retention or not.
   */
  reclaimAuditSpace(): Promise<void>;

  insertConsoleSession(input: Omit<ConsoleSessionRecord, 'createdAt'>): Promise<void>;
  /** A live session: not expired, and its API token (if any) neither revoked nor expired. */
  findConsoleSession(idHash: string): Promise<ConsoleSessionRecord | undefined>;
  deleteConsoleSession(idHash: string): Promise<boolean>;

  close(): Promise<void>;

  // Fleet (issue 18, fleet/lease-ownership.ts). Each write below also
  // NOTIFYs `channel` in the same statement, with a small JSON payload
  // (LeaseNotice, fleet/lease-notice.ts), so a notification is sent exactly
  // when the change commits.

  /** Announces a replica (or updates its peer URL); notifies `{k:'replica', r, u}`. */
  upsertServerReplica(id: string, peerUrl: string, channel: string): Promise<void>;
  /** Removes a replica's row (it is closing); notifies `{k:'replica-gone', r}`. */
  deleteServerReplica(id: string, channel: string): Promise<void>;
  /** Every replica row, oldest first. */
  listServerReplicas(): Promise<ServerReplicaRecord[]>;
  /**
   * Takes the cluster's lease for `replicaId` whoever held it, with a new
   * epoch from the sequence, expiring `ttlMs` from now (database clock);
   * notifies `{k:'lease', c, r, n, e, ms, a}`.
   */
  claimTunnelLease(input: TunnelLeaseClaim, channel: string): Promise<TunnelLeaseRecord>;
  /**
   * Extends the unexpired leases `replicaId` holds at these epochs by
   * `ttlMs` and heartbeats its replica row; returns the leases renewed (a
   * missing one was taken over). Notifies `{k:'renewed', r, ms}` once.
   */
  renewTunnelLeases(replicaId: string, epochs: readonly number[], ttlMs: number, channel: string): Promise<{ clusterId: string; epoch: number }[]>;
  /** Deletes the lease if this replica's connection still holds it; notifies `{k:'released', c, r, e}` then. */
  releaseTunnelLease(clusterId: string, replicaId: string, connectionId: string, channel: string): Promise<boolean>;
  /** Unexpired leases, with the time each has left by the database's clock. */
  listTunnelLeases(): Promise<TunnelLeaseRecord[]>;
  /** `pg_notify(channel, payload)` (the fleet bus); the payload must stay under 8000 bytes. */
  notify(channel: string, payload: string): Promise<void>;
}

/** A server replica as it announced itself (issue 18). */
export interface ServerReplicaRecord {
  readonly id: string;
  /** `https://host:port` of its peer listener; '' before it advertised one. */
  readonly peerUrl: string;
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
}

/** What a replica records when a tunnel session becomes ready on it. */
export interface TunnelLeaseClaim {
  readonly clusterId: string;
  readonly replicaId: string;
  readonly connectionId: string;
  readonly ttlMs: number;
  /** What forwarding replicas must know of the agent (LeasedAgent); kept small. */
  readonly agent: Readonly<Record<string, unknown>>;
}

/** One cluster's tunnel lease. */
export interface TunnelLeaseRecord {
  readonly clusterId: string;
  readonly replicaId: string;
  readonly connectionId: string;
  readonly epoch: number;
  readonly expiresAt: Date;
  /** Time left by the database's clock when read: readers on other hosts need not trust their clock against expiresAt. */
  readonly remainingMs: number;
  readonly agent: Readonly<Record<string, unknown>>;
}

/** Where the database lives, decided by config.databaseUrl. */
export interface StoreLocation {
  databaseUrl: string | undefined;
  dataDir: string;
}
