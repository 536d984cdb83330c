import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type SecureServerOptions, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ClusterRelay } from './cluster-relay.js';
import { ErrorCodes } from '../errors.js';
import { sendKubeStatus } from './kube-status.js';
import type { OperatorRequest, OperatorResponse } from './operator-http.js';
import type { Logger } from '../log.js';

/** Idle keep-alive on the operator listener (HTTP/1.1 connections and HTTP/2 sessions alike): fastify's default. */
const OPERATOR_KEEP_ALIVE_MS = 72_000;

/**
 * Streams one HTTP/2 session may carry at once: kube-apiserver's default
 * (--http2-max-streams-per-connection 1000), so an informer-heavy client
 * (a controller, k9s) fits on one connection as it does directly.
 */
const MAX_CONCURRENT_STREAMS = 1000;

/**
 * The operator listener's server: an HTTP/2 server that also takes
 * HTTP/1.1, plus the connection controls fastify and
 * `HawserServer.destroy()` call.
 */
export type OperatorServer = Http2SecureServer & {
  /** Ends every connection at once, both protocols (destroy). */
  closeAllConnections(): void;
  /** Asks every HTTP/2 session to finish its streams and go (GOAWAY); fastify calls it on close. */
  closeHttp2Sessions(): void;
};

/**
 * The operator listener's request handler for `/clusters/...`, called
 * before fastify sees the request. fastify would only route these (the
 * relay streams both ways itself and answers every error as a Kubernetes
 * Status), yet its request and reply objects, hooks and child logger were
 * a measurable part of a small GET's CPU time (docs/architecture.md,
 * "Performance: the relay end to end").
 */
export function relayListener(relay: ClusterRelay, log: Logger): (req: OperatorRequest, res: OperatorResponse) => void {
  return (req, res) => {
    relay.handle(req, res).catch((err: unknown) => {
      // A bug must cost one request, never the process.
      log.error({ err, url: req.url }, 'relay failed');
      if (!res.headersSent) sendKubeStatus(res, { status: 500, code: ErrorCodes.INTERNAL, message: 'Hawser failed to relay this request' });
      else res.destroy();
    });
  };
}

/**
 * The operator listener's server, for fastify's `serverFactory`: one TLS
 * port offering HTTP/2 and HTTP/1.1 by ALPN (kubectl and client-go pick
 * h2, as they do against an API server, and multiplex every watch over one
 * connection). Relayed requests (`/clusters/...`) go to the relay,
 * everything else (admin API, health, metrics) to fastify's handler.
 * Upgrades (exec, attach, port-forward) only exist on HTTP/1.1 connections
 * (client-go forces HTTP/1.1 for them); upgrades anywhere but the relay
 * are closed: nothing else speaks WebSocket or SPDY here.
 */
export function operatorServerFactory(relay: ClusterRelay, tls: SecureServerOptions, log: Logger, onServer?: (server: Http2SecureServer) => void) {
  const relayed = relayListener(relay, log);
  return (fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void): HttpServer => {
    const server = createSecureServer(
      // noDelay: Node's HTTP/1 server sets it on every socket; an HTTP/2
      // server does not, and its HTTP/1.1 connections then meet Nagle and
      // delayed ACKs: a relayed small GET took 40 ms more (bench:relay).
      { ...tls, allowHTTP1: true, noDelay: true, settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } },
      (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
        if (ClusterRelay.matches(req.url)) relayed(req, res);
        // fastify handles both pairs at run time (reply and route check
        // httpVersionMajor; the admin API reads nothing HTTP/1-only). Typing
        // the operator app as an HTTP/2 one instead would change the type of
        // every plugin registered on it, for no run-time difference.
        else fastifyHandler(req as IncomingMessage, res as ServerResponse);
      },
    );
    // Read by Node's HTTP/1.1 connection handling on this server.
    Object.assign(server, { keepAliveTimeout: OPERATOR_KEEP_ALIVE_MS });
    const sockets = new Set<TLSSocket>();
    const sessions = new Set<ServerHttp2Session>();
    server.on('secureConnection', (socket: TLSSocket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.on('session', (session: ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      // An idle session goes, as an idle HTTP/1.1 connection does; one that
      // still carries a silent watch stays (a GOAWAY would leave it open
      // anyway, but the client would open a second connection for nothing).
      let open = 0;
      session.on('stream', (stream) => {
        open++;
        stream.once('close', () => open--);
      });
      session.setTimeout(OPERATOR_KEEP_ALIVE_MS, () => {
        if (open === 0) session.close();
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!ClusterRelay.matches(req.url)) return void socket.destroy();
      relay.handleUpgrade(req, socket, head).catch((err: unknown) => {
        log.error({ err }, 'relay upgrade failed');
        socket.destroy();
      });
    });
    onServer?.(server);
    const operator: OperatorServer = Object.assign(server, {
      closeAllConnections: () => {
        for (const socket of sockets) socket.destroy();
      },
      closeHttp2Sessions: () => {
        for (const session of sessions) session.close();
      },
    });
    // fastify's serverFactory type is HTTP/1's; what it and server.ts call
    // on it (listen, close, address, closeAllConnections, closeIdleConnections,
    // closeHttp2Sessions) all exist on the operator server.
    return operator as unknown as HttpServer;
  };
}
