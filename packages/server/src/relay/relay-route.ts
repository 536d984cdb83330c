/** The relay's URL space: `/clusters/NAME/<Kubernetes API path>`. */
export const RELAY_PREFIX = '/clusters/';

export type RelayRoute =
  | { ok: true; cluster: string; target: string }
  | { ok: false; cluster: string; target: string; reason: string };

/**
 * Splits a relay URL into the cluster name and the request target the
 * agent sends on (path and query, always starting with a single "/").
 * Never throws: a malformed percent-encoding in the name (`/clusters/%E0/api`)
 * or a target the API server would read differently from the policy
 * (`//host/...`) is a reason for a 400, not an exception.
 */
export function parseRelayRoute(url: string): RelayRoute {
  const rest = url.slice(RELAY_PREFIX.length);
  const query = rest.indexOf('?');
  const pathEnd = query < 0 ? rest.length : query;
  const slash = rest.indexOf('/');
  const nameEnd = slash >= 0 && slash < pathEnd ? slash : pathEnd;
  const rawName = rest.slice(0, nameEnd);
  const target = `/${rest.slice(nameEnd).replace(/^\//, '')}`;
  let cluster: string;
  try {
    cluster = decodeURIComponent(rawName);
  } catch {
    return { ok: false, cluster: rawName, target, reason: `the cluster name "${rawName.slice(0, 64)}" in the path is not valid percent-encoding` };
  }
  if (cluster === '') return { ok: false, cluster, target, reason: 'the path names no cluster: use /clusters/NAME/...' };
  if (target.startsWith('//')) return { ok: false, cluster, target, reason: 'the request path after the cluster name must not start with "//"' };
  return { ok: true, cluster, target };
}
