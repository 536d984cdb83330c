import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { adminTokenRecord, mintAdminToken } from '../auth/admin-token.js';
import { hashApiToken, mintApiToken } from '../auth/api-token.js';
import { ADMIN_GROUP, isPrintableName } from '../auth/authorization.js';
import { AuditEventTypes, type AuditLog } from '../audit/audit.js';
import { parseDuration } from '../duration.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { ApiTokenRecord, AuditEventRecord, Store } from '../store/store.js';

/** An API token as the admin API shows it: never its secret or hash. */
export interface ApiTokenView {
  id: string;
  user: string;
  groups: string[];
  createdAt: string;
  expiresAt: string | null;
  /** True for admin tokens (group hawser:admins): they manage Hawser and open no cluster. */
  admin: boolean;
}

export interface AuditEventView extends Omit<AuditEventRecord, 'time'> {
  time: string;
}

/** `GET /api/v1/audit`: the newest events that match, oldest first, and what was left out. */
export interface AuditPage {
  events: AuditEventView[];
  /** True when more events match than `limit`: the oldest of them are not in `events`. */
  truncated: boolean;
  /** Time of the newest matching event before `since`, when the window left some out. */
  olderThanSince: string | null;
}


function tokenView(t: ApiTokenRecord): ApiTokenView {
  return {
    id: t.id,
    user: t.user,
    groups: [...t.groups],
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    admin: t.groups.includes(ADMIN_GROUP),
  };
}

function invalid(message: string): HawserServerError {
  return new HawserServerError(ErrorCodes.REQUEST_INVALID, message);
}

/**
 * Admin routes for operators' access: Hawser API tokens for people and
 * automation, and the audit trail. Registered inside the admin API scope,
 * so its admin-token hook covers them.
 */
