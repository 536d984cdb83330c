import { useEffect, useState } from 'react';
import { kubeGet, kubeWatch, Refusal } from './api.js';
import { isFinal } from './refusal-sentence.js';

/** The part of every Kubernetes object a list needs. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    uid: string;
    name: string;
    namespace?: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  [field: string]: unknown;
}

interface KubeList {
  metadata: { resourceVersion: string };
  items: KubeObject[];
}

export type WatchState =
  | { kind: 'loading' }
  | { kind: 'live' }
  /** Listed once: the resource cannot be watched. */
  | { kind: 'listed' }
  | { kind: 'reconnecting'; why: string }
  | { kind: 'refused'; error: unknown };

/** Wait before resuming a watch that ended; the relay answers at once when the agent is away. */
const RESUME_MS = 2000;

/** A watch ERROR event's Status, thrown as the refusal it is. */
function watchError(object: unknown): Refusal {
  const status = object as { code?: number; message?: string; reason?: string };
  return new Refusal(status.code ?? 500, status.message ?? 'watch error', status.reason);
}

/**
 * A live list: list, then watch from its resourceVersion. A watch that ends
 * (the tunnel dropped, the agent restarted, the API server's timeout)
 * resumes from the last resourceVersion seen, showing "reconnecting"
 * meanwhile; only 410 Gone lists again. A final refusal (RBAC, not found)
 * stops and is kept in the state for the view to say.
 *
 * @param path the list URL with its query (selectors), or undefined to wait.
 */
export function useWatchList(cluster: string, path: string | undefined, watchable = true): { items: Map<string, KubeObject>; state: WatchState } {
  const [items, setItems] = useState<Map<string, KubeObject>>(new Map());
  const [state, setState] = useState<WatchState>({ kind: 'loading' });
  useEffect(() => {
    setItems(new Map());
    setState({ kind: 'loading' });
    if (path === undefined) return;
    const abort = new AbortController();
    const sep = path.includes('?') ? '&' : '?';
    let rv: string | undefined;
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          if (rv === undefined) {
            const list = await kubeGet<KubeList>(cluster, path, abort.signal);
            rv = list.metadata.resourceVersion;
            setItems(new Map(list.items.map((o) => [o.metadata.uid, o])));
            if (!watchable) return setState({ kind: 'listed' });
          }
          await kubeWatch<KubeObject>(
            cluster,
            `${path}${sep}resourceVersion=${encodeURIComponent(rv)}`,
            (e) => {
              if (e.type === 'ERROR') throw watchError(e.object);
              rv = e.object.metadata.resourceVersion;
              if (e.type === 'BOOKMARK') return;
              setItems((m) => {
                const next = new Map(m);
                if (e.type === 'DELETED') next.delete(e.object.metadata.uid);
                else next.set(e.object.metadata.uid, e.object);
                return next;
              });
            },
            abort.signal,
            () => setState({ kind: 'live' }),
          );
          setState({ kind: 'reconnecting', why: 'the watch ended' });
        } catch (err) {
          if (abort.signal.aborted) return;
          if (err instanceof Refusal && err.status === 410) {
            // Too old to resume from: list again, now.
            rv = undefined;
            continue;
          }
          if (isFinal(err)) return setState({ kind: 'refused', error: err });
          setState({ kind: 'reconnecting', why: (err as Error).message });
        }
        await new Promise((resolve) => setTimeout(resolve, RESUME_MS));
      }
    };
    void run();
    return () => abort.abort();
  }, [cluster, path, watchable]);
  return { items, state };
}
