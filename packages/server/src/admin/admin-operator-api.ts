import type { FastifyInstance, FastifyRequest } from 'fastify';
import { adminTokenRecord, mintAdminToken } from '../auth/admin-token.js';
import type { AuditLog } from '../audit/audit.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { RequestMeta } from '../registration/registrar.js';
import type { Store } from '../store/store.js';
import { auditPage, createApiToken, revokeApiToken, tokenView, type AuditQuery } from './admin-actions.js';

export type { ApiTokenView, AuditEventView, AuditPage } from './admin-actions.js';

function meta(request: FastifyRequest): RequestMeta {
  return { actor: request.adminUser ?? 'admin', requestId: String(request.id), sourceIp: request.ip };
}

/**
 * Admin routes for operators' access: Hawser API tokens for people and
 * automation, and the audit trail. Registered inside the admin API scope,
 * so its admin-token hook covers them. The work itself is in
 * admin-actions.ts, shared with the console's admin pages.
 */
export function operatorAdminRoutes(app: FastifyInstance, opts: { store: Store; audit: AuditLog; onRevoked: (id: string) => void }): void {
  const { store, audit } = opts;

  app.post('/tokens', async (request, reply) => {
    const body = (request.body ?? {}) as { user?: unknown; groups?: unknown; ttl?: unknown };
    return reply.status(201).send(await createApiToken({ store, audit }, body, meta(request)));
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

  app.delete<{ Params: { id: string } }>('/tokens/:id', async (request) => ({
    revoked: await revokeApiToken({ store, audit, onRevoked: opts.onRevoked }, request.params.id, meta(request)),
  }));

  app.get<{ Querystring: AuditQuery }>('/audit', async (request) => auditPage(store, request.query));
}