export function operatorAdminRoutes(app: FastifyInstance, opts: { store: Store; audit: AuditLog; onRevoked: (id: string) => void }): void {
  const { store, audit } = opts;

  app.post('/tokens', async (request, reply) => {
    const body = (request.body ?? {}) as { user?: unknown; groups?: unknown; ttl?: unknown };
    if (typeof body.user !== 'string' || !isPrintableName(body.user)) throw invalid('user: expected a user name (1-256 printable characters)');
    const groups = body.groups ?? [];
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || !isPrintableName(g))) throw invalid('groups: expected a list of group names');
    if (groups.includes(ADMIN_GROUP)) throw invalid(`groups: ${ADMIN_GROUP} is reserved for admin tokens (hawser token rotate-admin)`);
    let expiresAt: Date | null = null;
    if (body.ttl !== undefined) {
      if (typeof body.ttl !== 'string' && typeof body.ttl !== 'number') throw invalid('ttl: expected a duration such as 12h or 90d');
      try {
        expiresAt = new Date(Date.now() + parseDuration(body.ttl, 'ttl'));
      } catch {
        throw invalid('ttl: expected a duration such as 12h or 90d');
      }
    }
    const token = mintApiToken();
    const id = randomUUID();
    await store.insertApiToken({ id, hash: hashApiToken(token), user: body.user, groups: groups as string[], expiresAt });
    await audit.record({
      type: AuditEventTypes.API_TOKEN_CREATED,
      actor: request.adminUser ?? 'admin',
      requestId: String(request.id),
      sourceIp: request.ip,
      details: { id, user: body.user, groups, expiresAt: expiresAt?.toISOString() ?? null },
    });
    return reply.status(201).send({ token, ...tokenView({ id, hash: '', user: body.user, groups: groups as string[], createdAt: new Date(), expiresAt, revokedAt: null }) });
  });

  app.get('/tokens', async () => {
    const tokens = await store.listApiTokens();
    return { tokens: tokens.map(tokenView) };
  });

  // Mints a new admin token and revokes the one this request came with, in
  // one transaction; the CLI writes the new one to its admin token file.
  app.post('/tokens/rotate-admin', async (request, reply) => {
    const oldId = request.adminTokenId;
    const token = mintAdminToken();
    const record = adminTokenRecord(token);
    if (!oldId || !(await store.rotateApiToken(oldId, record))) {
      throw new HawserServerError(ErrorCodes.UNAUTHORIZED, 'the admin token of this request was revoked meanwhile');
    }
    opts.onRevoked(oldId);
    await audit.record({
      type: 'api-token.rotated',
      actor: request.adminUser ?? 'admin',
      requestId: String(request.id),
      sourceIp: request.ip,
      details: { id: record.id, revoked: oldId, user: record.user },
    });
    return reply.status(201).send({
      token,
      revoked: oldId,
      ...tokenView({ ...record, createdAt: new Date(), revokedAt: null }),
    });
  });

  app.delete<{ Params: { id: string } }>('/tokens/:id', async (request) => {
    const tokens = await store.listApiTokens();
    const target = tokens.find((t) => t.id === request.params.id);
    if (!target) {
      throw new HawserServerError(ErrorCodes.ROUTE_NOT_FOUND, `no API token with id ${request.params.id}`, { statusCode: 404 });
    }
    if (target.groups.includes(ADMIN_GROUP) && (await store.countAdminTokens(ADMIN_GROUP)).active <= 1) {
      throw new HawserServerError(
        ErrorCodes.LAST_ADMIN_TOKEN,
        `${target.id} is the last active admin token; replace it with hawser token rotate-admin instead`,
      );
    }
    await store.revokeApiToken(target.id);
    opts.onRevoked(target.id);
    await audit.record({
      type: AuditEventTypes.API_TOKEN_REVOKED,
      actor: request.adminUser ?? 'admin',
      requestId: String(request.id),
      sourceIp: request.ip,
      details: { id: target.id, user: target.user },
    });
    return { revoked: tokenView(target) };
  });

  app.get<{ Querystring: { cluster?: string; user?: string; since?: string; type?: string; limit?: string } }>('/audit', async (request) => {
    const q = request.query;
    let clusterId: string | undefined;
    if (q.cluster) {
      // The ACTIVE cluster of that name first: a deregistered namesake keeps
      // its own id and trail, reachable by id or while no active one has the name.
      const cluster = (await store.getClusterByName(q.cluster)) ?? (await auditedCluster(store, q.cluster));
      if (!cluster) {
        throw new HawserServerError(ErrorCodes.CLUSTER_NOT_FOUND, `no cluster named or with id ${JSON.stringify(q.cluster)}, active or deregistered`);
      }
      clusterId = cluster.id;
    }
    if (q.type !== undefined && !AUDIT_TYPES.includes(q.type)) {
      throw invalid(`type: unknown audit event type ${JSON.stringify(q.type)}; expected one of ${AUDIT_TYPES.join(', ')}`);
    }
    let since: Date | undefined;
    if (q.since) {
      since = /^\d{4}-\d\d-\d\d/.test(q.since) ? new Date(q.since) : new Date(Date.now() - safeDuration(q.since));
      if (Number.isNaN(since.getTime())) throw invalid('since: expected a duration such as 1h or an ISO time');
    }
    const limit = q.limit === undefined ? 1000 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalid('limit: expected 1..10000');
    const filter = { ...(clusterId ? { clusterId } : {}), ...(q.user ? { actor: q.user } : {}), ...(q.type ? { type: q.type } : {}) };
    // One row past the limit says whether the limit cut events; one row before
    // `since` says whether the window hid some. Neither needs a COUNT(*).
    const events = await store.listNewestAuditEvents({ ...filter, ...(since ? { since } : {}), limit: limit + 1 });
    const truncated = events.length > limit;
    if (truncated) events.shift();
    const [older] = since ? await store.listNewestAuditEvents({ ...filter, until: since, limit: 1 }) : [];
    return {
      events: events.map((e): AuditEventView => ({ ...e, time: e.time.toISOString() })),
      truncated,
      olderThanSince: older ? older.time.toISOString() : null,
    } satisfies AuditPage;
  });
}

/** Event types `GET /audit?type=` accepts. */
const AUDIT_TYPES: readonly string[] = Object.values(AuditEventTypes);

/** A deregistered cluster by id, or the most recently deregistered one of that name. */
async function auditedCluster(store: Store, nameOrId: string): Promise<{ id: string } | undefined> {
  const all = await store.listClusters({ includeDeregistered: true });
  const byId = all.find((c) => c.id === nameOrId);
  if (byId) return byId;
  return all
    .filter((c) => c.name === nameOrId)
    .sort((a, b) => (b.deregisteredAt?.getTime() ?? Infinity) - (a.deregisteredAt?.getTime() ?? Infinity))[0];
}

function safeDuration(text: string): number {
  try {
    return parseDuration(text, 'since');
  } catch {
    throw invalid('since: expected a duration such as 1h or an ISO time');
  }
}
