import { randomUUID } from 'node:crypto';
import { hashApiToken, mintApiToken } from '../auth/api-token.js';
import { ADMIN_GROUP, isPrintableName } from '../auth/authorization.js';
import { AuditEventTypes, type AuditLog } from '../audit/audit.js';
import { parseDuration } from '../duration.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { RequestMeta } from '../registration/registrar.js';
import type { ApiTokenRecord, AuditEventRecord, AuditFilter, Store } from '../store/store.js';

/**
 * What an admin does to operators' access (API tokens) and reads of the
 * audit trail, once: the admin API (admin-operator-api.ts, admin token) and
 * the console's admin pages (console-admin-routes.ts, admin-tier session)
 * both call these, so both validate, store and audit alike.
 */

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

/** The audit query both APIs accept (strings, as they come in a query string). */
export interface AuditQuery {
  cluster?: string | undefined;
  user?: string | undefined;
  since?: string | undefined;
  /** Exclusive upper bound (an ISO time): the console's "older" page. */
  until?: string | undefined;
  type?: string | undefined;
  /** A relayed request's Kubernetes verb (details.verb). */
  verb?: string | undefined;
  /** `success`, `failure`, or a relayed request's HTTP status (details.status). */
  status?: string | undefined;
  limit?: string | undefined;
}

export function tokenView(t: ApiTokenRecord): ApiTokenView {
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

/** Validates, stores and audits a new operator API token; the secret is returned once. */
export async function createApiToken(
  deps: { store: Store; audit: AuditLog },
  body: { user?: unknown; groups?: unknown; ttl?: unknown },
  meta: RequestMeta,
): Promise<ApiTokenView & { token: string }> {
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
  await deps.store.insertApiToken({ id, hash: hashApiToken(token), user: body.user, groups: groups as string[], expiresAt });
  await deps.audit.record({
    type: AuditEventTypes.API_TOKEN_CREATED,
    actor: meta.actor,
    requestId: meta.requestId,
    sourceIp: meta.sourceIp,
    details: { id, user: body.user, groups, expiresAt: expiresAt?.toISOString() ?? null },
  });
  return { token, ...tokenView({ id, hash: '', user: body.user, groups: groups as string[], createdAt: new Date(), expiresAt, revokedAt: null }) };
}

/** Revokes one API token (never the last admin token), tells `onRevoked`, audits. */
export async function revokeApiToken(
  deps: { store: Store; audit: AuditLog; onRevoked: (id: string) => void },
  id: string,
  meta: RequestMeta,
): Promise<ApiTokenView> {
  const target = (await deps.store.listApiTokens()).find((t) => t.id === id);
  if (!target) throw new HawserServerError(ErrorCodes.ROUTE_NOT_FOUND, `no API token with id ${id}`, { statusCode: 404 });
  if (target.groups.includes(ADMIN_GROUP) && (await deps.store.countAdminTokens(ADMIN_GROUP)).active <= 1) {
    throw new HawserServerError(ErrorCodes.LAST_ADMIN_TOKEN, `${target.id} is the last active admin token; replace it with hawser token rotate-admin instead`);
  }
  await deps.store.revokeApiToken(target.id);
  deps.onRevoked(target.id);
  await deps.audit.record({
    type: AuditEventTypes.API_TOKEN_REVOKED,
    actor: meta.actor,
    requestId: meta.requestId,
    sourceIp: meta.sourceIp,
    details: { id: target.id, user: target.user },
  });
  return tokenView(target);
}

/** Event types `?type=` accepts. */
export const AUDIT_TYPES: readonly string[] = Object.values(AuditEventTypes);

/** The newest audit events that match a query, oldest first, and what the page left out. */
export async function auditPage(store: Store, q: AuditQuery): Promise<AuditPage> {
  let clusterId: string | undefined;
  if (q.cluster) {
    // The ACTIVE cluster of that name first: a deregistered namesake keeps
    // its own id and trail, reachable by id or while no active one has the name.
    const cluster = (await store.getClusterByName(q.cluster)) ?? (await auditedCluster(store, q.cluster));
    if (!cluster) throw new HawserServerError(ErrorCodes.CLUSTER_NOT_FOUND, `no cluster named or with id ${JSON.stringify(q.cluster)}, active or deregistered`);
    clusterId = cluster.id;
  }
  if (q.type !== undefined && !AUDIT_TYPES.includes(q.type)) {
    throw invalid(`type: unknown audit event type ${JSON.stringify(q.type)}; expected one of ${AUDIT_TYPES.join(', ')}`);
  }
  if (q.verb !== undefined && q.verb !== '' && !/^[a-z]{1,32}$/.test(q.verb)) throw invalid('verb: expected a Kubernetes verb such as get, list, watch or delete');
  if (q.status !== undefined && q.status !== '' && !/^(success|failure|[1-5]\d\d)$/.test(q.status)) throw invalid('status: expected success, failure or an HTTP status such as 403');
  let since: Date | undefined;
  if (q.since) {
    since = /^\d{4}-\d\d-\d\d/.test(q.since) ? new Date(q.since) : new Date(Date.now() - safeDuration(q.since));
    if (Number.isNaN(since.getTime())) throw invalid('since: expected a duration such as 1h or an ISO time');
  }
  let until: Date | undefined;
  if (q.until) {
    until = new Date(q.until);
    if (!/^\d{4}-\d\d-\d\d/.test(q.until) || Number.isNaN(until.getTime())) throw invalid('until: expected an ISO time');
  }
  const limit = q.limit === undefined ? 1000 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalid('limit: expected 1..10000');
  const filter: AuditFilter = {
    ...(clusterId ? { clusterId } : {}),
    ...(q.user ? { actor: q.user } : {}),
    ...(q.type ? { type: q.type } : {}),
    ...(q.verb ? { verb: q.verb } : {}),
    ...(q.status === 'success' || q.status === 'failure' ? { outcome: q.status } : q.status ? { status: Number(q.status) } : {}),
  };
  // One row past the limit says whether the limit cut events; one row before
  // `since` says whether the window hid some. Neither needs a COUNT(*).
  const events = await store.listNewestAuditEvents({ ...filter, ...(since ? { since } : {}), ...(until ? { until } : {}), limit: limit + 1 });
  const truncated = events.length > limit;
  if (truncated) events.shift();
  const [older] = since ? await store.listNewestAuditEvents({ ...filter, until: since, limit: 1 }) : [];
  return {
    events: events.map((e): AuditEventView => ({ ...e, time: e.time.toISOString() })),
    truncated,
    olderThanSince: older ? older.time.toISOString() : null,
  };
}

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
