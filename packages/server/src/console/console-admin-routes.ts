import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditPage, createApiToken, revokeApiToken, tokenView, type AuditQuery } from '../admin/admin-actions.js';
import { bootstrapView, clusterView, tokenTtl } from '../admin/admin-api.js';
import type { AuditLog } from '../audit/audit.js';
import { authorize, type AuthorizationConfig, type OperatorIdentity } from '../auth/authorization.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Registrar, RequestMeta } from '../registration/registrar.js';
import type { Store } from '../store/store.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { ConsoleSessions } from './console-session.js';

export interface ConsoleAdminRoutesOptions {
  readonly sessions: ConsoleSessions;
  readonly authorization: AuthorizationConfig;
  readonly registrar: Registrar;
  readonly store: Store;
  readonly tunnels: TunnelRegistry;
  readonly audit: AuditLog;
  /** The same hook the admin API calls: forget cached tokens, end their live requests. */
  readonly onApiTokenRevoked: (id: string) => void;
  readonly log: Logger;
}

/** The tier the console's admin pages need. */
const ADMIN_TIER = 'admin';

/**
 * The console's admin pages' API, under /console/v1/admin: register and
 * deregister clusters, API tokens, the audit log. Authenticated by the
 * console session (cookie; the CSRF header and the Origin check on every
 * unsafe call, console-session.ts), allowed to operators of the admin tier
 * only. Every call does what the admin API's does, through the same
 * registrar and admin-actions.ts functions, so it is validated and audited
 * alike; the actor is the signed-in operator.
 */
export function consoleAdminRoutes(opts: ConsoleAdminRoutesOptions) {
  const { registrar, store, tunnels, audit } = opts;

  async function signedIn(request: FastifyRequest): Promise<OperatorIdentity> {
    try {
      return (await opts.sessions.identify(request.raw)).identity;
    } catch (err) {
      opts.log.info({ reason: (err as Error).message, requestId: request.id }, 'console admin: not signed in');
      throw new HawserServerError(ErrorCodes.UNAUTHORIZED, 'sign in to the Hawser console');
    }
  }

  function tierOf(identity: OperatorIdentity): string | null {
    const authz = authorize(identity, opts.authorization);
    return authz.allowed ? (authz.tier ?? null) : null;
  }

  /** The operator, when of the admin tier; the request's audit metadata. */
  async function admin(request: FastifyRequest): Promise<RequestMeta> {
    const identity = await signedIn(request);
    const tier = tierOf(identity);
    if (tier !== ADMIN_TIER) {
      throw new HawserServerError(
        ErrorCodes.CONSOLE_ADMIN_ONLY,
        `the admin pages are for operators of the admin tier; ${identity.username} is ${tier ? `of the ${tier} tier` : 'of no tier'}`,
      );
    }
    return { actor: identity.username, requestId: String(request.id), sourceIp: request.ip };
  }

  return async function routes(app: FastifyInstance): Promise<void> {
    app.addHook('onSend', async (_request, reply) => {
      void reply.header('cache-control', 'no-store');
    });

    // Whether to show the Admin link: any signed-in operator may ask.
    app.get('/access', async (request) => {
      const identity = await signedIn(request);
      const tier = tierOf(identity);
      return { admin: tier === ADMIN_TIER, tier };
    });

    app.post('/clusters', async (request, reply) => {
      const meta = await admin(request);
      const body = (request.body ?? {}) as { name?: unknown; labels?: unknown };
      const { cluster, bootstrap } = await registrar.addCluster({ name: body.name, labels: body.labels, tokenTtlMs: tokenTtl(request.body) }, meta);
      return reply.status(201).send({ cluster: clusterView(cluster, tunnels), bootstrap: bootstrapView(bootstrap!) });
    });

    // The typed name travels too: a stray click or a replayed request cannot deregister.
    app.delete<{ Params: { name: string }; Querystring: { confirm?: string } }>('/clusters/:name', async (request) => {
      const meta = await admin(request);
      if (request.query.confirm !== request.params.name) {
        throw new HawserServerError(ErrorCodes.CONFIRMATION_MISMATCH, `type the cluster's name, ${request.params.name}, to deregister it`);
      }
      const result = await registrar.removeCluster(request.params.name, meta);
      return { cluster: clusterView(result.cluster, tunnels), revokedCertificates: result.revokedSerials.length, tunnelsClosed: result.tunnelsClosed };
    });

    app.get('/tokens', async (request) => {
      await admin(request);
      return { tokens: (await store.listApiTokens()).map(tokenView) };
    });

    app.post('/tokens', async (request, reply) => {
      const meta = await admin(request);
      const body = (request.body ?? {}) as { user?: unknown; groups?: unknown; ttl?: unknown };
      return reply.status(201).send(await createApiToken({ store, audit }, body, meta));
    });

    app.delete<{ Params: { id: string } }>('/tokens/:id', async (request) => {
      const meta = await admin(request);
      return { revoked: await revokeApiToken({ store, audit, onRevoked: opts.onApiTokenRevoked }, request.params.id, meta) };
    });

    app.get<{ Querystring: AuditQuery }>('/audit', async (request) => {
      await admin(request);
      return auditPage(store, request.query);
    });
  };
}
