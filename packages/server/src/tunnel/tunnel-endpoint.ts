import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { AgentPaths, ERROR_CODE_HEADER, TunnelCloseCodes, TunnelCloseReasons } from '@hawser/contract';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { AuditEventTypes, type AuditLog } from '../audit/audit.js';
import { printable } from '../printable.js';
import { authenticateAgent, ClientCertificateError } from './client-certificate.js';
import type { AuthenticatedAgent } from './client-certificate.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { TunnelHandler, TunnelSession } from './tunnel-handler.js';
import type { TunnelConnection, TunnelRegistry } from './tunnel-registry.js';

export interface TunnelEndpointOptions {
  store: Store;
  registry: TunnelRegistry;
  handler: TunnelHandler;
  audit: AuditLog;
  log: Logger;
  /**
   * How long a server-initiated close waits for the agent's close frame
   * before terminating the socket. Default 500 ms, so a deregistration cuts
   * the tunnel well within one second even when the agent is unresponsive.
   */
  closeGraceMs?: number;
  /** Largest WebSocket message accepted. Default 1 MiB (the protocol bounds its frames below this). */
  maxPayload?: number;
  /**
   * How often `last_seen` of clusters with a live tunnel is refreshed, so
   * another replica (or a restart) sees a recent time. Default 60 s.
   */
  lastSeenIntervalMs?: number;
}

/** Writes a plain HTTP refusal on a socket that asked to upgrade, then closes it. */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `${ERROR_CODE_HEADER}: ${code}\r\n` +
      '\r\n' +
      body,
  );
}

/**
 * Accepts agent WebSockets on `GET /agent/v1/tunnel`. The upgrade is
 * authenticated before the WebSocket handshake completes, so a refused agent
 * gets a real HTTP status and reason rather than an opened-then-closed socket.
 */
export class TunnelEndpoint {
  readonly #o: Required<TunnelEndpointOptions>;
  readonly #wss: WebSocketServer;
  readonly #log: Logger;
  #lastSeenTimer: NodeJS.Timeout | undefined;

  constructor(options: TunnelEndpointOptions) {
    this.#o = { closeGraceMs: 500, maxPayload: 1024 * 1024, lastSeenIntervalMs: 60_000, ...options };
    this.#log = options.log;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: this.#o.maxPayload, perMessageDeflate: false });
  }

