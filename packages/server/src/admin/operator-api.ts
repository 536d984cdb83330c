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
}

/**
 * Routes for operators themselves, authenticated with their own credential
 * (a Hawser API token or an OIDC ID token, as on the relay), never the admin
 * token: they list the clusters the operator may open, so an operator gets a
 * kubeconfig without asking an admin. Registered in its own scope (prefix
 * /api/v1/operator), outside the admin token hook.
 */
export function operatorApi(options: OperatorApiOptions) {
  return async function operatorRoutes(app: FastifyInstance): Promise<void> {
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
