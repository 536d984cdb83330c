import { randomUUID } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { adminApi } from './admin/admin-api.js';
import { operatorApi } from './admin/operator-api.js';
import { ensureAdminToken } from './auth/admin-token.js';
import { agentApi } from './registration/agent-api.js';
import { AuditLog } from './audit/audit.js';
import { openRelayAudit, type OpenedRelayAudit } from './audit/relay-audit-opening.js';
import { admitAgent, recordAgentInfo } from './tunnel/agent-admission.js';
import { AuditRetention } from './audit/audit-retention.js';
import { BootstrapTokens } from './registration/bootstrap-token.js';
import type { CertificateAuthority } from './registration/certificate-authority.js';
import { listenUrl, resolveConfig } from './config.js';
import type { ServerConfig, ServerConfigInput } from './config.js';
import { loadOrCreateSecrets } from './data-dir.js';
import { lockDataDir } from './data-dir-lock.js';
import { checkDataFiles, explainDataDirFailure } from './data-dir-errors.js';
import { listenFailure } from './listen-errors.js';
import type { DataDirLock } from './data-dir-lock.js';
import { ErrorCodes, HawserServerError } from './errors.js';
import { installErrorHandler } from './http-errors.js';
import { componentLogger, createLogger } from './log.js';
import type { Logger } from './log.js';
import { Registrar } from './registration/registrar.js';
import { CaRotation } from './registration/ca-rotation.js';
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
import { MetricsListener } from './metrics-listener.js';
import { Readiness } from './readiness.js';
import { OperatorStreams, apiTokenCredential } from './auth/operator-streams.js';
import { operatorServerFactory } from './relay/relay-listener.js';
import { SERVER_VERSION } from './version.js';
import { ConsoleSessions } from './console/console-session.js';
import { ServerDrain } from './server-drain.js';
import { consoleRoutes } from './console/console-routes.js';
import { consoleAdminRoutes } from './console/console-admin-routes.js';
import { ConsoleOidcLogin } from './console/console-oidc.js';
import { OidcAuthenticator } from './auth/oidc-authenticator.js';
import { consoleAssets, findConsoleAssets } from './console/console-assets.js';
import { PeerForwarding } from './fleet/peer-forwarding.js';
import { openFleet, type Fleet } from './fleet/open-fleet.js';
import { reactToFleetEvents } from './fleet/fleet-reactions.js';
import type { TunnelOwnership } from './fleet/tunnel-ownership.js';
import type { FleetBus } from './fleet/fleet-event.js';

/**
 * How long a draining replica waits for its agents to move to another one
 * (make-before-break, tunnel-registry.ts) before telling the rest to go away;
 * at most half the drain timeout. Moving takes the dial after the spread
 * hint plus one handshake.
 */
const MOVE_WINDOW_MS = 5_000;

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
  /** `http://host:port` of the metrics listener, when `metricsListen` is set. */
  readonly metricsUrl: string | undefined;
  /** `https://host:port` other replicas dial, when `peerListen` is set. */
  readonly peerUrl: string | undefined;
  /** Which replica holds each cluster's tunnel (fleet/). */
  readonly ownership: TunnelOwnership;
  /** Events every replica acts on within a second (fleet/). */
  readonly fleetBus: FleetBus;
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
  /**
   * Drains: tells agents to go away, stops accepting, closes listeners and
   * store. `lingerMs`: keep answering 503 at least this long first, for load
   * balancers to see /readyz (server-drain.ts).
   */
  close(options?: { lingerMs?: number }): Promise<void>;
  /** Aborts: terminates tunnels and connections at once, then closes the store. */
  destroy(err?: Error): Promise<void>;
}

function addressOf(app: FastifyInstance): AddressInfo {
  return app.server.address() as AddressInfo;
}

/**
 * Creates (but does not start) a server. Validates the config synchronously:
 * a bad field throws HSR_ERR_CONFIG_INVALID before any I/O.
 */
