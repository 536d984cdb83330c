import { useEffect, useMemo, useState } from 'react';
import type { ClusterView } from './api.js';
import { navigate } from './navigation.js';

/** Every cluster, with its tunnel state pushed by the server over one event stream. */
export function Fleet() {
  const [clusters, setClusters] = useState<Map<string, ClusterView>>(new Map());
  const [live, setLive] = useState(false);
  const [filter, setFilter] = useState('');
  useEffect(() => {
    const events = new EventSource('/console/v1/events');
    events.addEventListener('fleet', (e) => {
      const { clusters: all } = JSON.parse((e as MessageEvent<string>).data) as { clusters: ClusterView[] };
      setClusters(new Map(all.map((c) => [c.id, c])));
      setLive(true);
    });
    events.addEventListener('cluster', (e) => {
      const c = JSON.parse((e as MessageEvent<string>).data) as ClusterView;
      setClusters((m) => new Map(m).set(c.id, c));
    });
    events.onerror = () => setLive(false);
    return () => events.close();
  }, []);
  const rows = useMemo(() => {
    const f = filter.toLowerCase();
    return [...clusters.values()]
      .filter((c) => !f || c.name.includes(f) || c.status.includes(f) || Object.entries(c.labels).some(([k, v]) => `${k}=${v}`.includes(f)))
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [clusters, filter]);
  return (
    <section>
      <h2>
        Fleet <span className={live ? 'live' : 'muted'}>{live ? 'live' : 'reconnecting…'}</span>
      </h2>
      <input placeholder="filter by name, label or state" value={filter} onChange={(e) => setFilter(e.target.value)} />
      <table data-testid="fleet">
        <thead>
          <tr>
            <th>Cluster</th>
            <th>State</th>
            <th>Last seen</th>
            <th>Kubernetes</th>
            <th>Agent</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.id} data-cluster={c.name} data-state={c.status}>
              <td>
                <a
                  href={`/c/${encodeURIComponent(c.name)}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/c/${encodeURIComponent(c.name)}`);
                  }}
                >
                  {c.name}
                </a>
              </td>
              <td className={`state ${c.status}`}>{c.status}</td>
              <td>{c.lastSeen ? new Date(c.lastSeen).toLocaleString() : '—'}</td>
              <td>{c.kubernetesVersion ?? '—'}</td>
              <td>{c.agentVersion ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
