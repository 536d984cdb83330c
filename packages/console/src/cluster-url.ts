/**
 * The cluster page's URLs, which another operator can open (deep links):
 *   /c/CLUSTER                              the pods of every namespace
 *   /c/CLUSTER/KIND?ns=&labels=&fields=&q=  a list (KIND is `pods`, `deployments.apps`, `widgets.example.com`)
 *   /c/CLUSTER/KIND/NAMESPACE/NAME          one namespaced object
 *   /c/CLUSTER/KIND/NAME                    one cluster-scoped object
 */

export interface ClusterRoute {
  cluster: string;
  kind: string;
  /** Present for a detail view: [name] or [namespace, name]. */
  object: [string] | [string, string] | undefined;
}

export function parseClusterRoute(path: string): ClusterRoute | undefined {
  const m = /^\/c\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?(?:\/([^/]+))?\/?$/.exec(path);
  if (!m) return undefined;
  const d = (s: string | undefined) => (s === undefined ? undefined : decodeURIComponent(s));
  const [a, b] = [d(m[3]), d(m[4])];
  return { cluster: d(m[1])!, kind: d(m[2]) ?? 'pods', object: a === undefined ? undefined : b === undefined ? [a] : [a, b] };
}

/** What a list view reads from its URL's query. */
export interface ListQuery {
  /** '' for all namespaces. */
  ns: string;
  labels: string;
  fields: string;
  /** The client-side text filter. */
  q: string;
}

export function listQuery(search: URLSearchParams): ListQuery {
  return { ns: search.get('ns') ?? '', labels: search.get('labels') ?? '', fields: search.get('fields') ?? '', q: search.get('q') ?? '' };
}

const seg = encodeURIComponent;

export function listUrl(cluster: string, kind: string, query: Partial<ListQuery> = {}): string {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v) as [string, string][]);
  const qs = params.toString();
  return `/c/${seg(cluster)}/${seg(kind)}${qs ? `?${qs}` : ''}`;
}

export function detailUrl(cluster: string, kind: string, namespace: string | undefined, name: string): string {
  return `/c/${seg(cluster)}/${seg(kind)}/${namespace ? `${seg(namespace)}/` : ''}${seg(name)}`;
}