export function createServer(input: ServerConfig | ServerConfigInput = {}, options: CreateServerOptions = {}): HawserServer {
  const config = Object.isFrozen(input) && 'tokenTtlMs' in input ? (input as ServerConfig) : resolveConfig(input as ServerConfigInput);
  const root = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat, destination: options.logDestination });
  const log = componentLogger(root, 'server');
  let context: ServerContext | undefined;
  let apps: FastifyInstance[] = [];
  // The two HTTPS servers, kept for a CA rotation's new certificate and trust.
  let operatorServer: Pick<TlsServer, 'setSecureContext'> | undefined;
  let agentServer: HttpsServer | undefined;
  let endpoint: TunnelEndpoint | undefined;
  let relayAudit: OpenedRelayAudit | undefined;
  let lock: DataDirLock | undefined;
  let metricsListener: MetricsListener | undefined;
  let retention: AuditRetention | undefined;
  let forwarding: PeerForwarding | undefined;
  let fleet: Fleet | undefined;
  let drain: ServerDrain | undefined;
  let state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new';

  async function start(): Promise<{ publicUrl: string; agentUrl: string }> {
    // First, before anything in the data directory is read or written: a
    // second server on the same directory must stop here (HSR_ERR_DATA_DIR_LOCKED).
    try {
      lock = lockDataDir(config.dataDir);
    } catch (err) {
      throw explainDataDirFailure(config.dataDir, err);
    }
    if (lock.tookOverFrom) {
      log.warn(
        { lockFile: lock.path, previousPid: lock.tookOverFrom.pid, previousStartedAt: lock.tookOverFrom.startedAt },
        `took over the data directory lock of pid ${lock.tookOverFrom.pid}, which is no longer running`,
      );
    }
    let secrets: ReturnType<typeof loadOrCreateSecrets>;
    let store: Store;
    try {
      checkDataFiles(config.dataDir);
      secrets = loadOrCreateSecrets(config.dataDir, config.serverNames);
    } catch (err) {
      lock.release();
      throw explainDataDirFailure(config.dataDir, err);
    }
    try {
      store = await openStore(config);
    } catch (err) {
      lock.release();
      throw err;
    }
    try {
      // Read at scrape time only, so the parts built below are there by then.
      const metrics = new Metrics({
        tunnels: { list: () => tunnels.list(), session: (id) => tunnels.session(id) },
        clusters: () => store.listClusters(),
        auditBacklog: () => relayAudit?.backlog(),
        version: SERVER_VERSION,
      });
      const audit = new AuditLog(store, componentLogger(root, 'audit'), (event) => metrics.observeAudit(event));
      await ensureAdminToken({ store, file: secrets.adminTokenFile, log, audit });
      retention = new AuditRetention({ store, retentionMs: config.auditRetentionMs, log: componentLogger(root, 'audit') });
      retention.start();
      fleet = await openFleet({ store, databaseUrl: config.databaseUrl, replicaId: config.replicaId, leaseTtlMs: config.leaseTtlMs, log: componentLogger(root, 'fleet') });
      // One registry of live tunnels: admin API, deregistration, drain, relay and metrics read the same one.
      const tunnels = new TunnelRegistry({
        software: `hawser/${SERVER_VERSION}`,
        drainTimeoutMs: config.drainTimeoutMs,
        // With peers to move to (a fleet on PostgreSQL), a drain moves agents before it stops serving them.
        moveWindowMs: config.peerListen ? Math.min(MOVE_WINDOW_MS, Math.floor(config.drainTimeoutMs / 2)) : 0,
        admit: (tunnel, peer) => admitAgent(tunnel, peer, store, audit),
        onReady: async (tunnel, peer) => {
          await recordAgentInfo(tunnel, peer, store);
          await rotation.onAgentReady(tunnel.cluster.id);
        },
        ownership: fleet.ownership,
      });
      // Replica-to-replica forwarding (fleet/peer-forwarding.ts): the relay finds tunnels held by other replicas.
      if (config.peerListen) {
        forwarding = new PeerForwarding({ ca: secrets.ca, replicaId: config.replicaId, listen: config.peerListen, advertise: config.peerAdvertise,
          serverNames: config.serverNames, local: tunnels, software: `hawser/${SERVER_VERSION}`, log: componentLogger(root, 'fleet') });
      }
      drain = new ServerDrain({ timeoutMs: config.drainTimeoutMs, log });
      const tokens = new BootstrapTokens(secrets.tokenSigningKey, secrets.tokenIssuer);
      const rotation = new CaRotation({
        ca: secrets.ca,
        store,
        tunnels,
        audit,
        log: componentLogger(root, 'ca'),
        dataDir: config.dataDir,
        serverNames: config.serverNames,
        serving: secrets.serving,
        // New handshakes get the new certificate and trust; live tunnels keep theirs.
        applyTls: (serving) => {
          const context = { ...tls, key: serving.keyPem, cert: serving.certPem + secrets.ca.servingCaPem };
          operatorServer?.setSecureContext(context);
          agentServer?.setSecureContext({ ...context, ca: [...secrets.ca.bundle] });
          forwarding?.refreshTls();
        },
      });
      const urls: { publicUrl: string; agentUrl: string; metricsUrl?: string; peerUrl?: string } = { publicUrl: config.publicUrl ?? '', agentUrl: config.agentUrl ?? '' };
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
        onIssued: (clusterId) =>
          rotation.reconsider().catch((err: unknown) => log.error({ err, clusterId }, 'could not re-check the CA rotation')),
        fleetBus: fleet.bus,
      });
      // The chain includes the CA so an agent on first contact can find it by
      // the hash its bootstrap token pins (as kubeadm's discovery does).
      const tls = { key: secrets.serving.keyPem, cert: secrets.serving.certPem + secrets.ca.servingCaPem, minVersion: 'TLSv1.2' as const };
      // Typed as fastify's base logger so both apps are plain FastifyInstances.
      const httpLogger: FastifyBaseLogger = componentLogger(root, 'http');
      const fastifyOptions = {
        loggerInstance: httpLogger,
        // Request lines are left to audit and route logs; fastify's own
        // per-request lines would double the volume for agent traffic.
        // requestId: the field name the relay and the agent use too.
        logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
        genReqId: () => randomUUID(),
        // fastify builds the listening line from its own https option, which
        // a serverFactory bypasses; both listeners are HTTPS.
        listenTextResolver: (address: string) => `Server listening at ${address.replace(/^http:/, 'https:')}`,
      };

      const streams = new OperatorStreams();
      const sessions = new ConsoleSessions(
        store,
        undefined,
        {
          authorization: () => config.authorization,
          streams,
          onEnded: (user, reason) => log.info({ user, reason }, 'console session ended'),
        },
        undefined,
        fleet.bus,
      );
      const authenticateOperator = operatorAuthenticator({ store, oidc: config.oidc, kubernetes: config.kubernetesAuth, sessions });
      const relayLog = componentLogger(root, 'relay');
      relayAudit = await openRelayAudit({ store, dataDir: config.dataDir, sync: config.auditSync, audit, log: componentLogger(root, 'audit') });
      const readiness = new Readiness({
        store,
        serving: () => (state === 'listening' ? 'serving' : state === 'starting' || state === 'new' ? 'starting' : 'draining'),
      });
      const clusters = cachedClusterLookup(store);
      reactToFleetEvents(fleet.bus, {
        forgetClusters: () => clusters.forget(),
        closeCluster: (id, code, reason) => tunnels.closeCluster(id, code, reason),
        endStreams: (credentialId, reason) => streams.endAll(credentialId, reason),
        forgetCredentials: () => authenticateOperator.forget(),
        endConsoleSession: (idHash) => sessions.ended(idHash),
        log: componentLogger(root, 'fleet'),
      });
      const relay = new ClusterRelay({
        streams,
        authenticate: authenticateOperator,
        findCluster: clusters,
        tunnels: drain.directory(forwarding?.directory ?? tunnels),
        authorization: config.authorization,
        begin: (event) => relayAudit!.relayAudit.begin(event),
        audit: (event) => {
          relayAudit!.relayAudit.end(event);
          metrics.observe(event);
        },
        log: relayLog,
      });
      // Both listeners are built from our own HTTPS servers (serverFactory):
      // the operator one puts the relay in front of fastify (relay-listener.ts);
      // the agent one asks every agent for a certificate but lets the
      // handshake finish without one: /register has none yet; each other
      // route checks.
      const operator = Fastify({ ...fastifyOptions, serverFactory: operatorServerFactory(relay, tls, relayLog, (server) => (operatorServer = server)) });
      const agentTls = { ...tls, ca: [...secrets.ca.bundle], requestCert: true, rejectUnauthorized: false };
      const agent = Fastify({
        ...fastifyOptions,
        bodyLimit: 64 * 1024,
        serverFactory: (handler) => (agentServer = createHttpsServer(agentTls, handler)),
      });
      apps = [operator, agent];
      const httpLog = componentLogger(root, 'http');
      installErrorHandler(operator, httpLog, { kubeStatus: true });
      installErrorHandler(agent, httpLog);
      for (const app of apps) {
        app.get('/healthz', async () => ({ status: 'ok' }));
        app.get('/livez', async () => ({ status: 'ok' }));
        app.get('/readyz', async (_request, reply) => {
          const report = await readiness.check();
          return reply.code(report.ready ? 200 : 503).send(report);
        });
      }
      if (config.operatorMetrics) operator.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
      if (config.metricsListen) metricsListener = new MetricsListener(metrics, readiness, componentLogger(root, 'metrics'));

      const serverInfo = () => ({
        publicUrl: urls.publicUrl,
        agentUrl: urls.agentUrl,
        caHash: secrets.ca.caHash,
        caBundle: secrets.ca.bundle,
        agentChart: config.agentChart ?? null,
      });
      const onApiTokenRevoked = (id: string): void => {
        authenticateOperator.forget();
        const ended = streams.endAll(apiTokenCredential(id), 'API token revoked');
        if (ended) relayLog.info({ tokenId: id, ended }, 'ended the live requests of a revoked API token');
        // And on every other replica (fleet-reactions.ts).
        fleet!.bus.publish({ type: 'credential.revoked', credentialId: apiTokenCredential(id) }).catch((err: unknown) => relayLog.warn({ err, tokenId: id }, 'could not tell the other replicas of a revoked API token'));
      };
      await operator.register(
        adminApi({ registrar, store, tunnels, audit, log: httpLog, serverInfo, caRotation: rotation, onApiTokenRevoked }),
        { prefix: '/api/v1' },
      );
      operator.addHook('onClose', async () => sessions.close());
      await operator.register(
        consoleAdminRoutes({ sessions, authorization: config.authorization, registrar, store, tunnels, audit, onApiTokenRevoked, log: httpLog }),
        { prefix: '/console/v1/admin' },
      );
      await operator.register(
        consoleRoutes({
          store,
          sessions,
          streams,
          authenticate: authenticateOperator,
          tunnels,
          authorization: config.authorization,
          oidc: config.oidc && new ConsoleOidcLogin(config.oidc, new OidcAuthenticator(config.oidc), () => `${urls.publicUrl}/console/v1/oidc/callback`),
          log: httpLog,
        }),
        { prefix: '/console/v1' },
      );
      const assets = findConsoleAssets();
      if (assets) await operator.register(consoleAssets(assets));
      else log.warn('the console is not built (npm run build): / serves nothing');
      await operator.register(
        operatorApi({ store, tunnels, authenticate: authenticateOperator, authorization: config.authorization, log: httpLog, serverInfo, oidc: config.oidc }),
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
      endpoint.attach(agent.server);
      drain.guard(operator.server);
      drain.guard(agent.server);

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
        get metricsUrl() {
          return urls.metricsUrl;
        },
        get peerUrl() {
          return urls.peerUrl;
        },
        ownership: fleet.ownership,
        fleetBus: fleet.bus,
      };
      context = ctx;

      // The peer listener first: the replica row names it before any agent's lease does.
      if (forwarding && config.peerListen) {
        const peerUrl = await forwarding.listen().catch((err: unknown) => Promise.reject(listenFailure(err, '--peer-listen', config.peerListen!)));
        urls.peerUrl = peerUrl;
        await fleet.ownership.advertise?.(peerUrl);
        forwarding.attach(fleet.ownership);
      }
      await operator.listen({ host: config.listen.host, port: config.listen.port }).catch((err: unknown) => Promise.reject(listenFailure(err, '--listen', config.listen)));
      await agent.listen({ host: config.agentListen.host, port: config.agentListen.port }).catch((err: unknown) => Promise.reject(listenFailure(err, '--agent-listen', config.agentListen)));
      urls.publicUrl ||= listenUrl(config.listen.host, addressOf(operator).port);
      urls.agentUrl ||= listenUrl(config.agentListen.host, addressOf(agent).port);
      if (metricsListener && config.metricsListen) {
        const bound = await metricsListener.listen(config.metricsListen);
        urls.metricsUrl = listenUrl(config.metricsListen.host, bound.port).replace(/^https:/, 'http:');
      }
      log.info(
        {
          publicUrl: urls.publicUrl,
          agentUrl: urls.agentUrl,
          listen: `${config.listen.host}:${addressOf(operator).port}`,
          agentListen: `${config.agentListen.host}:${addressOf(agent).port}`,
          ...(urls.metricsUrl ? { metricsUrl: urls.metricsUrl } : {}),
          ...(urls.peerUrl ? { peerUrl: urls.peerUrl } : {}),
          operatorMetrics: config.operatorMetrics,
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
      forwarding?.destroy();
      await Promise.allSettled([...apps.map((a) => a.close()), metricsListener?.close()]);
      await relayAudit?.destroy();
      await retention?.close();
      await fleet?.close().catch(() => undefined);
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
    async close(options: { lingerMs?: number } = {}) {
      if (state === 'closing' || state === 'closed' || state === 'new') {
        state = 'closed';
        return;
      }
      state = 'closing';
      // Listeners stay open while draining (server-drain.ts): /readyz says
      // so, new requests get 503 + Retry-After, agents are told to go away
      // with a reason, so they reconnect elsewhere instead of treating the
      // closed socket as a network failure.
      const tunnels = context?.tunnels;
      await drain?.drain({
        // Agents first: while they move (make-before-break), the peer
        // listener keeps taking other replicas' requests for the tunnels
        // still here; it drains once they are gone.
        goAwayAgents: async () => {
          await tunnels?.closeAll(TunnelCloseCodes.GOING_AWAY, TunnelCloseReasons.GOING_AWAY);
          await forwarding?.close(config.drainTimeoutMs);
        },
        closeIdleClients: () => (apps[0]?.server as { closeHttp2Sessions?(): void } | undefined)?.closeHttp2Sessions?.(),
        releaseLeases: async () => fleet?.ownership.close(),
        ...(options.lingerMs ? { lingerMs: options.lingerMs } : {}),
      });
      // What the drain left running is cut by its deadline: the tunnels end
      // first, so requests that had no answer yet get 503 + Retry-After
      // (cluster-relay.ts) before their connections close.
      if (drain && drain.inFlight > 0) {
        endpoint?.terminateAll();
        forwarding?.destroy();
        await drain.settled(1_000);
      }
      // Forwarded streams still open at the deadline (another replica's requests) end here.
      forwarding?.destroy();
      await endpoint?.close();
      for (const app of apps) app.server.closeAllConnections();
      await Promise.allSettled([...apps.map((a) => a.close()), metricsListener?.close()]);
      await relayAudit?.close();
      await retention?.close();
      await fleet?.close().catch((err: unknown) => log.warn({ err }, 'could not release the tunnel leases; they expire by themselves'));
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
      forwarding?.destroy();
      await relayAudit?.destroy();
      for (const app of apps) app.server.closeAllConnections();
      await Promise.allSettled([...apps.map((a) => a.close()), metricsListener?.close()]);
      await retention?.close();
      await fleet?.close().catch(() => undefined);
      await context?.store.close().catch(() => undefined);
      lock?.release();
      state = 'closed';
    },
  };
  return server;
}
