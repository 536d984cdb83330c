import { randomUUID } from 'node:crypto';
import { ErrorCodes, HawserServerError } from '../errors.js';
import { UNIQUE_VIOLATION, sqlState } from './sql-driver.js';
import type { SqlDriver } from './sql-driver.js';
import { CLUSTER_COLUMNS, toAudit, toCertificate, toCluster, toToken } from './sql-rows.js';
import type { ApiTokenRow, AuditRow, CertificateRow, ClusterRow, TokenRow } from './sql-rows.js';
import type {
  ApiTokenRecord,
  AgentInfo,
  AuditEventRecord,
  AuditFilter,
  BootstrapTokenRecord,
  CertificateRecord,
  ClusterJoinRecord,
  ClusterRecord,
  ConsoleSessionRecord,
  ConsumeTokenResult,
  ServerReplicaRecord,
  Store,
  TunnelLeaseClaim,
  TunnelLeaseRecord,
} from './store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The Store over any SqlDriver; every statement is plain PostgreSQL. */
export class SqlStore implements Store {
  readonly #db: SqlDriver;

  constructor(driver: SqlDriver) {
    this.#db = driver;
  }

  get engine(): SqlDriver['engine'] {
    return this.#db.engine;
  }

  async #wrap<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof HawserServerError) throw err;
      throw new HawserServerError(ErrorCodes.STORE_FAILED, `store: ${what} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async createCluster(input: { name: string; labels?: Record<string, string> }): Promise<ClusterRecord> {
    const id = randomUUID();
    try {
      await this.#db.query('INSERT INTO clusters (id, name, labels) VALUES ($1, $2, $3::jsonb)', [
        id,
        input.name,
        JSON.stringify(input.labels ?? {}),
      ]);
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        throw new HawserServerError(ErrorCodes.CLUSTER_EXISTS, `cluster "${input.name}" already exists`);
      }
      throw new HawserServerError(ErrorCodes.STORE_FAILED, `store: create cluster failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const created = await this.getCluster(id);
    if (!created) throw new HawserServerError(ErrorCodes.STORE_FAILED, 'store: created cluster vanished');
    return created;
  }

