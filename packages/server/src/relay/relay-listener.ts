import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterRelay } from './cluster-relay.js';
import { ErrorCodes } from '../errors.js';
import { sendKubeStatus } from './kube-status.js';
import type { Logger } from '../log.js';

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
