import { hashApiToken } from '../auth/api-token.js';
import { ADMIN_GROUP } from '../auth/authorization.js';
import { operatorAdminRoutes } from './admin-operator-api.js';
import type { AuditLog } from '../audit/audit.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bootstrapTokenTtlProblem } from '../config.js';
import { parseDuration } from '../duration.js';
import { buildInfo } from '../version.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MintedToken, Registrar, RequestMeta } from '../registration/registrar.js';
import type { CaRotation } from '../registration/ca-rotation.js';
import type { JoinInput } from '../registration/cluster-join.js';
import { adminCaRoutes, joinView } from './admin-ca-api.js';
import type { ClusterRecord, Store } from '../store/store.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';


export const ConnectionStates = { CONNECTED: 'connected', DISCONNECTED: 'disconnected', NEVER: 'never' } as const;
export type ConnectionState = (typeof ConnectionStates)[keyof typeof ConnectionStates];

/** A cluster as the admin API and `hawser cluster list` show it. */
export interface ClusterView {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Registration state: active or deregistered. */
  registration: ClusterRecord['status'];
  /** Tunnel state on this replica: connected, disconnected (seen before) or never. */
  status: ConnectionState;
  createdAt: string;
  /** Now while connected; otherwise the last connect/disconnect time. */
  lastSeen: string | null;
  agentVersion: string | null;
  kubernetesVersion: string | null;
  clusterUID: string | null;
  certificateNotAfter: string | null;
  /** The agent's mode and the chart version that installed it, as it last reported them. */
  agentMode: string | null;
  chartVersion: string | null;
}

/** The bootstrap part of create/mint responses. */
export interface BootstrapView {
  token: string;
  expiresAt: string;
  helm: string;
  kubectl: string;
}

export interface AdminApiOptions {
  registrar: Registrar;
  store: Store;
  tunnels: TunnelRegistry;
  log: Logger;
  audit: AuditLog;
  /** Called after an API token is revoked (the relay forgets cached tokens and ends its streams). */
  onApiTokenRevoked?: (id: string) => void;
  /** `hawser ca …` (admin-ca-api.ts); absent in embeddings without a data directory. */
  caRotation?: CaRotation | undefined;
  /** Values for `GET /api/v1/server`. */
  serverInfo: () => { publicUrl: string; agentUrl: string; caHash: string; caBundle: readonly string[]; agentChart?: string | null };
}

export { hashApiToken };

export function clusterView(cluster: ClusterRecord, tunnels: TunnelRegistry): ClusterView {
  const connected = cluster.status === 'active' && tunnels.isConnected(cluster.id);
  const lastSeen = connected ? new Date() : cluster.lastSeen;
  return {
    id: cluster.id,
    name: cluster.name,
    labels: { ...cluster.labels },
    registration: cluster.status,
    status: connected ? 'connected' : cluster.lastSeen ? 'disconnected' : 'never',
    createdAt: cluster.createdAt.toISOString(),
    lastSeen: lastSeen?.toISOString() ?? null,
    agentVersion: cluster.agentVersion,
    kubernetesVersion: cluster.kubernetesVersion,
    clusterUID: cluster.clusterUid,
    certificateNotAfter: cluster.certificateNotAfter?.toISOString() ?? null,
    agentMode: cluster.agentMode,
    chartVersion: cluster.chartVersion,
  };
}

export function bootstrapView(minted: MintedToken): BootstrapView {
  return {
    token: minted.token,
    expiresAt: minted.expiresAt.toISOString(),
    helm: minted.install.helm,
    kubectl: minted.install.kubectl,
  };
}

export function tokenTtl(body: unknown): number | undefined {
  const value = (body as { tokenTtl?: unknown } | null | undefined)?.tokenTtl;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new HawserServerError(ErrorCodes.DURATION_INVALID, 'tokenTtl: expected a duration such as 1h');
  }
  const ms = parseDuration(value, 'tokenTtl');
  const problem = bootstrapTokenTtlProblem(ms);
  if (problem) throw new HawserServerError(ErrorCodes.DURATION_INVALID, `tokenTtl: ${problem}`);
  return ms;
}

function meta(request: FastifyRequest): RequestMeta {
  return { actor: request.adminUser ?? 'admin', requestId: String(request.id), sourceIp: request.ip };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin authentication hook. */
    adminUser?: string;
    /** Id of the admin token the request authenticated with. */
    adminTokenId?: string;
  }
}

/**
 * The admin API under `/api/v1`, all routes behind `Authorization: Bearer
 * <admin token>`. Register inside its own prefix so the auth hook covers
 * exactly these routes.
 */
export function adminApi(options: AdminApiOptions) {
  const { registrar, store, tunnels, log } = options;
  return async function adminRoutes(app: FastifyInstance): Promise<void> {
    app.decorateRequest('adminUser', undefined);
    app.decorateRequest('adminTokenId', undefined);
    app.addHook('onRequest', async (request) => {
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const record = match ? await store.findApiTokenByHash(hashApiToken(match[1]!)) : undefined;
      if (!record || !record.groups.includes(ADMIN_GROUP)) {
        log.warn(
          { requestId: request.id, sourceIp: request.ip, reason: match ? 'unknown-or-unprivileged-token' : 'no-bearer-token' },
          'admin request refused',
        );
        throw new HawserServerError(ErrorCodes.UNAUTHORIZED, 'admin token required (Authorization: Bearer <token>)');
      }
      request.adminUser = record.user;
      request.adminTokenId = record.id;
    });

    app.get('/server', async () => options.serverInfo());
    if (options.caRotation) adminCaRoutes(app, options.caRotation, meta);
    app.get('/version', async () => buildInfo());
    operatorAdminRoutes(app, { store, audit: options.audit, onRevoked: options.onApiTokenRevoked ?? (() => {}) });

    app.get('/clusters', async () => {
      const clusters = await store.listClusters();
      return { clusters: clusters.map((c) => clusterView(c, tunnels)) };
    });

    app.post('/clusters', async (request, reply) => {
      const body = (request.body ?? {}) as { name?: unknown; labels?: unknown; join?: JoinInput };
      const { cluster, bootstrap, join } = await registrar.addCluster(
        { name: body.name, labels: body.labels, tokenTtlMs: tokenTtl(request.body), join: body.join },
        meta(request),
      );
      if (join) return reply.status(201).send({ cluster: clusterView(cluster, tunnels), join: joinView(join) });
      return reply.status(201).send({ cluster: clusterView(cluster, tunnels), bootstrap: bootstrapView(bootstrap!) });
    });

    app.get<{ Params: { name: string } }>('/clusters/:name', async (request) => {
      const cluster = await registrar.requireCluster(request.params.name);
      return { cluster: clusterView(cluster, tunnels) };
    });

    app.post<{ Params: { name: string } }>('/clusters/:name/tokens', async (request, reply) => {
      const cluster = await registrar.requireCluster(request.params.name);
      const minted = await registrar.mintToken(cluster, tokenTtl(request.body), meta(request));
      return reply.status(201).send({ cluster: clusterView(cluster, tunnels), bootstrap: bootstrapView(minted) });
    });

    app.delete<{ Params: { name: string } }>('/clusters/:name', async (request) => {
      const result = await registrar.removeCluster(request.params.name, meta(request));
      return {
        cluster: clusterView(result.cluster, tunnels),
        revokedCertificates: result.revokedSerials.length,
        tunnelsClosed: result.tunnelsClosed,
      };
    });
  };
}
