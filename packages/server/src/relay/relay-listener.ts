import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { ClusterRelay } from './cluster-relay.js';
import { ErrorCodes } from '../errors.js';
import { sendKubeStatus } from './kube-status.js';
import type { Logger } from '../log.js';

/** Idle keep-alive on the operator listener: fastify's default. */
const OPERATOR_KEEP_ALIVE_MS = 72_000;

/**
 * The operator listener's request handler for `/clusters/...`, called
 * before fastify sees the request. fastify would only route these (the
 * relay streams both ways itself and answers every error as a Kubernetes
 * Status), yet its request and reply objects, hooks and child logger were
 * a measurable part of a small GET's CPU time (docs/architecture.md,
 * "Performance: the relay end to end").
 */
export function relayListener(relay: ClusterRelay, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
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
 * The operator listener's server, for fastify's `serverFactory`: relayed
 * requests and upgrades (`/clusters/...`) go to the relay, everything else
 * (admin API, health, metrics) to fastify's handler. Upgrades anywhere
 * else are closed: nothing but the relay speaks WebSocket or SPDY here.
 */
export function operatorServerFactory(relay: ClusterRelay, tls: ServerOptions, log: Logger) {
  const relayed = relayListener(relay, log);
  return (fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void): HttpsServer => {
    const server = createHttpsServer(tls, (req, res) => {
      if (ClusterRelay.matches(req.url)) relayed(req, res);
      else fastifyHandler(req, res);
    });
    server.keepAliveTimeout = OPERATOR_KEEP_ALIVE_MS;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!ClusterRelay.matches(req.url)) return void socket.destroy();
      relay.handleUpgrade(req, socket, head).catch((err: unknown) => {
        log.error({ err }, 'relay upgrade failed');
        socket.destroy();
      });
    });
    return server;
  };
}
