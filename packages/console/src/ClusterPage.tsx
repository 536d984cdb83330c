import { useEffect, useMemo, useState } from 'react';
import { COMMON_KINDS, discover, findKind, kindPath, menuSection, type ResourceKind } from './discovery.js';
import { listUrl, objectOf, parseClusterRoute } from './cluster-url.js';
import { linkProps, useLocation } from './navigation.js';
import { isFinal, refusalSentence } from './refusal-sentence.js';
import { ResourceList } from './ResourceList.js';
import { ResourceDetail } from './ResourceDetail.js';

/** How often discovery is asked again while the cluster is not connected. */
const DISCOVERY_RETRY_MS = 5000;

type Discovery = { kind: 'asking' } | { kind: 'found'; kinds: ResourceKind[] } | { kind: 'failed'; message: string };

/**
 * One cluster: the menu of every listable kind (discovery, cached for the
 * page's life) and the list or detail view the URL names. The common kinds
 * are known up front, so their views start before discovery answers.
 */
export function ClusterPage() {
  const { path, search } = useLocation();
  const route = parseClusterRoute(path);
  const cluster = route?.cluster ?? '';
  const [discovery, setDiscovery] = useState<Discovery>({ kind: 'asking' });
  const [attempt, setAttempt] = useState(0);
  const [menuFilter, setMenuFilter] = useState('');

  useEffect(() => {
    let current = true;
    let again: ReturnType<typeof setTimeout> | undefined;
    setDiscovery({ kind: 'asking' });
    discover(cluster).then(
      (kinds) => current && setDiscovery({ kind: 'found', kinds }),
      (err: unknown) => {
        if (!current) return;
        setDiscovery({ kind: 'failed', message: refusalSentence(err, { verb: 'get', resource: 'API discovery', cluster }) });
        // A cluster that is away is asked again until it answers; a refusal stays (the retry button remains).
        if (!isFinal(err)) again = setTimeout(() => setAttempt((n) => n + 1), DISCOVERY_RETRY_MS);
      },
    );
    return () => {
      current = false;
      clearTimeout(again);
    };
  }, [cluster, attempt]);

  // The tab and history entries name the view, so Back's menu and bookmarks say where they go.
  const title = route ? `${route.rest.length ? route.rest.join('/') : route.kind} · ${cluster} · Hawser` : 'Hawser';
  useEffect(() => {
    document.title = title;
  }, [title]);

  const kinds = discovery.kind === 'found' ? discovery.kinds : COMMON_KINDS;
  const shown = useMemo(() => {
    const f = menuFilter.toLowerCase();
    return kinds.filter((k) => !f || kindPath(k).includes(f) || k.kind.toLowerCase().includes(f));
  }, [kinds, menuFilter]);
  if (!route) return null;
  const kind = findKind(kinds, route.kind);
  const object = kind && route.rest.length ? objectOf(kind.namespaced, route.rest) : undefined;
  const ns = search.get('ns') ?? '';

  return (
    <div className="cluster">
      <nav className="kinds" data-testid="kinds">
        <input placeholder="kinds…" value={menuFilter} onChange={(e) => setMenuFilter(e.target.value)} aria-label="filter kinds" />
        {discovery.kind === 'failed' && (
          <p className="refusal">
            {discovery.message}{' '}
            <button type="button" onClick={() => setAttempt((n) => n + 1)}>
              retry
            </button>
          </p>
        )}
        {discovery.kind === 'asking' && <p className="muted">discovering…</p>}
        <ul>
          {shown.map((k, i) => {
            const p = kindPath(k);
            const section = menuSection(k);
            const starts = i > 0 && menuSection(shown[i - 1]!) !== section;
            return (
              <li key={p} className={starts ? `first-${section}` : undefined}>
                <a {...linkProps(listUrl(cluster, p, k.namespaced ? { ns } : {}))} data-kind={p} className={kind && kindPath(kind) === p ? 'current' : undefined} title={`${k.kind} (${k.group || 'core'}/${k.version})`}>
                  {k.resource}
                  {k.group && <span className="muted"> {k.group}</span>}
                </a>
              </li>
            );
          })}
        </ul>
      </nav>
      <div className="view">
        {!kind ? (
          discovery.kind === 'found' ? (
            <p className="refusal" role="alert">
              {cluster} has no listable kind &quot;{route.kind}&quot;
            </p>
          ) : (
            <p className="muted">Loading…</p>
          )
        ) : route.rest.length && !object ? (
          <p className="refusal" role="alert">
            {path} names no {kind.kind} on {cluster}: {kind.namespaced ? `/c/${cluster}/${route.kind}/NAMESPACE/NAME` : `/c/${cluster}/${route.kind}/NAME`} does
          </p>
        ) : object ? (
          /* object.tab names another view of the object (/c/C/pods/NS/NAME/logs, say): such views go here, before the detail. */

          <ResourceDetail cluster={cluster} kind={kind} kinds={kinds} namespace={object.namespace} name={object.name} />
        ) : (
          <ResourceList cluster={cluster} kind={kind} search={search} />
        )}
      </div>
    </div>
  );
}
