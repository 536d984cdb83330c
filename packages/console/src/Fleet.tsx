import { memo, useEffect, useMemo, useRef, useState } from 'react';
import type { ClusterView } from './api.js';
import { navigate } from './navigation.js';

/** Every row has this height (style.css), so the visible ones follow from the scroll position. */
const ROW_PX = 34;
/** Rows rendered above and below the visible ones, so a fast scroll shows no gap. */
const OVERSCAN = 12;
/** Tunnel events are applied in batches: a reconnect storm of the whole fleet is a few renders, not thousands. */
const EVENT_BATCH_MS = 100;

const SORTS = {
  name: (a: ClusterView, b: ClusterView) => a.name.localeCompare(b.name),
  state: (a: ClusterView, b: ClusterView) => a.status.localeCompare(b.status),
  labels: (a: ClusterView, b: ClusterView) => labelText(a).localeCompare(labelText(b)),
  lastSeen: (a: ClusterView, b: ClusterView) => (b.lastSeen ?? '').localeCompare(a.lastSeen ?? ''),
  kubernetes: (a: ClusterView, b: ClusterView) => (a.kubernetesVersion ?? '').localeCompare(b.kubernetesVersion ?? ''),
} as const;
type SortKey = keyof typeof SORTS;

// One formatter for every row: Date.toLocaleString builds a new one per call,
// which was most of the time of a 1,000-row render.
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

const labelTexts = new WeakMap<ClusterView, string>();
function labelText(c: ClusterView): string {
  let text = labelTexts.get(c);
  if (text === undefined) labelTexts.set(c, (text = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(', ')));
  return text;
}

const Row = memo(function Row({ c }: { c: ClusterView }) {
  const href = `/c/${encodeURIComponent(c.name)}`;
  return (
    <tr data-cluster={c.name} data-state={c.status}>
      <td>
        <a
          href={href}
          onClick={(e) => {
            e.preventDefault();
            navigate(href);
          }}
        >
          {c.name}
        </a>
      </td>
      <td className={`state ${c.status}`}>{c.status}</td>
      <td className="labels">{labelText(c)}</td>
      <td>{c.lastSeen ? WHEN.format(new Date(c.lastSeen)) : '—'}</td>
      <td>{c.kubernetesVersion ?? '—'}</td>
      <td>{c.agentVersion ?? '—'}</td>
    </tr>
  );
});

/**
 * Every cluster, with its tunnel state pushed by the server over one event
 * stream. Only the rows in view are rendered (fixed row height), so filter,
 * sort and live updates cost the same with 1,000 clusters as with 10
 * (`npm run bench:console`, docs/console.md).
 */
export function Fleet() {
  const [clusters, setClusters] = useState<Map<string, ClusterView>>(new Map());
  const [live, setLive] = useState(false);
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'name', desc: false });
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 30 * ROW_PX });

  useEffect(() => {
    const events = new EventSource('/console/v1/events');
    let pending = new Map<string, ClusterView>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      const batch = pending;
      pending = new Map();
      timer = undefined;
      setClusters((m) => {
        const next = new Map(m);
        for (const c of batch.values()) next.set(c.id, c);
        return next;
      });
    };
    events.addEventListener('fleet', (e) => {
      const { clusters: all } = JSON.parse((e as MessageEvent<string>).data) as { clusters: ClusterView[] };
      pending.clear();
      setClusters(new Map(all.map((c) => [c.id, c])));
      setLive(true);
    });
    events.addEventListener('cluster', (e) => {
      const c = JSON.parse((e as MessageEvent<string>).data) as ClusterView;
      pending.set(c.id, c);
      timer ??= setTimeout(flush, EVENT_BATCH_MS);
    });
    events.onerror = () => setLive(false);
    return () => {
      clearTimeout(timer);
      events.close();
    };
  }, []);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight });
    let frame = 0;
    const onScroll = () => {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        measure();
      });
    };
    measure();
    el.addEventListener('scroll', onScroll, { passive: true });
    const resize = new ResizeObserver(measure);
    resize.observe(el);
    return () => {
      cancelAnimationFrame(frame);
      el.removeEventListener('scroll', onScroll);
      resize.disconnect();
    };
  }, []);

  const rows = useMemo(() => {
    const f = filter.toLowerCase();
    const matching = f
      ? [...clusters.values()].filter((c) => c.name.toLowerCase().includes(f) || c.status.includes(f) || labelText(c).toLowerCase().includes(f))
      : [...clusters.values()];
    const by = SORTS[sort.key];
    return matching.sort((a, b) => (sort.desc ? -1 : 1) * (by(a, b) || SORTS.name(a, b)));
  }, [clusters, filter, sort]);

  const first = Math.max(0, Math.floor(view.top / ROW_PX) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((view.top + view.height) / ROW_PX) + OVERSCAN);
  const header = (key: SortKey, label: string) => (
    <th>
      <button
        type="button"
        className="sort"
        data-sort={key}
        aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
        onClick={() => setSort((s) => ({ key, desc: s.key === key ? !s.desc : false }))}
      >
        {label}
        {sort.key === key ? (sort.desc ? ' ▾' : ' ▴') : ''}
      </button>
    </th>
  );
  return (
    <section>
      <h2>
        Fleet <span className={live ? 'live' : 'muted'}>{live ? 'live' : 'reconnecting…'}</span>{' '}
        <span className="muted" data-testid="fleet-count">
          {rows.length === clusters.size ? '' : `${rows.length} of `}
          {clusters.size === 1 ? '1 cluster' : `${clusters.size} clusters`}
        </span>
      </h2>
      <input data-testid="fleet-filter" placeholder="filter by name, label or state" value={filter} onChange={(e) => setFilter(e.target.value)} />
      <div className="fleet-scroll" ref={scroller}>
        <table data-testid="fleet" data-rows={rows.length} className="fleet">
          <thead>
            <tr>
              {header('name', 'Cluster')}
              {header('state', 'State')}
              {header('labels', 'Labels')}
              {header('lastSeen', 'Last seen')}
              {header('kubernetes', 'Kubernetes')}
              <th>Agent</th>
            </tr>
          </thead>
          <tbody>
            {first > 0 && <Spacer rows={first} />}
            {rows.slice(first, last).map((c) => (
              <Row key={c.id} c={c} />
            ))}
            {last < rows.length && <Spacer rows={rows.length - last} />}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Stands in for rows out of view, so the scroll bar is the whole list's. */
function Spacer({ rows }: { rows: number }) {
  const ref = useRef<HTMLTableRowElement>(null);
  // Set through the CSSOM: the console's CSP allows no inline style attribute.
  useEffect(() => {
    if (ref.current) ref.current.style.height = `${rows * ROW_PX}px`;
  }, [rows]);
  return <tr ref={ref} className="spacer" aria-hidden="true" />;
}
