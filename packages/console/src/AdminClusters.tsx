import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { deregisterCluster, fleetClusters, registerCluster, type ClusterView, type Session } from './api.js';
import { AdminError, Confirm, CopyButton, errorMessage as message } from './AdminParts.js';

/** `env=prod, team=payments` -> labels; undefined when a part is not key=value. */
export function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}

/** Register a cluster (shows the helm line to install its agent) and deregister one with its name typed again. */
export function AdminClusters({ session }: { session: Session }) {
  const [clusters, setClusters] = useState<ClusterView[]>([]);
  const [form, setForm] = useState({ name: '', labels: '', ttl: '1h' });
  const [helm, setHelm] = useState<{ name: string; line: string } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirming, setConfirming] = useState<string | undefined>();
  const [typed, setTyped] = useState('');
  const [done, setDone] = useState<string | undefined>();

  const reload = useCallback(() => {
    fleetClusters().then(setClusters, (err: unknown) => setError(message(err)));
  }, []);
  useEffect(reload, [reload]);

  const register = (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const labels = parseLabels(form.labels);
    if (!labels) return setError('labels: write them as key=value, separated by commas');
    registerCluster(session, { name: form.name.trim(), labels, ...(form.ttl ? { tokenTtl: form.ttl } : {}) }).then(
      (r) => {
        setHelm({ name: r.cluster.name, line: r.bootstrap.helm });
        setForm({ name: '', labels: '', ttl: form.ttl });
        reload();
      },
      (err: unknown) => setError(message(err)),
    );
  };

  const deregister = (name: string) => {
    setError(undefined);
    deregisterCluster(session, name, typed).then(
      (r) => {
        setDone(`${name} is deregistered: ${r.revokedCertificates} certificate(s) revoked, ${r.tunnelsClosed} tunnel(s) closed.`);
        setConfirming(undefined);
        setTyped('');
        reload();
      },
      (err: unknown) => setError(message(err)),
    );
  };

  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  return (
    <div>
      <h2>Register a cluster</h2>
      <form className="admin-form" onSubmit={register} data-testid="register-form">
        <input name="name" placeholder="name (prod-eu)" value={form.name} onChange={set('name')} required />
        <input name="labels" placeholder="labels: env=prod, team=payments" value={form.labels} onChange={set('labels')} />
        <input name="ttl" placeholder="token lifetime (1h)" value={form.ttl} onChange={set('ttl')} />
        <button type="submit">Register</button>
      </form>
      {helm && (
        <div className="helm" data-testid="helm">
          <p>
            Install the agent of <b>{helm.name}</b> in that cluster (the bootstrap token in it works once, until it expires):
          </p>
          <pre data-testid="helm-line">{helm.line}</pre>
          <CopyButton text={helm.line} testId="copy-helm" />
        </div>
      )}
      <AdminError error={error} />
      {done && <p data-testid="admin-done">{done}</p>}
      <h2>Clusters</h2>
      <table data-testid="admin-clusters">
        <thead>
          <tr>
            <th>Cluster</th>
            <th>Labels</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {clusters.map((c) => (
            <tr key={c.id} data-cluster={c.name}>
              <td>{c.name}</td>
              <td>{Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(', ')}</td>
              <td className={`state ${c.status}`}>{c.status}</td>
              <td>
                <Confirm
                  open={confirming === c.name}
                  onOpen={() => {
                    setConfirming(c.name);
                    setTyped('');
                  }}
                  onCancel={() => setConfirming(undefined)}
                  onConfirm={() => deregister(c.name)}
                  ready={typed === c.name}
                  label="Deregister…"
                  confirmLabel={`Deregister ${c.name}`}
                >
                  <input aria-label={`type ${c.name} to confirm`} placeholder={`type ${c.name}`} value={typed} onChange={(e) => setTyped(e.target.value)} />
                </Confirm>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
