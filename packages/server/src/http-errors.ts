import type { FastifyError, FastifyInstance } from 'fastify';
import { isDiscoveryPath, kubeStatus, warningHeader } from '@hawser/contract';
import { ErrorCodes, HawserServerError } from './errors.js';
import type { Logger } from './log.js';

/** JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

/**
 * An error body that is at once a Kubernetes `Status` (kubectl pointed at a
 * wrong path prints the sentence, with a reason client libraries match on)
 * and Hawser's `{ error: { code, message } }` (what admin clients and agents
 * read); unknown fields are ignored by both.
 */
export function errorBody(status: number, code: string, message: string, requestId: string): ErrorBody & Record<string, unknown> {
  const kube = JSON.parse(kubeStatus(status, message, { causes: [{ reason: code, message }] })) as Record<string, unknown>;
  return { ...kube, error: { code, message, requestId } };
}

/**
 * One error handler for both listeners: HawserServerError keeps its code and
 * message; fastify's own client errors (bad JSON, body too large) become
 * HSR_ERR_REQUEST_INVALID; anything else is logged and answered with a bare
 * "internal error" so no internals reach a caller.
 */
export function installErrorHandler(app: FastifyInstance, log: Logger, opts: { kubeStatus?: boolean } = {}): void {
  // The operator listener answers kubectl and client libraries too (a wrong
  // --server, a path outside /clusters/NAME); the agent listener only agents.
  const shape = (status: number, code: string, message: string, requestId: string): ErrorBody =>
    opts.kubeStatus ? errorBody(status, code, message, requestId) : { error: { code, message, requestId } };
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status: number;
    let code: string;
    let message: string;
    if (err instanceof HawserServerError) {
      ({ statusCode: status, code, message } = err);
      if (status >= 500) log.error({ err, requestId: request.id }, 'request failed');
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
      code = ErrorCodes.REQUEST_INVALID;
      message = err.message;
    } else {
      log.error({ err, requestId: request.id }, 'request failed');
      status = 500;
      code = ErrorCodes.INTERNAL;
      message = 'internal error';
    }
    void reply.status(status).header('content-type', 'application/json').send(shape(status, code, message, String(request.id)));
  });
  app.setNotFoundHandler((request, reply) => {
    const message = opts.kubeStatus
      ? `Hawser has no route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}; Kubernetes API paths go under /clusters/NAME/`
      : `no route ${request.method} ${request.url}`;
    // kubectl pointed here does discovery first and prints only warnings of it.
    if (opts.kubeStatus && isDiscoveryPath(request.url, true)) void reply.header('warning', warningHeader(message));
    void reply.status(404).header('content-type', 'application/json').send(shape(404, ErrorCodes.ROUTE_NOT_FOUND, message, String(request.id)));
  });
}
