/**
 * What a Kubernetes API request is, decided from its method and path the way
 * the API server's own RequestInfoFactory does, so the agent's policy sees
 * the same verb and resource that RBAC will.
 */
export interface RequestInfo {
  /** False for discovery, /version, /openapi, /healthz and other non-resource paths. */
  readonly isResourceRequest: boolean;
  /** Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection) or, for non-resource paths, the lower-case method. */
  readonly verb: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
}

const namespaceSubresources = new Set(['status', 'finalize']);

export function parseRequestInfo(method: string, rawUrl: string): RequestInfo {
  const url = new URL(rawUrl, 'http://agent.invalid');
  const verbOf = methodVerb(method.toUpperCase());
  const nonResource: RequestInfo = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  // Decode each segment once, as the API server's router does; an encoded
  // "/" stays inside its segment.
  let parts: string[];
  try {
    parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  } catch {
    return nonResource;
  }
  let apiGroup = '';
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 2) {
    apiVersion = parts[1]!;
    parts = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    apiGroup = parts[1]!;
    apiVersion = parts[2]!;
    parts = parts.slice(3);
  } else {
    return nonResource;
  }
  // /api/v1 and /apis/g/v themselves are discovery documents.
  if (parts.length === 0) return nonResource;

  let verb = verbOf;
  // The deprecated /watch/ path prefix.
  if (parts[0] === 'watch') {
    if (verb === 'get') verb = 'watch';
    parts = parts.slice(1);
  }

  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    // /namespaces/NAME/status is the namespace's own subresource; anything
    // else after the name is a namespaced resource.
    if (parts.length > 2 && !namespaceSubresources.has(parts[2]!)) parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  const name = parts[1] ?? '';
  const subresource = parts.length > 2 ? parts.slice(2).join('/') : '';

  if (verb === 'get' || verb === 'list') {
    const watch = url.searchParams.get('watch');
    if (watch === 'true' || watch === '1') verb = 'watch';
    else if (!name) verb = 'list';
  } else if (verb === 'delete' && !name) {
    verb = 'deletecollection';
  }
  return { isResourceRequest: true, verb, apiGroup, apiVersion, namespace, resource, subresource, name };
}

function methodVerb(method: string): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return method.toLowerCase();
  }
}
