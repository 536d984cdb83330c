/**
 * The cluster page's URLs, which another operator can open (deep links):
 *   /c/CLUSTER                              the pods of every namespace
 *   /c/CLUSTER/KIND?ns=&labels=&fields=&q=  a list (KIND is `pods`, `deployments.apps`, `widgets.example.com`)
 *   /c/CLUSTER/KIND/NAMESPACE/NAME[/TAB]    one namespaced object
 *   /c/CLUSTER/KIND/NAME[/TAB]              one cluster-scoped object
 * TAB names a view of the object other than its detail (a pod's logs, say).
 */

export interface ClusterRoute {
  cluster: string;
  kind: string;
  /** The segments after the kind, decoded: read them with objectOf once the kind is known. */
  rest: string[];
}

export function parseClusterRoute(path: string): ClusterRoute | undefined {
  const m = /^\/c\/([^/]+)(?:\/([^/]+))?((?:\/[^/]+){0,3})\/?$/.exec(path);
  if (!m) return undefined;
  const rest = m[3] ? m[3].slice(1).split('/').map(decodeURIComponent) : [];
  return { cluster: decodeURIComponent(m[1]!), kind: m[2] ? decodeURIComponent(m[2]) : 'pods', rest };
}

/** The object a route names, for a kind namespaced or not; undefined for a list (or segments that fit neither). */
export function objectOf(namespaced: boolean, rest: readonly string[]): { namespace: string | undefined; name: string; tab: string | undefined } | undefined {
  const [a, b, c] = rest;
  if (namespaced && a !== undefined && b !== undefined) return { namespace: a, name: b, tab: c };
  if (!namespaced && a !== undefined && c === undefined) return { namespace: undefined, name: a, tab: b };
  return undefined;
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

export function detailUrl(cluster: string, kind: string, namespace: string | undefined, name: string, tab?: string): string {
  return `/c/${seg(cluster)}/${seg(kind)}/${namespace ? `${seg(namespace)}/` : ''}${seg(name)}${tab ? `/${seg(tab)}` : ''}`;
}
