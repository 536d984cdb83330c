import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { ADMIN_GROUP, adminApi, hashApiToken } from './admin-api.js';
import { agentApi } from './agent-api.js';
import { AuditLog } from './audit.js';
import { BootstrapTokens } from './bootstrap-token.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { listenUrl, resolveConfig } from './config.js';
import type { ServerConfig, ServerConfigInput } from './config.js';
import { loadOrCreateSecrets } from './data-dir.js';
import { ErrorCodes, HawserServerError } from './errors.js';
import { installErrorHandler } from './http-errors.js';
import { componentLogger, createLogger } from './log.js';
import type { Logger } from './log.js';
import { Registrar } from './registrar.js';
import { openStore } from './store.js';
import type { Store } from './store.js';
import { TunnelCloseCodes, TunnelCloseReasons } from './tunnel-handler.js';
import type { TunnelHandler } from './tunnel-handler.js';
import { TunnelEndpoint } from './tunnel-endpoint.js';
import { TunnelRegistry } from './tunnel-registry.js';
import { ClusterRelay } from './cluster-relay.js';
import { cachedClusterLookup } from './cluster-lookup.js';
import { operatorAuthenticator } from './operator-authenticator.js';
import { Metrics } from './metrics.js';
import { RelayAudit } from './relay-audit.js';
import { relayListener } from './relay-listener.js';
import { SessionDirectory } from './session-directory.js';
import { SERVER_VERSION } from './version.js';

/** The running server's parts, for embedding and tests (`HawserServer.context`). */
export interface ServerContext {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly store: Store;
  readonly ca: CertificateAuthority;
  readonly tokens: BootstrapTokens;
  readonly audit: AuditLog;
  readonly registrar: Registrar;
  readonly tunnels: TunnelRegistry;
  readonly publicUrl: string;
  readonly agentUrl: string;
  readonly adminTokenFile: string;
}

export interface CreateServerOptions {
  /** Receives each accepted agent WebSocket. Default: hold it open, do nothing. */
  tunnelHandler?: TunnelHandler;
  /** Root logger. Default: pino JSON to stdout at config.logLevel. */
  logger?: Logger;
  /** Where the default logger writes (tests capture lines here). */
  logDestination?: DestinationStream;
  /** Grace for server-initiated tunnel closes. Default 500 ms. */
  tunnelCloseGraceMs?: number;
}

/** A Hawser server: two HTTPS listeners over one store. */
export interface HawserServer {
  readonly config: ServerConfig;
  /** Available once `listen()` resolved. */
  readonly context: ServerContext;
  /** Loads or creates the data dir secrets, opens and migrates the store, binds both listeners. */
  listen(): Promise<{ publicUrl: string; agentUrl: string }>;
  /** Drains: tells agents to go away, stops accepting, closes listeners and store. */
  close(): Promise<void>;
  /** Aborts: terminates tunnels and connections at once, then closes the store. */
  destroy(err?: Error): Promise<void>;
}

/** Idle keep-alive on the operator listener: fastify's default. */
const OPERATOR_KEEP_ALIVE_MS = 72_000;

function addressOf(app: FastifyInstance): AddressInfo {
  return app.server.address() as AddressInfo;
}

/**
 * Creates (but does not start) a server. Validates the config synchronously:
 * a bad field throws HSR_ERR_CONFIG_INVALID before any I/O.
 */