  getCluster(id: string): Promise<ClusterRecord | undefined> {
    // A malformed id would make PostgreSQL raise on the uuid cast; it simply matches nothing.
    if (!UUID.test(id)) return Promise.resolve(undefined);
    return this.#wrap('get cluster', async () => {
      const rows = await this.#db.query<ClusterRow>(`SELECT ${CLUSTER_COLUMNS} FROM clusters c WHERE c.id = $1`, [id]);
      return rows[0] && toCluster(rows[0]);
    });
  }

  getClusterByName(name: string): Promise<ClusterRecord | undefined> {
    return this.#wrap('get cluster by name', async () => {
      const rows = await this.#db.query<ClusterRow>(
        `SELECT ${CLUSTER_COLUMNS} FROM clusters c WHERE c.name = $1 AND c.status = 'active'`,
        [name],
      );
      return rows[0] && toCluster(rows[0]);
    });
  }

  listClusters(options: { includeDeregistered?: boolean } = {}): Promise<ClusterRecord[]> {
    return this.#wrap('list clusters', async () => {
      const where = options.includeDeregistered ? '' : `WHERE c.status = 'active'`;
      const rows = await this.#db.query<ClusterRow>(
        `SELECT ${CLUSTER_COLUMNS} FROM clusters c ${where} ORDER BY c.name, c.created_at`,
      );
      return rows.map(toCluster);
    });
  }

  updateAgentInfo(clusterId: string, info: AgentInfo): Promise<void> {
    return this.#wrap('update agent info', async () => {
      await this.#db.query(
        `UPDATE clusters SET
           agent_version = COALESCE($2, agent_version),
           kubernetes_version = COALESCE($3, kubernetes_version),
           cluster_uid = COALESCE(cluster_uid, $4),
           agent_mode = CASE WHEN $5::boolean THEN $6 ELSE agent_mode END,
           chart_version = CASE WHEN $5::boolean THEN $7 ELSE chart_version END
         WHERE id = $1`,
        [
          clusterId,
          info.agentVersion ?? null,
          info.kubernetesVersion ?? null,
          info.clusterUid ?? null,
          info.install !== undefined,
          info.install?.agentMode ?? null,
          info.install?.chartVersion ?? null,
        ],
      );
    });
  }

  pinClusterUid(clusterId: string, uid: string): Promise<string | undefined> {
    if (!UUID.test(clusterId)) return Promise.resolve(undefined);
    return this.#wrap('pin cluster uid', async () => {
      // One statement: of two tunnels racing with different uids, the first
      // to commit pins its uid and the second reads it back.
      const rows = await this.#db.query<{ cluster_uid: string }>(
        'UPDATE clusters SET cluster_uid = COALESCE(cluster_uid, $2) WHERE id = $1 RETURNING cluster_uid',
        [clusterId, uid],
      );
      return rows[0]?.cluster_uid;
    });
  }
  touchLastSeen(clusterId: string, at: Date = new Date()): Promise<void> {
    return this.#wrap('touch last seen', async () => {
      await this.#db.query('UPDATE clusters SET last_seen = $2 WHERE id = $1', [clusterId, at]);
    });
  }

  touchLastSeenMany(clusterIds: readonly string[], at: Date = new Date()): Promise<void> {
    const ids = clusterIds.filter((id) => UUID.test(id));
    if (ids.length === 0) return Promise.resolve();
    return this.#wrap('touch last seen', async () => {
      await this.#db.query('UPDATE clusters SET last_seen = $2 WHERE id = ANY($1::uuid[])', [ids, at]);
    });
  }

  deregisterCluster(clusterId: string): Promise<{ revokedSerials: string[] } | undefined> {
    if (!UUID.test(clusterId)) return Promise.resolve(undefined);
    return this.#wrap('deregister cluster', () =>
      this.#db.transaction(async (q) => {
        const updated = await q.query<{ id: string }>(
          `UPDATE clusters SET status = 'deregistered', deregistered_at = now()
           WHERE id = $1 AND status = 'active' RETURNING id`,
          [clusterId],
        );
        if (updated.length === 0) return undefined;
        const revoked = await q.query<{ serial: string }>(
          `UPDATE certificates SET revoked_at = now()
           WHERE cluster_id = $1 AND revoked_at IS NULL RETURNING serial`,
          [clusterId],
        );
        // Unused tokens die with the cluster, so a leaked one cannot register later.
        await q.query(
          `UPDATE bootstrap_tokens SET expires_at = LEAST(expires_at, now())
           WHERE cluster_id = $1 AND used_at IS NULL`,
          [clusterId],
        );
        await q.query('DELETE FROM tunnel_leases WHERE cluster_id = $1', [clusterId]);
        return { revokedSerials: revoked.map((r) => r.serial) };
      }),
    );
  }

  insertBootstrapToken(input: { jti: string; clusterId: string; expiresAt: Date }): Promise<void> {
    return this.#wrap('insert bootstrap token', async () => {
      await this.#db.query('INSERT INTO bootstrap_tokens (jti, cluster_id, expires_at) VALUES ($1, $2, $3)', [
        input.jti,
        input.clusterId,
        input.expiresAt,
      ]);
    });
  }

  getBootstrapToken(jti: string): Promise<BootstrapTokenRecord | undefined> {
    return this.#wrap('get bootstrap token', async () => {
      const rows = await this.#db.query<TokenRow>('SELECT * FROM bootstrap_tokens WHERE jti = $1', [jti]);
      return rows[0] && toToken(rows[0]);
    });
  }

  consumeBootstrapToken(jti: string, clusterId: string): Promise<ConsumeTokenResult> {
    return this.#wrap('consume bootstrap token', async () => {
      // The whole decision is one statement: the row lock PostgreSQL takes for
      // the UPDATE makes a concurrent second caller re-check `used_at IS NULL`
      // after the first commits, so exactly one caller gets the row back.
      const used = await this.#db.query<TokenRow>(
        `UPDATE bootstrap_tokens SET used_at = now()
         WHERE jti = $1 AND cluster_id = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING *`,
        [jti, UUID.test(clusterId) ? clusterId : '00000000-0000-0000-0000-000000000000'],
      );
      if (used[0]) return { ok: true, token: toToken(used[0]) };
      // Only to explain the refusal in logs and audit; the caller sees one message.
      const row = await this.getBootstrapToken(jti);
      if (!row) return { ok: false, reason: 'unknown-token' };
      if (row.clusterId !== clusterId) return { ok: false, reason: 'wrong-cluster' };
      if (row.usedAt) return { ok: false, reason: 'replayed' };
      return { ok: false, reason: 'expired' };
    });
  }

  recordCertificate(input: Omit<CertificateRecord, 'createdAt' | 'revokedAt'>): Promise<void> {
    return this.#wrap('record certificate', async () => {
      await this.#db.query(
        `INSERT INTO certificates (serial, cluster_id, fingerprint, not_before, not_after, ca_hash)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [input.serial, input.clusterId, input.fingerprint, input.notBefore, input.notAfter, input.caHash ?? null],
      );
    });
  }

  getCertificateByFingerprint(fingerprint: string): Promise<CertificateRecord | undefined> {
    return this.#wrap('get certificate', async () => {
      const rows = await this.#db.query<CertificateRow>('SELECT * FROM certificates WHERE fingerprint = $1', [
        fingerprint,
      ]);
      return rows[0] && toCertificate(rows[0]);
    });
  }

  listCertificates(clusterId: string): Promise<CertificateRecord[]> {
    if (!UUID.test(clusterId)) return Promise.resolve([]);
    return this.#wrap('list certificates', async () => {
      const rows = await this.#db.query<CertificateRow>(
        'SELECT * FROM certificates WHERE cluster_id = $1 ORDER BY not_before',
        [clusterId],
      );
      return rows.map(toCertificate);
    });
  }

  revokeCertificate(serial: string): Promise<boolean> {
    return this.#wrap('revoke certificate', async () => {
      const rows = await this.#db.query<{ serial: string }>(
        'UPDATE certificates SET revoked_at = now() WHERE serial = $1 AND revoked_at IS NULL RETURNING serial',
        [serial],
      );
      return rows.length === 1;
    });
  }

  setClusterJoin(join: ClusterJoinRecord): Promise<void> {
    return this.#wrap('set cluster join', async () => {
      await this.#db.query(
        `INSERT INTO cluster_joins (cluster_id, issuer, subject, audience, discovery_url, discovery_ca, jwks)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
         ON CONFLICT (cluster_id) DO UPDATE SET issuer = $2, subject = $3, audience = $4,
           discovery_url = $5, discovery_ca = $6, jwks = $7::jsonb`,
        [join.clusterId, join.issuer, join.subject, join.audience, join.discoveryUrl, join.discoveryCa, join.jwks === null ? null : JSON.stringify(join.jwks)],
      );
    });
  }

  getClusterJoin(clusterId: string): Promise<ClusterJoinRecord | undefined> {
    if (!UUID.test(clusterId)) return Promise.resolve(undefined);
    return this.#wrap('get cluster join', async () => {
      const rows = await this.#db.query<{
        cluster_id: string; issuer: string; subject: string; audience: string;
        discovery_url: string | null; discovery_ca: string | null; jwks: Record<string, unknown> | string | null;
      }>('SELECT * FROM cluster_joins WHERE cluster_id = $1', [clusterId]);
      const r = rows[0];
      if (!r) return undefined;
      const jwks = typeof r.jwks === 'string' ? (JSON.parse(r.jwks) as Record<string, unknown>) : r.jwks;
      return { clusterId: r.cluster_id, issuer: r.issuer, subject: r.subject, audience: r.audience, discoveryUrl: r.discovery_url, discoveryCa: r.discovery_ca, jwks };
    });
  }

  insertConsoleSession(input: Omit<ConsoleSessionRecord, 'createdAt'>): Promise<void> {
    return this.#wrap('insert console session', async () => {
      await this.#db.query(
        `INSERT INTO console_sessions (id_hash, username, groups, api_token_id, credential_id, csrf, expires_at) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)`,
        [input.idHash, input.user, JSON.stringify(input.groups), input.apiTokenId, input.credentialId, input.csrf, input.expiresAt],
      );
    });
  }

  findConsoleSession(idHash: string): Promise<ConsoleSessionRecord | undefined> {
    return this.#wrap('find console session', async () => {
      const rows = await this.#db.query<{
        id_hash: string;
        username: string;
        groups: string[] | string;
        api_token_id: string | null;
        credential_id: string;
        csrf: string;
        created_at: Date | string;
        expires_at: Date | string;
      }>(
        `SELECT s.* FROM console_sessions s LEFT JOIN api_tokens t ON t.id = s.api_token_id
          WHERE s.id_hash = $1 AND s.expires_at > now()
            AND (s.api_token_id IS NULL OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())))`,
        [idHash],
      );
      const r = rows[0];
      if (!r) return undefined;
      return {
        idHash: r.id_hash,
        user: r.username,
        groups: typeof r.groups === 'string' ? (JSON.parse(r.groups) as string[]) : r.groups,
        apiTokenId: r.api_token_id,
        credentialId: r.credential_id,
        csrf: r.csrf,
        createdAt: new Date(r.created_at),
        expiresAt: new Date(r.expires_at),
      };
    });
  }

  deleteConsoleSession(idHash: string): Promise<boolean> {
    return this.#wrap('delete console session', async () => {
      const rows = await this.#db.query<{ id_hash: string }>('DELETE FROM console_sessions WHERE id_hash = $1 RETURNING id_hash', [idHash]);
      return rows.length === 1;
    });
  }

  insertApiToken(input: Omit<ApiTokenRecord, 'createdAt' | 'revokedAt'>): Promise<void> {
    return this.#wrap('insert api token', async () => {
      await this.#db.query(
        `INSERT INTO api_tokens (id, hash, username, groups, expires_at) VALUES ($1, $2, $3, $4::jsonb, $5)
         ON CONFLICT (hash) DO NOTHING`,
        [input.id, input.hash, input.user, JSON.stringify(input.groups), input.expiresAt],
      );
    });
  }

  findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined> {
    return this.#wrap('find api token', async () => {
      const rows = await this.#db.query<ApiTokenRow>(
        `SELECT * FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())`,
        [hash],
      );
      const r = rows[0];
      return r ? toApiToken(r) : undefined;
    });
  }

  listApiTokens(): Promise<ApiTokenRecord[]> {
    return this.#wrap('list api tokens', async () => {
      const rows = await this.#db.query<ApiTokenRow>('SELECT * FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, id');
      return rows.map(toApiToken);
    });
  }

  revokeApiToken(id: string): Promise<boolean> {
    return this.#wrap('revoke api token', async () => {
      const rows = await this.#db.query<{ id: string }>('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id', [id]);
      return rows.length === 1;
    });
  }

  countAdminTokens(adminGroup: string): Promise<{ active: number; total: number }> {
    return this.#wrap('count admin tokens', async () => {
      const rows = await this.#db.query<{ active: number | string; total: number | string }>(
        `SELECT count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active, count(*) AS total
         FROM api_tokens WHERE groups @> $1::jsonb`,
        [JSON.stringify([adminGroup])],
      );
      return { active: Number(rows[0]?.active ?? 0), total: Number(rows[0]?.total ?? 0) };
    });
  }
  adoptLegacyAdminToken(hash: string): Promise<boolean> {
    return this.#wrap('adopt admin token', async () => {
      const rows = await this.#db.query<{ id: string }>(
        `UPDATE api_tokens SET revoked_at = NULL, revoked_reason = NULL
         WHERE hash = $1 AND revoked_reason = 'legacy-admin' RETURNING id`,
        [hash],
      );
      return rows.length === 1;
    });
  }
  rotateApiToken(oldId: string, next: Omit<ApiTokenRecord, 'createdAt' | 'revokedAt'>): Promise<boolean> {
    return this.#wrap('rotate api token', () =>
      this.#db.transaction(async (q) => {
        const revoked = await q.query<{ id: string }>(
          `UPDATE api_tokens SET revoked_at = now(), revoked_reason = 'rotated' WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
          [oldId],
        );
        if (revoked.length === 0) return false;
        await q.query(`INSERT INTO api_tokens (id, hash, username, groups, expires_at) VALUES ($1, $2, $3, $4::jsonb, $5)`, [
          next.id,
          next.hash,
          next.user,
          JSON.stringify(next.groups),
          next.expiresAt,
        ]);
        return true;
      }),
    );
  }
  insertAuditEvent(e: AuditEventRecord): Promise<void> {
    return this.insertAuditEvents([e]);
  }

  insertAuditEvents(events: readonly AuditEventRecord[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return this.#wrap('insert audit events', async () => {
      // One multi-row INSERT: on embedded PGlite every statement runs on
      // this process's event loop, so a row at a time would stall the relay.
      const values: unknown[] = [];
      const rows = events.map((e, i) => {
        values.push(e.id, e.time, e.type, e.actor, e.clusterId, e.requestId, e.sourceIp, e.outcome, e.reason, JSON.stringify(e.details));
        const b = i * 10;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, $${b + 10}::jsonb)`;
      });
      await this.#db.query(
        // By id: a replayed journal may hold rows the store already has.
        `INSERT INTO audit_events (id, time, type, actor, cluster_id, request_id, source_ip, outcome, reason, details) VALUES ${rows.join(', ')}
         ON CONFLICT (id) DO NOTHING`,
        values,
      );
    });
  }

  listAuditEvents(filter: AuditFilter = {}): Promise<AuditEventRecord[]> {
    return this.#wrap('list audit events', () => this.#auditQuery(filter, 'ASC'));
  }

  listNewestAuditEvents(filter: AuditFilter = {}): Promise<AuditEventRecord[]> {
    return this.#wrap('list newest audit events', async () => (await this.#auditQuery(filter, 'DESC')).reverse());
  }

  /** The filtered events, the first `limit` in `order` of time. */
  async #auditQuery(filter: AuditFilter, order: 'ASC' | 'DESC'): Promise<AuditEventRecord[]> {
    const rows = await this.#db.query<AuditRow>(
      `SELECT * FROM audit_events
       WHERE ($1::uuid IS NULL OR cluster_id = $1::uuid) AND ($2::text IS NULL OR type = $2)
         AND ($3::text IS NULL OR actor = $3) AND ($4::timestamptz IS NULL OR time >= $4)
         AND ($5::timestamptz IS NULL OR time < $5)
       ORDER BY time ${order}, id ${order} LIMIT $6`,
      [filter.clusterId ?? null, filter.type ?? null, filter.actor ?? null, filter.since ?? null, filter.until ?? null, filter.limit ?? 1000],
    );
    return rows.map(toAudit);
  }

  pruneAuditEvents(before: Date, batch: number): Promise<number> {
    return this.#wrap('prune audit events', async () => {
      const rows = await this.#db.query<{ id: string }>(
        `DELETE FROM audit_events WHERE id IN (
           SELECT id FROM audit_events WHERE time < $1 ORDER BY time LIMIT $2
         ) RETURNING id`,
        [before, batch],
      );
      return rows.length;
    });
  }

  reclaimAuditSpace(): Promise<void> {
    if (this.engine !== 'pglite') return Promise.resolve();
    return this.#wrap('vacuum audit events', () => this.#db.exec('VACUUM audit_events'));
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  upsertServerReplica(id: string, peerUrl: string, channel: string): Promise<void> {
    return this.#wrap('upsert server replica', async () => {
      await this.#db.query(
        `WITH up AS (
           INSERT INTO server_replicas (id, peer_url) VALUES ($1, $2)
           ON CONFLICT (id) DO UPDATE SET peer_url = EXCLUDED.peer_url, heartbeat_at = now()
           RETURNING id, peer_url)
         SELECT pg_notify($3, json_build_object('k', 'replica', 'r', up.id, 'u', up.peer_url)::text) FROM up`,
        [id, peerUrl, channel],
      );
    });
  }

  deleteServerReplica(id: string, channel: string): Promise<void> {
    return this.#wrap('delete server replica', async () => {
      await this.#db.query(
        `WITH gone AS (DELETE FROM server_replicas WHERE id = $1 RETURNING id)
         SELECT pg_notify($2, json_build_object('k', 'replica-gone', 'r', gone.id)::text) FROM gone`,
        [id, channel],
      );
    });
  }

  listServerReplicas(): Promise<ServerReplicaRecord[]> {
    return this.#wrap('list server replicas', async () => {
      const rows = await this.#db.query<{ id: string; peer_url: string; started_at: Date; heartbeat_at: Date }>(
        'SELECT id, peer_url, started_at, heartbeat_at FROM server_replicas ORDER BY started_at, id',
      );
      return rows.map((r) => ({ id: r.id, peerUrl: r.peer_url, startedAt: r.started_at, heartbeatAt: r.heartbeat_at }));
    });
  }

  claimTunnelLease(input: TunnelLeaseClaim, channel: string): Promise<TunnelLeaseRecord> {
    return this.#wrap('claim tunnel lease', async () => {
      // One statement: the epoch, the upsert and the notification commit together.
      const rows = await this.#db.query<LeaseRow>(
        `WITH up AS (
           INSERT INTO tunnel_leases (cluster_id, replica_id, connection_id, epoch, expires_at, agent)
           VALUES ($1, $2, $3, nextval('tunnel_lease_epochs'), now() + $4 * interval '1 millisecond', $5::jsonb)
           ON CONFLICT (cluster_id) DO UPDATE SET replica_id = EXCLUDED.replica_id, connection_id = EXCLUDED.connection_id,
             epoch = EXCLUDED.epoch, acquired_at = now(), expires_at = EXCLUDED.expires_at, agent = EXCLUDED.agent
           RETURNING cluster_id, replica_id, connection_id, epoch, expires_at, agent)
         SELECT up.*, $4::float8 AS remaining_ms,
           pg_notify($6, json_build_object('k', 'lease', 'c', up.cluster_id, 'r', up.replica_id, 'n', up.connection_id,
             'e', up.epoch, 'ms', $4::float8, 'a', up.agent)::text) AS notified
         FROM up`,
        [input.clusterId, input.replicaId, input.connectionId, input.ttlMs, JSON.stringify(input.agent), channel],
      );
      const row = rows[0];
      if (!row) throw new HawserServerError(ErrorCodes.STORE_FAILED, 'store: the claimed lease vanished');
      return toLease(row);
    });
  }

  renewTunnelLeases(replicaId: string, epochs: readonly number[], ttlMs: number, channel: string): Promise<{ clusterId: string; epoch: number }[]> {
    return this.#wrap('renew tunnel leases', () =>
      this.#db.transaction(async (q) => {
        const rows = await q.query<{ cluster_id: string; epoch: string | number }>(
          `UPDATE tunnel_leases SET expires_at = now() + $3 * interval '1 millisecond'
           WHERE replica_id = $1 AND epoch = ANY($2::bigint[]) AND expires_at > now()
           RETURNING cluster_id, epoch`,
          [replicaId, [...epochs], ttlMs],
        );
        await q.query('UPDATE server_replicas SET heartbeat_at = now() WHERE id = $1', [replicaId]);
        if (rows.length > 0) {
          await q.query(`SELECT pg_notify($1, json_build_object('k', 'renewed', 'r', $2::text, 'ms', $3::float8)::text)`, [channel, replicaId, ttlMs]);
        }
        return rows.map((r) => ({ clusterId: r.cluster_id, epoch: Number(r.epoch) }));
      }),
    );
  }

  releaseTunnelLease(clusterId: string, replicaId: string, connectionId: string, channel: string): Promise<boolean> {
    return this.#wrap('release tunnel lease', async () => {
      const rows = await this.#db.query<{ notified: unknown }>(
        `WITH gone AS (
           DELETE FROM tunnel_leases WHERE cluster_id = $1 AND replica_id = $2 AND connection_id = $3
           RETURNING cluster_id, replica_id, epoch)
         SELECT pg_notify($4, json_build_object('k', 'released', 'c', gone.cluster_id, 'r', gone.replica_id, 'e', gone.epoch)::text) AS notified
         FROM gone`,
        [clusterId, replicaId, connectionId, channel],
      );
      return rows.length > 0;
    });
  }

  listTunnelLeases(): Promise<TunnelLeaseRecord[]> {
    return this.#wrap('list tunnel leases', async () => {
      const rows = await this.#db.query<LeaseRow>(
        `SELECT cluster_id, replica_id, connection_id, epoch, expires_at, agent,
           EXTRACT(EPOCH FROM (expires_at - now())) * 1000 AS remaining_ms
         FROM tunnel_leases WHERE expires_at > now()`,
      );
      return rows.map(toLease);
    });
  }

  notify(channel: string, payload: string): Promise<void> {
    return this.#wrap('notify', async () => {
      await this.#db.query('SELECT pg_notify($1, $2)', [channel, payload]);
    });
  }
}

interface LeaseRow {
  cluster_id: string;
  replica_id: string;
  connection_id: string;
  /** bigint: pg returns it as a string. */
  epoch: string | number;
  expires_at: Date;
  agent: Record<string, unknown> | null;
  remaining_ms: string | number;
}

function toLease(r: LeaseRow): TunnelLeaseRecord {
  return {
    clusterId: r.cluster_id,
    replicaId: r.replica_id,
    connectionId: r.connection_id,
    epoch: Number(r.epoch),
    expiresAt: r.expires_at,
    remainingMs: Number(r.remaining_ms),
    agent: r.agent ?? {},
  };
}

function toApiToken(r: ApiTokenRow): ApiTokenRecord {
  return {
    id: r.id,
    hash: r.hash,
    user: r.username,
    groups: r.groups ?? [],
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}
