import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrorCodes, HawserServerError } from './errors.js';
import type { Logger } from './log.js';

/** JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

/**
 * One error handler for both listeners: HawserServerError keeps its code and
 * message; fastify's own client errors (bad JSON, body too large) become
 * HSR_ERR_REQUEST_INVALID; anything else is logged and answered with a bare
 * "internal error" so no internals reach a caller.
 */
export function installErrorHandler(app: FastifyInstance, log: Logger): void {
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
    const body: ErrorBody = { error: { code, message, requestId: String(request.id) } };
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = {
      error: { code: ErrorCodes.ROUTE_NOT_FOUND, message: `no route ${request.method} ${request.url}`, requestId: String(request.id) },
    };
    void reply.status(404).send(body);
  });
}