export function createServer(input: ServerConfig | ServerConfigInput = {}, options: CreateServerOptions = {}): HawserServer {
  const config = Object.isFrozen(input) && 'tokenTtlMs' in input ? (input as ServerConfig) : resolveConfig(input as ServerConfigInput);
  const root = options.logger ?? createLogger({ level: config.logLevel, destination: options.logDestination });
  const log = componentLogger(root, 'server');
  let context: ServerContext | undefined;
  let apps: FastifyInstance[] = [];
  let endpoint: TunnelEndpoint | undefined;
  let flushAudit: (() => Promise<void>) | undefined;
  let state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new';

  async function start(): Promise<{ publicUrl: string; agentUrl: string }> {
    const secrets = loadOrCreateSecrets(config.dataDir, config.serverNames);
    const store = await openStore(config);
    try {
      // The admin token file is the source of truth; re-registering its hash
      // on every start also covers a database that was replaced or moved.
      await store.insertApiToken({
        id: `admin-${hashApiToken(secrets.adminToken).slice(0, 16)}`,
        hash: hashApiToken(secrets.adminToken),
        user: 'admin',
        groups: [ADMIN_GROUP],
        expiresAt: null,
      });
      const audit = new AuditLog(store, componentLogger(root, 'audit'));
      const tunnels = new TunnelRegistry();
      const tokens = new BootstrapTokens(secrets.tokenSigningKey, `urn:hawser:ca:${secrets.ca.caHash.slice(7, 39)}`);
      const urls = { publicUrl: config.publicUrl ?? '', agentUrl: config.agentUrl ?? '' };
      const registrar = new Registrar({
        store,
        ca: secrets.ca,
        tokens,
        audit,
        tunnels,
        log: componentLogger(root, 'registrar'),
        tokenTtlMs: config.tokenTtlMs,
        certificateTtlMs: config.certificateTtlMs,
        certificateBackdateMs: config.certificateBackdateMs,
        agentUrl: () => urls.agentUrl,
        agentChart: config.agentChart,
      });
      // The chain includes the CA so an agent on first contact can find it by
      // the hash its bootstrap token pins (as kubeadm's discovery does).
      const tls = { key: secrets.serving.keyPem, cert: secrets.serving.certPem + secrets.ca.certPem, minVersion: 'TLSv1.2' as const };
      const fastifyOptions = {
        loggerInstance: componentLogger(root, 'http'),
        // Request lines are left to audit and route logs; fastify's own
        // per-request lines would double the volume for agent traffic.
        logController: new LogController({ disableRequestLogging: true }),
        genReqId: () => randomUUID(),
      };

      const authenticateOperator = operatorAuthenticator({ store, oidc: config.oidc });
      const sessions = new SessionDirectory({
        software: `hawser/${SERVER_VERSION}`,
        onReady: async (tunnel, peer) => {
          await store.updateAgentInfo(tunnel.cluster.id, {
            agentVersion: peer.software.replace(/^hawser-agent\//, ''),
            kubernetesVersion: peer.metadata.kubernetesVersion,
            clusterUid: peer.metadata.clusterUid,
          });
        },
      });
      const relayLog = componentLogger(root, 'relay');
      const relayAudit = new RelayAudit(store, componentLogger(root, 'audit'));
      const metrics = new Metrics(() => sessions.size);
      const relay = new ClusterRelay({
        authenticate: authenticateOperator,
        findCluster: cachedClusterLookup(store),
        tunnels: sessions,
        authorization: config.authorization,
        audit: (event) => {
          relayAudit.record(event);
          metrics.observe(event);
        },
        log: relayLog,
      });
      flushAudit = () => relayAudit.flush();
      // Relayed requests (/clusters/...) are answered before fastify: see
      // relay-listener.ts. Everything else (admin API, health, metrics) is
      // fastify's.
      const relayed = relayListener(relay, relayLog);
      // The operator server is built here only to put that fork in front;
      // its timeouts are fastify's defaults.
      const operator = Fastify({
        ...fastifyOptions,
        https: tls,
        serverFactory: (handler) => {
          const server = createHttpsServer(tls, (req, res) => {
            if (ClusterRelay.matches(req.url)) relayed(req, res);
            else handler(req, res);
          });
          server.keepAliveTimeout = OPERATOR_KEEP_ALIVE_MS;
          return server;
        },
      }) as unknown as FastifyInstance;
      const agent = Fastify({
        ...fastifyOptions,
        bodyLimit: 64 * 1024,
        // Ask every agent for a certificate but let the handshake finish
        // without one: /register has none yet; each other route checks.
        https: { ...tls, ca: [...secrets.ca.bundle], requestCert: true, rejectUnauthorized: false },
      }) as unknown as FastifyInstance;
      apps = [operator, agent];
      const httpLog = componentLogger(root, 'http');
      installErrorHandler(operator, httpLog);
      installErrorHandler(agent, httpLog);
      for (const app of apps) app.get('/healthz', async () => ({ status: 'ok' }));
      operator.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));

      const serverInfo = () => ({
        publicUrl: urls.publicUrl,
        agentUrl: urls.agentUrl,
        caHash: secrets.ca.caHash,
        caBundle: secrets.ca.bundle,
      });
      await operator.register(
        adminApi({ registrar, store, tunnels, audit, log: httpLog, serverInfo, onApiTokenRevoked: () => authenticateOperator.forget() }),
        { prefix: '/api/v1' },
      );
      await agent.register(agentApi({ registrar, store, audit }));
      endpoint = new TunnelEndpoint({
        store,
        registry: tunnels,
        handler: options.tunnelHandler ?? sessions,
        audit,
        log: componentLogger(root, 'tunnel'),
        ...(options.tunnelCloseGraceMs !== undefined ? { closeGraceMs: options.tunnelCloseGraceMs } : {}),
      });
      endpoint.attach(agent.server as unknown as HttpsServer);

      const ctx: ServerContext = {
        config,
        log: root,
        store,
        ca: secrets.ca,
        tokens,
        audit,
        registrar,
        tunnels,
        get publicUrl() {
          return urls.publicUrl;
        },
        get agentUrl() {
          return urls.agentUrl;
        },
        adminTokenFile: secrets.adminTokenFile,
      };
      (operator.server as unknown as HttpsServer).on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!ClusterRelay.matches(req.url)) return void socket.destroy();
        relay.handleUpgrade(req, socket, head).catch((err: unknown) => {
          log.error({ err }, 'relay upgrade failed');
          socket.destroy();
        });
      });
      context = ctx;

      await operator.listen({ host: config.listen.host, port: config.listen.port });
      await agent.listen({ host: config.agentListen.host, port: config.agentListen.port });
      urls.publicUrl ||= listenUrl(config.listen.host, addressOf(operator).port);
      urls.agentUrl ||= listenUrl(config.agentListen.host, addressOf(agent).port);
      log.info(
        {
          publicUrl: urls.publicUrl,
          agentUrl: urls.agentUrl,
          listen: `${config.listen.host}:${addressOf(operator).port}`,
          agentListen: `${config.agentListen.host}:${addressOf(agent).port}`,
          adminTokenFile: secrets.adminTokenFile,
          caHash: secrets.ca.caHash,
          dataDir: config.dataDir,
          database: store.engine,
          created: secrets.created,
        },
        `hawser server listening on ${urls.publicUrl} (agents: ${urls.agentUrl}); admin token in ${secrets.adminTokenFile}`,
      );
      return { publicUrl: urls.publicUrl, agentUrl: urls.agentUrl };
    } catch (err) {
      await Promise.allSettled(apps.map((a) => a.close()));
      await store.close().catch(() => undefined);
      throw err;
    }
  }

  const server: HawserServer = {
    config,
    get context(): ServerContext {
      if (!context) throw new HawserServerError(ErrorCodes.SERVER_CLOSED, 'server not started: call listen() first');
      return context;
    },
    async listen() {
      if (state !== 'new') throw new HawserServerError(ErrorCodes.SERVER_CLOSED, `listen() called on a ${state} server`);
      state = 'starting';
      try {
        const urls = await start();
        state = 'listening';
        return urls;
      } catch (err) {
        state = 'closed';
        throw err;
      }
    },
    async close() {
      if (state === 'closing' || state === 'closed' || state === 'new') {
        state = 'closed';
        return;
      }
      state = 'closing';
      // Agents first, with a reason, so they reconnect elsewhere instead of
      // treating the closed socket as a network failure.
      await context?.tunnels.closeAll(TunnelCloseCodes.GOING_AWAY, TunnelCloseReasons.GOING_AWAY);
      await endpoint?.close();
      await Promise.allSettled(apps.map((a) => a.close()));
      await flushAudit?.();
      await context?.store.close();
      state = 'closed';
      log.info('hawser server closed');
    },
    async destroy(err?: Error) {
      if (state === 'closed') return;
      state = 'closing';
      if (err) log.error({ err }, 'hawser server destroyed');
      endpoint?.terminateAll();
      for (const app of apps) (app.server as unknown as HttpsServer).closeAllConnections();
      await Promise.allSettled(apps.map((a) => a.close()));
      await context?.store.close().catch(() => undefined);
      state = 'closed';
    },
  };
  return server;
}
