import { ErrorCodes, HawserServerError } from '../errors.js';
import type { SqlDriver } from './sql-driver.js';

/** One schema change. Versions are dense and never edited once released. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The schema, as an append-only list. Names are unique only among active
 * clusters (partial index) so a deregistered cluster keeps its rows for audit
 * while its name can be registered again.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE clusters (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        labels jsonb NOT NULL DEFAULT '{}'::jsonb,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deregistered')),
        created_at timestamptz NOT NULL DEFAULT now(),
        deregistered_at timestamptz,
        last_seen timestamptz,
        agent_version text,
        kubernetes_version text,
        cluster_uid text
      );
      CREATE UNIQUE INDEX clusters_active_name ON clusters (name) WHERE status = 'active';

      CREATE TABLE bootstrap_tokens (
        jti text PRIMARY KEY,
        cluster_id uuid NOT NULL REFERENCES clusters (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
      );
      CREATE INDEX bootstrap_tokens_cluster ON bootstrap_tokens (cluster_id);

      CREATE TABLE certificates (
        serial text PRIMARY KEY,
        cluster_id uuid NOT NULL REFERENCES clusters (id),
        fingerprint text NOT NULL UNIQUE,
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );
      CREATE INDEX certificates_cluster ON certificates (cluster_id);

      CREATE TABLE api_tokens (
        id text PRIMARY KEY,
        hash text NOT NULL UNIQUE,
        username text NOT NULL,
        groups jsonb NOT NULL DEFAULT '[]'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz
      );

      CREATE TABLE audit_events (
        id uuid PRIMARY KEY,
        time timestamptz NOT NULL DEFAULT now(),
        type text NOT NULL,
        actor text NOT NULL,
        cluster_id uuid,
        request_id text,
        source_ip text,
        outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
        reason text,
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX audit_events_time ON audit_events (time);
      CREATE INDEX audit_events_cluster ON audit_events (cluster_id, time);

      CREATE TABLE tunnel_leases (
        cluster_id uuid PRIMARY KEY REFERENCES clusters (id),
        replica_id text NOT NULL,
        acquired_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'admin tokens are minted by the server',
    // Before v2 every value ever found in <data-dir>/admin-token was
    // registered at start and stayed valid. Revoke them all, marked, so the
    // next start can re-adopt the one value the file holds now when it has
    // the server's own format (admin-token.ts); the rest stay revoked.
    sql: `
      ALTER TABLE api_tokens ADD COLUMN revoked_reason text;
      UPDATE api_tokens SET revoked_at = now(), revoked_reason = 'legacy-admin'
        WHERE groups @> '["hawser:admins"]'::jsonb AND revoked_at IS NULL;
    `,
  },
  {
    version: 3,
    name: 'CA rotation and joining with a ServiceAccount',
    // ca_hash: which CA issued a certificate (NULL: before rotation existed,
    // i.e. the CA in use then). cluster_joins: clusters that join with a
    // projected ServiceAccount token instead of a bootstrap token.
    sql: `
      ALTER TABLE certificates ADD COLUMN ca_hash text;
      CREATE TABLE cluster_joins (
        cluster_id uuid PRIMARY KEY REFERENCES clusters(id),
        issuer text NOT NULL,
        subject text NOT NULL,
        audience text NOT NULL,
        discovery_url text,
        discovery_ca text,
        jwks jsonb
      );
    `,
  },
  {
    version: 4,
    name: 'console sessions',
    // The session id is never stored, only its SHA-256 (as for API tokens).
    // A session made from an API token dies with it (api_token_id).
    sql: `
      CREATE TABLE console_sessions (
        id_hash text PRIMARY KEY,
        username text NOT NULL,
        groups jsonb NOT NULL,
        api_token_id text REFERENCES api_tokens (id),
        credential_id text NOT NULL,
        csrf text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'agent mode and chart version per cluster',
    // What each agent reports in its HELLO (issue 20): the mode it runs
    // and the chart version that installed it, shown by `hawser cluster list`.
    sql: `
      ALTER TABLE clusters ADD COLUMN agent_mode text;
      ALTER TABLE clusters ADD COLUMN chart_version text;
    `,
  },
  {
    version: 6,
    name: 'server replicas and tunnel leases',
    // Issue 18 (fleet/lease-ownership.ts). The v1 tunnel_leases table was
    // never written (only deleted from on deregistration), so it is replaced.
    // Epochs come from one sequence: a newer claim always has a higher one,
    // which is what fences a replica that lost its lease.
    sql: `
      DROP TABLE tunnel_leases;
      CREATE SEQUENCE tunnel_lease_epochs;
      CREATE TABLE server_replicas (
        id text PRIMARY KEY,
        peer_url text NOT NULL DEFAULT '',
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE tunnel_leases (
        cluster_id uuid PRIMARY KEY REFERENCES clusters (id),
        replica_id text NOT NULL,
        connection_id text NOT NULL,
        epoch bigint NOT NULL,
        acquired_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        agent jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX tunnel_leases_replica ON tunnel_leases (replica_id);
    `,
  },
]);

/**
 * Applies pending migrations in order, in one transaction that first takes a
 * transaction-scoped advisory lock: when two replicas start at once the second
 * waits, then finds everything applied. Creating the bookkeeping table only
 * after the lock avoids the catalog race of two concurrent
 * `CREATE TABLE IF NOT EXISTS`. Returns the versions applied by this call.
 */
export async function migrate(driver: SqlDriver, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  try {
    return await driver.transaction(async (q) => {
      await q.query(`SELECT pg_advisory_xact_lock(hashtext('hawser:migrations'))`);
      await q.exec(`CREATE TABLE IF NOT EXISTS hawser_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const rows = await q.query<{ version: number }>('SELECT version FROM hawser_migrations');
      const applied = new Set(rows.map((r) => Number(r.version)));
      const newest = Math.max(0, ...applied);
      const known = Math.max(0, ...migrations.map((m) => m.version));
      if (newest > known) {
        throw new HawserServerError(
          ErrorCodes.MIGRATION_FAILED,
          `database schema version ${newest} is newer than this server knows (${known}); upgrade the server`,
        );
      }
      const done: number[] = [];
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(m.version)) continue;
        await q.exec(m.sql);
        await q.query('INSERT INTO hawser_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        done.push(m.version);
      }
      return done;
    });
  } catch (err) {
    if (err instanceof HawserServerError) throw err;
    throw new HawserServerError(ErrorCodes.MIGRATION_FAILED, `database migration failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
