import type { TLSSocket } from 'node:tls';
import { AgentPaths } from '@hawser/contract';
import type { FastifyInstance } from 'fastify';
import { AuditEventTypes, type AuditLog } from '../audit/audit.js';
import { authenticateAgent, ClientCertificateError } from '../tunnel/client-certificate.js';
import type { Registrar } from './registrar.js';
import type { Store } from '../store/store.js';


export interface AgentApiOptions {
  registrar: Registrar;
  store: Store;
  audit: AuditLog;
}

/**
 * Agent routes on the mTLS listener. `register` is the one route without a
 * client certificate (the bootstrap token is the credential); `renew` needs a
 * valid, unrevoked certificate of an active cluster. The tunnel upgrade is
 * handled by TunnelEndpoint on the same listener.
 */
export function agentApi(options: AgentApiOptions) {
  return async function agentRoutes(app: FastifyInstance): Promise<void> {
    app.post(AgentPaths.REGISTER, async (request, reply) => {
      const response = await options.registrar.register(request.body, {
        requestId: String(request.id),
        sourceIp: request.ip,
      });
      return reply.status(200).send(response);
    });

    app.post(AgentPaths.RENEW, async (request, reply) => {
      let agent;
      try {
        agent = await authenticateAgent(request.raw.socket as TLSSocket, options.store);
      } catch (err) {
        if (err instanceof ClientCertificateError && err.reason !== 'certificate-missing') {
          await options.audit.record({
            type: AuditEventTypes.CERTIFICATE_REFUSED,
            actor: 'anonymous',
            clusterId: err.clusterId,
            requestId: String(request.id),
            sourceIp: request.ip,
            outcome: 'failure',
            reason: err.reason,
            details: { route: AgentPaths.RENEW },
          });
        }
        throw err;
      }
      const response = await options.registrar.renew(agent, request.body, {
        requestId: String(request.id),
        sourceIp: request.ip,
      });
      return reply.status(200).send(response);
    });
  };
}
