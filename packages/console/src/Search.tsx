import { useEffect, useState, type FormEvent } from 'react';
import type { ClusterView } from './api.js';
import { navigate } from './navigation.js';
import { searchFleet, SEARCH_KINDS, type ClusterAnswer, type SearchQuery } from './search.js';

function queryFromUrl(): SearchQuery {
  const p = new URLSearchParams(location.search);
  return { kind: p.get('kind') ?? 'pods', name: p.get('name') ?? '', namespace: p.get('namespace') ?? '', labelSelector: p.get('labelSelector') ?? '' };
}

/** One query across every cluster; each cluster's answer (or why there is none) shown as it arrives. */
export function Search() {
  const [query, setQuery] = useState<SearchQuery>(queryFromUrl);
  const [submitted, setSubmitted] = useState<SearchQuery | undefined>(() => (location.search ? queryFromUrl() : undefined));
  const [answers, setAnswers] = useState<Map<string, ClusterAnswer>>(new Map());

  useEffect(() => {
    if (!submitted) return;
    const abort = new AbortController();
    void (async () => {
      const res = await fetch('/console/v1/clusters', { credentials: 'same-origin', signal: abort.signal });
      const { clusters } = (await res.json()) as { clusters: ClusterView[] };
      setAnswers(new Map(clusters.map((c) => [c.name, { state: 'waiting' }])));
      await searchFleet(clusters, submitted, (name, a) => setAnswers((m) => new Map(m).set(name, a)), abort.signal);
    })().catch(() => undefined);
    return () => abort.abort();
  }, [submitted]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v) as [string, string][]);
    navigate(`/search?${params.toString()}`);
    setSubmitted({ ...query });
  };
  const set = (k: keyof SearchQuery) => (e: { target: { value: string } }) => setQuery((q) => ({ ...q, [k]: e.target.value }));

  return (
    <section>
      <h2>Search every cluster</h2>
      <form className="search" onSubmit={submit}>
        <select name="kind" value={query.kind} onChange={set('kind')}>
          {Object.keys(SEARCH_KINDS).map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
        <input name="name" placeholder="name contains" value={query.name} onChange={set('name')} />
        <input name="namespace" placeholder="namespace (all)" value={query.namespace} onChange={set('namespace')} />
        <input name="labelSelector" placeholder="label selector" value={query.labelSelector} onChange={set('labelSelector')} />
        <button type="submit">Search</button>
      </form>
      <table data-testid="search">
        <thead>
          <tr>
            <th>Cluster</th>
            <th>State</th>
            <th>Matches</th>
          </tr>
        </thead>
        <tbody>
          {[...answers.entries()]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([cluster, a]) => (
              <tr key={cluster} data-search-cluster={cluster} data-state={a.state}>
                <td>{cluster}</td>
                <td>{a.state}</td>
                <td>
                  {a.state === 'answered'
                    ? a.matches.map((m) => <div key={`${m.namespace}/${m.name}`} data-match={`${m.namespace ?? ''}/${m.name}`}>{m.namespace ? `${m.namespace}/${m.name}` : m.name}</div>)
                    : 'message' in a
                      ? a.message
                      : ''}
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </section>
  );
}
