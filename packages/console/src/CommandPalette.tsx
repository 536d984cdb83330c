import { useEffect, useMemo, useRef, useState } from 'react';
import { fleetClusters, kubeGet } from './api.js';
import { navigate, usePath } from './navigation.js';

/** One place to jump to. */
interface Target {
  label: string;
  hint: 'cluster' | 'namespace' | 'kind';
  to: string;
}

interface ResourceList {
  groupVersion?: string;
  resources: { name: string; kind: string; verbs?: string[] }[];
}

interface GroupList {
  groups: { name: string; preferredVersion?: { groupVersion: string } }[];
}

const seg = encodeURIComponent;

/**
 * The listable kinds of a cluster from its discovery documents: /api/v1 and
 * each group's preferred version under /apis (subresources left out).
 * Through the relay, as the operator; a group that does not answer is skipped.
 */
async function discoverKinds(cluster: string, signal: AbortSignal): Promise<{ path: string; kind: string }[]> {
  const lists: ResourceList[] = [];
  const core = kubeGet<ResourceList>(cluster, '/api/v1', signal).then((l) => lists.push({ ...l, groupVersion: 'v1' }));
  const groups = await kubeGet<GroupList>(cluster, '/apis', signal);
  await Promise.allSettled([
    core,
    ...groups.groups.map(async (g) => {
      if (!g.preferredVersion) return;
      lists.push(await kubeGet<ResourceList>(cluster, `/apis/${g.preferredVersion.groupVersion}`, signal));
    }),
  ]);
  const seen = new Map<string, string>();
  for (const list of lists) {
    const group = list.groupVersion?.includes('/') ? list.groupVersion.split('/')[0]! : '';
    for (const r of list.resources) {
      if (r.name.includes('/') || !(r.verbs ?? ['list']).includes('list')) continue;
      seen.set(group ? `${r.name}.${group}` : r.name, r.kind);
    }
  }
  return [...seen].map(([path, kind]) => ({ path, kind })).sort((a, b) => a.path.localeCompare(b.path));
}

/** The cluster, kind and namespace of the current URL (/c/CLUSTER/KIND?ns=NS). */
function place(path: string): { cluster?: string; kind?: string; ns?: string } {
  const m = /^\/c\/([^/]+)(?:\/([^/]+))?/.exec(path);
  if (!m) return {};
  const ns = new URLSearchParams(location.search).get('ns') ?? undefined;
  return { cluster: decodeURIComponent(m[1]!), ...(m[2] ? { kind: decodeURIComponent(m[2]) } : {}), ...(ns ? { ns } : {}) };
}

/**
 * Ctrl-K / Cmd-K: jump to any cluster, a namespace of the current cluster,
 * or a kind it serves. Arrow keys choose, Enter goes, Escape closes.
 */
export function CommandPalette() {
  const path = usePath();
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState('');
  const [chosen, setChosen] = useState(0);
  const [targets, setTargets] = useState<Target[]>([]);
  const input = useRef<HTMLInputElement>(null);
  const here = place(path);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setOpen((o) => !o);
      } else if (e.key === 'Escape') setOpen(false);
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  // Gathered each time it opens: the fleet, and the current cluster's namespaces and kinds.
  useEffect(() => {
    if (!open) return;
    setQuery('');
    setChosen(0);
    input.current?.focus();
    const abort = new AbortController();
    const found: Target[] = [];
    const add = (more: Target[]) => {
      if (abort.signal.aborted) return;
      found.push(...more);
      setTargets([...found]);
    };
    setTargets([]);
    fleetClusters().then((cs) => add(cs.map((c) => ({ label: c.name, hint: 'cluster', to: `/c/${seg(c.name)}` }))), () => undefined);
    const cluster = here.cluster;
    if (cluster) {
      const kind = here.kind ?? 'pods';
      kubeGet<{ items: { metadata: { name: string } }[] }>(cluster, '/api/v1/namespaces', abort.signal).then(
        (l) => add(l.items.map((n) => ({ label: n.metadata.name, hint: 'namespace', to: `/c/${seg(cluster)}/${seg(kind)}?ns=${seg(n.metadata.name)}` }))),
        () => undefined,
      );
      discoverKinds(cluster, abort.signal).then(
        (ks) => add(ks.map((k) => ({ label: `${k.kind} (${k.path})`, hint: 'kind', to: `/c/${seg(cluster)}/${seg(k.path)}${here.ns ? `?ns=${seg(here.ns)}` : ''}` }))),
        () => undefined,
      );
    }
    return () => abort.abort();
  }, [open]);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return targets.filter((t) => !q || t.label.toLowerCase().includes(q) || `${t.hint} ${t.label}`.toLowerCase().includes(q)).slice(0, 50);
  }, [targets, query]);

  if (!open) return null;
  const go = (t: Target | undefined) => {
    if (!t) return;
    setOpen(false);
    navigate(t.to);
  };
  return (
    <div className="palette-backdrop" onClick={() => setOpen(false)}>
      <div className="palette" role="dialog" aria-label="Jump to" onClick={(e) => e.stopPropagation()} data-testid="palette">
        <input
          ref={input}
          placeholder={here.cluster ? `Jump to a cluster, or a namespace or kind of ${here.cluster}` : 'Jump to a cluster'}
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setChosen(0);
          }}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') setChosen((i) => Math.min(i + 1, shown.length - 1));
            else if (e.key === 'ArrowUp') setChosen((i) => Math.max(i - 1, 0));
            else if (e.key === 'Enter') go(shown[chosen]);
            else return;
            e.preventDefault();
          }}
        />
        <ul>
          {shown.map((t, i) => (
            <li key={`${t.hint}:${t.to}`} className={i === chosen ? 'chosen' : ''} onMouseEnter={() => setChosen(i)} onClick={() => go(t)}>
              <span className="hint">{t.hint}</span> {t.label}
            </li>
          ))}
          {shown.length === 0 && <li className="muted">Nothing matches.</li>}
        </ul>
      </div>
    </div>
  );
}
