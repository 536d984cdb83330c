/**
 * The reason each HTTP status carries in a Kubernetes `Status`, as the API
 * server names them, so a refusal from Hawser reads like one from the
 * cluster itself.
 */
const reasons: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/**
 * A Kubernetes `Status` object (kind Status, apiVersion v1, status Failure)
 * as JSON text, so kubectl and client libraries print the server's and the
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
