import { useEffect, useState } from 'react';
import { kubeGet, kubeWatch, Refusal } from './api.js';
import { PodOpsLinks } from './PodOps.js';

interface Pod {
  metadata: { uid: string; name: string; namespace: string; resourceVersion: string; creationTimestamp: string };
  status?: { phase?: string };
}

interface PodList {
  metadata: { resourceVersion: string };
  items: Pod[];
}

type State = { kind: 'loading' } | { kind: 'live' } | { kind: 'reconnecting'; why: string } | { kind: 'refused'; message: string };

/** Wait before resuming a watch that ended; the relay answers at once when the agent is away. */
const RESUME_MS = 2000;

/**
 * Pods of one cluster, live: a list, then a watch from its resourceVersion.
 * A watch that ends (the tunnel dropped, the server timed it out) resumes
 * from the last resourceVersion seen, showing "reconnecting" meanwhile; only
 * 410 Gone re-lists. A refusal is shown as its sentence, where the rows would be.
 */
export function ClusterPods({ cluster }: { cluster: string }) {
  const [pods, setPods] = useState<Map<string, Pod>>(new Map());
  const [state, setState] = useState<State>({ kind: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    let rv: string | undefined;
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          if (rv === undefined) {
            const list = await kubeGet<PodList>(cluster, '/api/v1/pods', abort.signal);
            rv = list.metadata.resourceVersion;
            setPods(new Map(list.items.map((p) => [p.metadata.uid, p])));
          }
          setState({ kind: 'live' });
          await kubeWatch<Pod>(
            cluster,
            `/api/v1/pods?resourceVersion=${encodeURIComponent(rv)}`,
            (e) => {
              if (e.type === 'ERROR') {
                const status = e.object as unknown as { code?: number; message?: string };
                if (status.code === 410) rv = undefined;
                throw new Refusal(status.code ?? 500, status.message ?? 'watch error', undefined);
              }
              rv = e.object.metadata.resourceVersion;
              if (e.type === 'BOOKMARK') return;
              setPods((m) => {
                const next = new Map(m);
                if (e.type === 'DELETED') next.delete(e.object.metadata.uid);
                else next.set(e.object.metadata.uid, e.object);
                return next;
              });
            },
            abort.signal,
          );
          setState({ kind: 'reconnecting', why: 'the watch ended' });
        } catch (err) {
          if (abort.signal.aborted) return;
          const r = err instanceof Refusal ? err : undefined;
          if (r && (r.status === 401 || r.status === 403 || r.status === 404)) {
            setState({ kind: 'refused', message: r.message });
            return;
          }
          setState({ kind: 'reconnecting', why: (err as Error).message });
        }
        await new Promise((resolve) => setTimeout(resolve, RESUME_MS));
      }
    };
    void run();
    return () => abort.abort();
  }, [cluster]);

  const rows = [...pods.values()].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  return (
    <section>
      <h2>
        {cluster}: pods{' '}
        <span data-testid="watch-state" className={state.kind === 'live' ? 'live' : 'muted'}>
          {state.kind === 'reconnecting' ? 'reconnecting…' : state.kind}
        </span>
      </h2>
      {state.kind === 'refused' ? (
        <p className="refusal" role="alert">
          {state.message}
        </p>
      ) : (
        <table data-testid="pods">
          <thead>
            <tr>
              <th>Namespace</th>
              <th>Name</th>
              <th>Phase</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.metadata.uid} data-pod={`${p.metadata.namespace}/${p.metadata.name}`}>
                <td>{p.metadata.namespace}</td>
                <td>{p.metadata.name}</td>
                <td>{p.status?.phase ?? '—'}</td>
                <td>{new Date(p.metadata.creationTimestamp).toLocaleString()}</td>
                <td>
                  <PodOpsLinks cluster={cluster} namespace={p.metadata.namespace} pod={p.metadata.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