  /** Starts handling 'upgrade' on the agent listener. */
  attach(server: HttpServer): void {
    this.#lastSeenTimer = setInterval(() => this.#refreshLastSeen(), this.#o.lastSeenIntervalMs);
    this.#lastSeenTimer.unref();
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onUpgrade(request, socket, head).catch((err: unknown) => {
        this.#log.error({ err }, 'tunnel upgrade failed');
        refuseUpgrade(socket, 500, 'HSR_ERR_INTERNAL', 'internal error');
      });
    });
  }

  async #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const path = (request.url ?? '').split('?')[0];
    if (path !== AgentPaths.TUNNEL) {
      return refuseUpgrade(socket, 404, 'HSR_ERR_ROUTE_NOT_FOUND', `no WebSocket endpoint at ${path}`);
    }
    const sourceIp = request.socket.remoteAddress;
    let agent: AuthenticatedAgent;
    try {
      agent = await authenticateAgent(socket as TLSSocket, this.#o.store);
    } catch (err) {
      if (!(err instanceof ClientCertificateError)) throw err;
      this.#log.warn({ reason: err.reason, clusterId: err.clusterId, sourceIp }, 'tunnel refused');
      if (err.reason !== 'certificate-missing') {
        await this.#o.audit.record({
          type: AuditEventTypes.CERTIFICATE_REFUSED,
          actor: 'anonymous',
          clusterId: err.clusterId,
          sourceIp,
          outcome: 'failure',
          reason: err.reason,
          details: { route: AgentPaths.TUNNEL },
        });
      }
      return refuseUpgrade(socket, err.statusCode, err.code, err.message);
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#accept(ws, request, agent).catch((err: unknown) => {
        this.#log.error({ err, clusterId: agent.cluster.id }, 'tunnel handler failed');
        ws.close(1011, 'internal error');
      });
    });
  }

  async #accept(ws: WebSocket, request: IncomingMessage, agent: AuthenticatedAgent): Promise<void> {
    const { cluster, certificate } = agent;
    const id = randomUUID();
    const log = this.#log.child({ clusterId: cluster.id, cluster: cluster.name, connectionId: id });
    const grace = this.#o.closeGraceMs;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    let session: TunnelSession | void = undefined;
    let closing: Promise<void> | undefined;

    const connection: TunnelConnection = {
      id,
      clusterId: cluster.id,
      clusterName: cluster.name,
      connectedAt: new Date(),
      remoteAddress: request.socket.remoteAddress,
      certificateFingerprint: certificate.fingerprint,
      close(code: number, reason: string): Promise<void> {
        closing ??= (async () => {
          // A drain (1001) ends by the session's own deadline (--drain-timeout);
          // any other close gets `grace` for the agent to answer it.
          const drain = code === TunnelCloseCodes.GOING_AWAY && session !== undefined;
          const timer = drain ? undefined : setTimeout(() => ws.terminate(), grace);
          try {
            if (session) await session.close(code, reason);
            else ws.close(code, reason);
          } catch (err) {
            log.warn({ err }, 'tunnel session close failed; closing the WebSocket');
            ws.close(code, reason);
          }
          await closed;
          clearTimeout(timer);
        })();
        return closing;
      },
    };

    this.#o.registry.add(connection);
    ws.on('error', (err) => log.warn({ err }, 'tunnel socket error'));
    ws.once('close', (code: number, reason: Buffer) => {
      this.#o.registry.remove(connection);
      log.info({ code, reason: reason.toString() }, 'agent disconnected');
      void this.#o.store.touchLastSeen(cluster.id).catch((err: unknown) => log.warn({ err }, 'last_seen update failed'));
      void this.#o.audit.record({
        type: AuditEventTypes.AGENT_DISCONNECTED,
        actor: `agent:${cluster.id}`,
        clusterId: cluster.id,
        sourceIp: connection.remoteAddress,
        details: { connectionId: id, code, reason: reason.toString() },
      });
    });

    // The agent speaks first (its handshake) as soon as it sees the 101,
    // while we still wait on the store below. A WebSocket drops messages
    // that arrive with no listener, so they wait in the socket until the
    // session listens (or the tunnel is refused and closed).
    ws.pause();
    try {
      session = await this.#admit(ws, request, agent, connection, log);
    } finally {
      ws.resume();
    }
  }

  /** Store checks and audit of an accepted tunnel, then its session; undefined if refused. */
  async #admit(ws: WebSocket, request: IncomingMessage, agent: AuthenticatedAgent, connection: TunnelConnection, log: Logger): Promise<TunnelSession | void> {
    const { cluster, certificate } = agent;
    const id = connection.id;
    // A deregistration that ran while this upgrade was being authenticated
    // saw no tunnel to close; look again now that the tunnel is registered.
    const recheck = await this.#o.store.getCertificateByFingerprint(certificate.fingerprint);
    if (!recheck || recheck.revokedAt) {
      ws.resume(); // the close handshake must be readable
      await connection.close(TunnelCloseCodes.DEREGISTERED, TunnelCloseReasons.DEREGISTERED);
      return;
    }

    await this.#o.store.touchLastSeen(cluster.id);
    log.info({ serial: certificate.serial, sourceIp: connection.remoteAddress }, 'agent connected');
    await this.#o.audit.record({
      type: AuditEventTypes.AGENT_CONNECTED,
      actor: `agent:${cluster.id}`,
      clusterId: cluster.id,
      sourceIp: connection.remoteAddress,
      // The agent chose this header: escaped and bounded like its HELLO (agent-metadata.ts).
      details: { connectionId: id, serial: certificate.serial, userAgent: printable((request.headers['user-agent'] ?? '').slice(0, 256)) || null },
    });
    if (ws.readyState !== ws.OPEN) return;
    return this.#o.handler.open({ socket: ws, cluster, certificate, request, connectionId: id, log });
  }

  #refreshLastSeen(): void {
    const ids = [...new Set(this.#o.registry.list().map((c) => c.clusterId))];
    this.#o.store.touchLastSeenMany(ids).catch((err: unknown) => this.#log.warn({ err }, 'last_seen refresh failed'));
  }

  /** Hard stop: terminates every agent socket at once. */
  terminateAll(): void {
    clearInterval(this.#lastSeenTimer);
    for (const ws of this.#wss.clients) ws.terminate();
  }

  /** Closes the WebSocket server (after the registry drained the tunnels). */
  close(): Promise<void> {
    clearInterval(this.#lastSeenTimer);
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}

