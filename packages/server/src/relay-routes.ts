import type { FastifyInstance } from 'fastify';
import type { ClusterRelay } from './cluster-relay.js';
import { sendKubeStatus } from './kube-status.js';

/**
 * Mounts the relay under /clusters on the operator listener. Bodies are
 * left unread (every content type is accepted and passed through as a
 * stream) and the reply is hijacked, so fastify only routes: the relay
 * streams both ways itself.
 */
export function relayRoutes(relay: ClusterRelay) {
  return async (scope: FastifyInstance): Promise<void> => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    scope.all('/*', (request, reply) => {
      reply.hijack();
      relay.handle(request.raw, reply.raw).catch((err: unknown) => {
        // A bug must cost one request, never the process.
        request.log.error({ err }, 'relay failed');
        if (!reply.raw.headersSent) sendKubeStatus(reply.raw, 500, `Hawser failed to relay this request (${String(request.id)})`);
        else reply.raw.destroy();
      });
    });
  };
}
