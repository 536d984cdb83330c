import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clusterView } from '../admin/admin-api.js';
import { authorize, type AuthorizationConfig, type OperatorIdentity } from '../auth/authorization.js';
import type { OperatorAuthenticator } from '../auth/operator-authenticator.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { ConsoleSessions } from './console-session.js';
import { ConsoleOidcLogin } from './console-oidc.js';

/** Heartbeat comment on the fleet event stream, so proxies keep it open and a dead one is noticed. */
const EVENT_KEEPALIVE_MS = 15_000;

export interface ConsoleRoutesOptions {
  readonly store: Store;
  readonly sessions: ConsoleSessions;
  readonly authenticate: OperatorAuthenticator;
  readonly tunnels: TunnelRegistry;
  readonly authorization: AuthorizationConfig;
  /** Sign-in with the OpenID provider, when one is configured. */
  readonly oidc?: ConsoleOidcLogin | undefined;
  readonly log: Logger;
}

function apiTokenIdOf(identity: OperatorIdentity): string | null {
  return identity.credentialId.startsWith('api-token:') ? identity.credentialId.slice('api-token:'.length) : null;
}

/**
 * The console's own API, under /console/v1 on the operator listener:
 * sign-in and sign-out, and the fleet (clusters with live tunnel state,
 * pushed over one server-sent event stream). Kubernetes data never comes
 * from here: the console reads it through the relay (/clusters/NAME/...),
 * as the signed-in operator, like kubectl.
 */
export function consoleRoutes(opts: ConsoleRoutesOptions) {
  const { sessions, store, tunnels } = opts;

  async function signedIn(request: FastifyRequest): Promise<{ identity: OperatorIdentity; csrf: string }> {
    try {
      return await sessions.identify(request.raw);
    } catch (err) {
      opts.log.info({ reason: (err as Error).message, requestId: request.id }, 'console: not signed in');
      throw new HawserServerError(ErrorCodes.UNAUTHORIZED, 'sign in to the Hawser console');
    }
  }

  /** Signed in, and allowed on clusters at all (the same rule the relay applies). */
  async function operator(request: FastifyRequest): Promise<OperatorIdentity> {
    const { identity } = await signedIn(request);
    const authz = authorize(identity, opts.authorization);
    if (!authz.allowed) throw new HawserServerError(ErrorCodes.RELAY_FORBIDDEN, `Hawser gives ${identity.username} no access to clusters: ${authz.reason}`);
    return identity;
  }

  async function fleet() {
    const clusters = await store.listClusters();
    return clusters.map((c) => clusterView(c, tunnels));
  }

  return async function routes(app: FastifyInstance): Promise<void> {
    app.post('/session', async (request: FastifyRequest, reply: FastifyReply) => {
      const token = (request.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
        throw new HawserServerError(ErrorCodes.REQUEST_INVALID, 'send {"token": "<Hawser API token>"}');
      }
      let identity: OperatorIdentity;
      try {
        identity = await opts.authenticate(`Bearer ${token}`);
      } catch (err) {
        opts.log.info({ reason: (err as Error).message, requestId: request.id }, 'console: sign-in refused');
        throw new HawserServerError(ErrorCodes.UNAUTHORIZED, 'Hawser did not accept this token: use an operator API token (hawser token create), not the admin token');
      }
      const created = await sessions.create(identity, { apiTokenId: apiTokenIdOf(identity) });
      void reply.header('set-cookie', created.setCookie).header('cache-control', 'no-store');
      return { user: identity.username, groups: identity.groups, csrf: created.csrf, expiresAt: created.expiresAt.toISOString() };
    });

    // What the sign-in page offers.
    app.get('/config', async () => ({ oidc: opts.oidc !== undefined }));

    app.get('/oidc/start', async (_request, reply) => {
      if (!opts.oidc) throw new HawserServerError(ErrorCodes.ROUTE_NOT_FOUND, 'no OIDC issuer is configured (hawser server --oidc-issuer)');
      const { location, setCookie } = await opts.oidc.start();
      return reply.header('set-cookie', setCookie).header('cache-control', 'no-store').redirect(location, 302);
    });

    app.get('/oidc/callback', async (request, reply) => {
      if (!opts.oidc) throw new HawserServerError(ErrorCodes.ROUTE_NOT_FOUND, 'no OIDC issuer is configured (hawser server --oidc-issuer)');
      void reply.header('cache-control', 'no-store');
      try {
        const { identity, expiresAt } = await opts.oidc.finish(request.query as Record<string, string>, request.headers.cookie);
        const created = await sessions.create(identity, { notAfter: expiresAt });
        return reply.header('set-cookie', [created.setCookie, ConsoleOidcLogin.clearCookie()]).redirect('/fleet', 302);
      } catch (err) {
        opts.log.info({ reason: (err as Error).message, requestId: request.id }, 'console: OIDC sign-in failed');
        const why = new URLSearchParams({ error: `OIDC sign-in failed: ${(err as Error).message}` });
        return reply.header('set-cookie', ConsoleOidcLogin.clearCookie()).redirect(`/sign-in?${why.toString()}`, 302);
      }
    });

    app.get('/session', async (request, reply) => {
      const { identity, csrf } = await signedIn(request);
      void reply.header('cache-control', 'no-store');
      return { user: identity.username, groups: identity.groups, csrf };
    });

    app.delete('/session', async (request, reply) => {
      await signedIn(request);
      await sessions.end(request.raw);
      void reply.header('set-cookie', ConsoleSessions.clearCookie());
      return { signedOut: true };
    });

    app.get('/clusters', async (request) => {
      await operator(request);
      return { clusters: await fleet() };
    });

    // The fleet, live: one snapshot, then one event per cluster whose
    // tunnel came up or went down. One stream per page, whatever the fleet's size.
    app.get('/events', async (request, reply) => {
      await operator(request);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      send('fleet', { clusters: await fleet() });
      const unwatch = tunnels.watch((clusterId) => {
        store.getCluster(clusterId).then(
          (c) => c && send('cluster', clusterView(c, tunnels)),
          (err: unknown) => opts.log.warn({ err }, 'console: cluster lookup for an event failed'),
        );
      });
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), EVENT_KEEPALIVE_MS);
      const untrack = sessions.track(request.raw, () => res.end());
      request.raw.on('close', () => {
        untrack();
        unwatch();
        clearInterval(keepalive);
      });
    });
  };
}
