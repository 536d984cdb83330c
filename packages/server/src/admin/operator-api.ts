import type { FastifyInstance } from 'fastify';
import { authorize } from '../auth/authorization.js';
import type { AuthorizationConfig } from '../auth/authorization.js';
import type { OperatorAuthenticator } from '../auth/operator-authenticator.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';

/** `GET /api/v1/operator/clusters`: what `hawser login` writes a kubeconfig from. */
export interface OperatorClustersView {
  user: string;
  /** The tier the operator's groups map to (tier mode), else null. */
  tier: string | null;
  publicUrl: string;
  caBundle: readonly string[];
  clusters: { name: string; status: 'connected' | 'disconnected' }[];
}

export interface OperatorApiOptions {
  store: Store;
  tunnels: TunnelRegistry;
  authenticate: OperatorAuthenticator;
  authorization: AuthorizationConfig;
  log: Logger;
  serverInfo: () => { publicUrl: string; caBundle: readonly string[] };
  /** The configured OpenID provider, when there is one (`GET /oidc`). */
  oidc?: { issuer: string; audience: string } | undefined;
}

/**
 * `GET /api/v1/operator/oidc`: what `hawser login --oidc` signs in with. The
 * client id is the audience Hawser expects in ID tokens: a public client
 * (no secret, PKCE), so publishing it gives nothing away; the issuer is in
 * every token anyway. Answered without authentication: the CLI asks before
 * the operator has any credential.
 */
export interface OperatorOidcView {
  issuer: string;
  clientId: string;
  /** What the CLI asks for; `offline_access` for a refresh token. */
  scopes: string[];
}

export const CLI_OIDC_SCOPES = ['openid', 'email', 'profile', 'groups', 'offline_access'] as const;

/**
 * Routes for operators themselves, authenticated with their own credential
 * (a Hawser API token or an OIDC ID token, as on the relay), never the admin
 * token: they list the clusters the operator may open, so an operator gets a
 * kubeconfig without asking an admin. Registered in its own scope (prefix
 * /api/v1/operator), outside the admin token hook.
 */
export function operatorApi(options: OperatorApiOptions) {
  return async function operatorRoutes(app: FastifyInstance): Promise<void> {
    app.get('/oidc', async (): Promise<OperatorOidcView> => {
      if (!options.oidc) throw new HawserServerError(ErrorCodes.OIDC_NOT_CONFIGURED, 'this Hawser server has no OpenID provider configured (--oidc-issuer); sign in with an API token: hawser login --token-file FILE');
      return { issuer: options.oidc.issuer, clientId: options.oidc.audience, scopes: [...CLI_OIDC_SCOPES] };
    });
    app.get('/clusters', async (request): Promise<OperatorClustersView> => {
      let identity;
      try {
        identity = await options.authenticate(request.headers.authorization);
      } catch (err) {
        options.log.warn({ requestId: request.id, sourceIp: request.ip, reason: (err as Error).message }, 'operator request refused');
        throw new HawserServerError(ErrorCodes.UNAUTHORIZED, 'an operator credential is required (Authorization: Bearer <API token or OIDC ID token>)');
      }
      const authz = authorize(identity, options.authorization);
      if (!authz.allowed) throw new HawserServerError(ErrorCodes.RELAY_FORBIDDEN, `no cluster is open to you: ${authz.reason}`);
      // Every active cluster: Hawser grants a tier on all of them; the
      // cluster's own RBAC then decides what the tier may do there.
      const clusters = await options.store.listClusters();
      const info = options.serverInfo();
      return {
        user: identity.username,
        tier: authz.tier ?? null,
        publicUrl: info.publicUrl,
        caBundle: info.caBundle,
        clusters: clusters.map((c) => ({ name: c.name, status: options.tunnels.isConnected(c.id) ? 'connected' : 'disconnected' })),
      };
    });
  };
}
