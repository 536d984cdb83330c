import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { detailUrl, listQuery, listUrl } from './cluster-url.js';
import { kindPath, listPath, type ResourceKind } from './discovery.js';
import { linkProps, navigate } from './navigation.js';
import { PodOpsLinks } from './PodOps.js';
import { refusalSentence } from './refusal-sentence.js';
import { age, columnsFor } from './resource-columns.js';
import { useWatchList, type WatchState } from './watch-list.js';

/** A clock for the age column, ticking slowly: ages are shown to the minute past two minutes. */
export function useNow(everyMs = 10_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** The list's live state, as a word (tests and people read the same one). */
export function WatchBadge({ state }: { state: WatchState }) {
  return (
    <span data-testid="watch-state" className={state.kind === 'live' || state.kind === 'listed' ? 'live' : 'muted'} title={state.kind === 'reconnecting' ? state.why : undefined}>
      {state.kind === 'reconnecting' ? 'reconnecting…' : state.kind}
    </span>
  );
}

/**
 * Every object of one kind, live. Namespace, label and field selectors go
 * to the API server (and into the URL); the text filter is the browser's.
 */
export function ResourceList({ cluster, kind, search }: { cluster: string; kind: ResourceKind; search: URLSearchParams }) {
  const query = listQuery(search);
  const path = kindPath(kind);
  const [draft, setDraft] = useState(query);
  const [text, setText] = useState(query.q);
  useEffect(() => {
    setDraft(query);
    setText(query.q);
    // The URL changed (a link, Back): its query is the form's again.
  }, [search.toString(), path]);

  const ns = kind.namespaced ? query.ns : '';
  const apiPath = useMemo(() => {
    const params = new URLSearchParams();
    if (query.labels) params.set('labelSelector', query.labels);
    if (query.fields) params.set('fieldSelector', query.fields);
    const qs = params.toString();
    return `${listPath(kind, ns)}${qs ? `?${qs}` : ''}`;
  }, [kind, ns, query.labels, query.fields]);
  const { items, state } = useWatchList(cluster, apiPath, kind.verbs.includes('watch'));
  const namespaces = useWatchList(cluster, kind.namespaced ? '/api/v1/namespaces' : undefined);
  const now = useNow();
  const columns = columnsFor(path);
  // A pod row links to its logs and terminal (PodOps.tsx).
  const isPods = kind.resource === 'pods' && !kind.group;

  const rows = useMemo(() => {
    const f = text.toLowerCase();
    return [...items.values()]
      .filter((o) => {
        if (!f) return true;
        const labels = Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
        return [o.metadata.name, o.metadata.namespace ?? '', ...labels, ...columns.map((c) => c.value(o))].some((s) => s.toLowerCase().includes(f));
      })
      .sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
  }, [items, text, columns]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(listUrl(cluster, path, { ...draft, q: text }));
  };
  const onText = (value: string) => {
    setText(value);
    // The filter is part of the view's URL, without a history entry per keystroke.
    history.replaceState(null, '', listUrl(cluster, path, { ...query, q: value }));
  };

  return (
    <section>
      <h2>
        {cluster}: {kind.resource}
        {kind.group && <span className="muted"> {kind.group}</span>} <WatchBadge state={state} />
      </h2>
      <form className="selectors" onSubmit={submit}>
        {kind.namespaced && (
          <>
            <input name="ns" list="namespaces" placeholder="all namespaces" value={draft.ns} onChange={(e) => setDraft({ ...draft, ns: e.target.value })} aria-label="namespace" />
            <datalist id="namespaces">
              {[...namespaces.items.values()].map((n) => (
                <option key={n.metadata.uid} value={n.metadata.name} />
              ))}
            </datalist>
          </>
        )}
        <input name="labels" placeholder="label selector (app=web,tier!=db)" value={draft.labels} onChange={(e) => setDraft({ ...draft, labels: e.target.value })} aria-label="label selector" />
        <input name="fields" placeholder="field selector (status.phase=Running)" value={draft.fields} onChange={(e) => setDraft({ ...draft, fields: e.target.value })} aria-label="field selector" />
        <button type="submit">Apply</button>
        <input name="q" placeholder="filter rows" value={text} onChange={(e) => onText(e.target.value)} aria-label="filter rows" />
        <span className="muted" data-testid="count">
          {rows.length} of {items.size}
        </span>
      </form>
      {state.kind === 'refused' ? (
        <p className="refusal" role="alert" data-testid="refusal">
          {refusalSentence(state.error, { verb: 'list', resource: kind.resource, namespace: ns || undefined, cluster })}
        </p>
      ) : (
        <table data-testid={kind.resource}>
          <thead>
            <tr>
              {kind.namespaced && <th>Namespace</th>}
              <th>Name</th>
              {columns.map((c) => (
                <th key={c.title}>{c.title}</th>
              ))}
              <th>Age</th>
              {isPods && <th />}
            </tr>
          </thead>
          <tbody>
            {rows.map((o) => {
              const id = kind.namespaced ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
              return (
                <tr key={o.metadata.uid} data-row={id} data-pod={kind.resource === 'pods' && !kind.group ? id : undefined}>
                  {kind.namespaced && <td>{o.metadata.namespace}</td>}
                  <td>
                    <a {...linkProps(detailUrl(cluster, path, o.metadata.namespace, o.metadata.name))}>{o.metadata.name}</a>
                  </td>
                  {columns.map((c) => (
                    <td key={c.title}>{c.value(o)}</td>
                  ))}
                  <td title={o.metadata.creationTimestamp}>{age(o.metadata.creationTimestamp, now)}</td>
                  {isPods && (
                    <td>
                      <PodOpsLinks cluster={cluster} namespace={o.metadata.namespace ?? ''} pod={o.metadata.name} />
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
