import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { adminApi } from './admin/admin-api.js';
import { operatorApi } from './admin/operator-api.js';
import { ensureAdminToken } from './auth/admin-token.js';
import { agentApi } from './registration/agent-api.js';
import { AuditEventTypes, AuditLog } from './audit/audit.js';
import { AuditJournal, JOURNAL_FILE } from './audit/audit-journal.js';
import { AuditRetention } from './audit/audit-retention.js';
import { admitAgent } from './tunnel/agent-admission.js';
import { BootstrapTokens } from './registration/bootstrap-token.js';
import type { CertificateAuthority } from './registration/certificate-authority.js';
import { listenUrl, resolveConfig } from './config.js';
import type { ServerConfig, ServerConfigInput } from './config.js';
import { loadOrCreateSecrets } from './data-dir.js';
import { lockDataDir } from './data-dir-lock.js';
import type { DataDirLock } from './data-dir-lock.js';
import { ErrorCodes, HawserServerError } from './errors.js';
import { installErrorHandler } from './http-errors.js';
import { componentLogger, createLogger } from './log.js';
import type { Logger } from './log.js';
import { Registrar } from './registration/registrar.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { TunnelCloseCodes, TunnelCloseReasons } from '@hawser/contract';
import type { TunnelHandler } from './tunnel/tunnel-handler.js';
import { TunnelEndpoint } from './tunnel/tunnel-endpoint.js';
import { TunnelRegistry } from './tunnel/tunnel-registry.js';
import { ClusterRelay } from './relay/cluster-relay.js';
import { cachedClusterLookup } from './relay/cluster-lookup.js';
import { operatorAuthenticator } from './auth/operator-authenticator.js';
import { Metrics } from './audit/metrics.js';
import { RelayAudit } from './audit/relay-audit.js';
import { OperatorStreams, apiTokenCredential } from './auth/operator-streams.js';
import { relayListener } from './relay/relay-listener.js';
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
  let lock: DataDirLock | undefined;
  let journal: AuditJournal | undefined;
  let retention: AuditRetention | undefined;
  let state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new';

  async function start(): Promise<{ publicUrl: string; agentUrl: string }> {
    // First, before anything in the data directory is read or written: a
    // second server on the same directory must stop here (HSR_ERR_DATA_DIR_LOCKED).
    lock = lockDataDir(config.dataDir);
    if (lock.tookOverFrom) {
      log.warn(
        { lockFile: lock.path, previousPid: lock.tookOverFrom.pid, previousStartedAt: lock.tookOverFrom.startedAt },
        `took over the data directory lock of pid ${lock.tookOverFrom.pid}, which is no longer running`,
      );
    }
    let secrets: ReturnType<typeof loadOrCreateSecrets>;
    let store: Store;
    try {
      secrets = loadOrCreateSecrets(config.dataDir, config.serverNames);
      store = await openStore(config);
    } catch (err) {
      lock.release();
      throw err;
    }
    try {
      const audit = new AuditLog(store, componentLogger(root, 'audit'));
      await ensureAdminToken({ store, file: secrets.adminTokenFile, log, audit });
      retention = new AuditRetention({ store, retentionMs: config.auditRetentionMs, log: componentLogger(root, 'audit') });
      retention.start();
      // One registry of live tunnels: admin API, deregistration, drain, relay and metrics read the same one.
      const tunnels = new TunnelRegistry({
        software: `hawser/${SERVER_VERSION}`,
        admit: (tunnel, peer) => admitAgent(tunnel, peer, store, audit),
        onReady: async (tunnel, peer) => {
          await store.updateAgentInfo(tunnel.cluster.id, {
            agentVersion: peer.software.replace(/^hawser-agent\//, ''),
            kubernetesVersion: peer.metadata.kubernetesVersion,
          });
        },
      });
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
      const relayLog = componentLogger(root, 'relay');
      // The relay audit's write-ahead journal: first store what an earlier
      // process left in it (a crash or kill -9), then start a fresh one.
      const auditLog = componentLogger(root, 'audit');
      const opened = await AuditJournal.open(join(config.dataDir, JOURNAL_FILE));
      journal = opened.journal;
      await RelayAudit.replay(store, opened.replay, auditLog, async (details) => {
        await audit.record({
          type: AuditEventTypes.AUDIT_GAP,
          actor: 'server',
          outcome: 'failure',
          reason: 'the previous server stopped without a clean shutdown; audit records of its last requests may be missing or have an unknown outcome',
          details,
        });
      });
      journal.replayed();
      const relayAudit = new RelayAudit(store, auditLog, journal);
      const metrics = new Metrics(() => tunnels.size);
      const streams = new OperatorStreams();
      const relay = new ClusterRelay({
        streams,
        authenticate: authenticateOperator,
        findCluster: cachedClusterLookup(store),
        tunnels,
        authorization: config.authorization,
        begin: (event) => relayAudit.begin(event),
        audit: (event) => {
          relayAudit.end(event);
          metrics.observe(event);
        },
        log: relayLog,
      });
      flushAudit = async () => {
        await relayAudit.flush();
        await journal?.close({ clean: relayAudit.openCount === 0 });
      };
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
      installErrorHandler(operator, httpLog, { kubeStatus: true });
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
        adminApi({ registrar, store, tunnels, audit, log: httpLog, serverInfo, onApiTokenRevoked: (id) => {
            authenticateOperator.forget();
            const ended = streams.endAll(apiTokenCredential(id), 'API token revoked');
            if (ended) relayLog.info({ tokenId: id, ended }, 'ended the live requests of a revoked API token');
          },
        }),
        { prefix: '/api/v1' },
      );
      await operator.register(
        operatorApi({ store, tunnels, authenticate: authenticateOperator, authorization: config.authorization, log: httpLog, serverInfo }),
        { prefix: '/api/v1/operator' },
      );
      await agent.register(agentApi({ registrar, store, audit }));
      endpoint = new TunnelEndpoint({
        store,
        registry: tunnels,
        handler: options.tunnelHandler ?? tunnels,
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
      await journal?.close({ clean: false }).catch(() => undefined);
      await retention?.close();
      await store.close().catch(() => undefined);
      lock.release();
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
      await retention?.close();
      await context?.store.close();
      lock?.release();
      state = 'closed';
      log.info('hawser server closed');
    },
    async destroy(err?: Error) {
      if (state === 'closed') return;
      state = 'closing';
      if (err) log.error({ err }, 'hawser server destroyed');
      endpoint?.terminateAll();
      await journal?.close({ clean: false }).catch(() => undefined);
      for (const app of apps) (app.server as unknown as HttpsServer).closeAllConnections();
      await Promise.allSettled(apps.map((a) => a.close()));
      await retention?.close();
      await context?.store.close().catch(() => undefined);
      lock?.release();
      state = 'closed';
    },
  };
  return server;
}
