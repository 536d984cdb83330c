import type { ServerResponse } from 'node:http';

const reasons: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/**
 * A Kubernetes `Status` object, so kubectl and client libraries print the
 * agent's refusals as one clear sentence, like the API server's own.
 */
export function kubeStatus(code: number, message: string, details?: Record<string, unknown>): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reasons[code] ?? 'Unknown',
    ...(details ? { details } : {}),
    code,
  });
}

export function sendStatus(res: ServerResponse, code: number, message: string, details?: Record<string, unknown>): void {
  const body = kubeStatus(code, message, details);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
