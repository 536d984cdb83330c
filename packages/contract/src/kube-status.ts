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
  // kube-apiserver has no reason of its own for 431; client libraries know this one.
  431: 'RequestEntityTooLarge',
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

/**
 * Whether a request path is API discovery (`/api`, `/api/v1`, `/apis`,
 * `/apis/GROUP`, `/apis/GROUP/VERSION`), optionally under a prefix. client-go
 * reads discovery answers with `Raw()`, which never decodes an error's
 * `Status`: kubectl then prints only a generic sentence per HTTP code.
 */
export function isDiscoveryPath(path: string, anyPrefix = false): boolean {
  const p = path.split('?')[0]!.replace(/\/+$/, '');
  return (anyPrefix ? /(^|\/)(api(\/v1)?|apis(\/[^/]+){0,2})$/ : /^\/(api(\/v1)?|apis(\/[^/]+){0,2})$/).test(p);
}

/**
 * A `Warning` response header (RFC 7234, code 299) carrying `message`:
 * client-go hands every response's warnings to kubectl, which prints
 * "Warning: <message>" even where it prints only a generic error, as it
 * does for failed discovery.
 */
export function warningHeader(message: string): string {
  const text = message.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`);
  return `299 - "${text}"`;
}
