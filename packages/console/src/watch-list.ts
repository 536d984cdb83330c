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
  metadata: { resourceVersion: string; continue?: string };
  items: KubeObject[];
}

/** Objects per list page, as kubectl asks (`--chunk-size`): a large kind never comes as one huge answer. */
export const LIST_PAGE = 500;

/**
 * Every page of a list. The pages are one snapshot: the first page's
 * resourceVersion is the list's, and an expired continue token is a 410.
 */
async function listAll(cluster: string, path: string, signal: AbortSignal): Promise<{ resourceVersion: string; items: KubeObject[] }> {
  const sep = path.includes('?') ? '&' : '?';
  const first = await kubeGet<KubeList>(cluster, `${path}${sep}limit=${LIST_PAGE}`, signal);
  const items = [...first.items];
  for (let next = first.metadata.continue; next; ) {
    const page = await kubeGet<KubeList>(cluster, `${path}${sep}limit=${LIST_PAGE}&continue=${encodeURIComponent(next)}`, signal);
    items.push(...page.items);
    next = page.metadata.continue;
  }
  return { resourceVersion: first.metadata.resourceVersion, items };
}

export type WatchState =
  | { kind: 'loading' }
  | { kind: 'live' }
  /** Listed once: the resource cannot be watched. */
  | { kind: 'listed' }
  | { kind: 'reconnecting'; why: string }
  | { kind: 'refused'; error: unknown };

/** How followList paces itself. */
export interface FollowTiming {
  /** Wait before asking again after a failure or a watch that ended early; the relay answers at once when the agent is away. Default 2 s. */
  resumeMs?: number;
  /**
   * A watch that ran at least this long and then ended was most likely
   * closed by the API server's own timeout (minutes): it resumes at once,
   * without showing "reconnecting". Default 10 s.
   */
  quietAfterMs?: number;
}

/** A watch ERROR event's Status, thrown as the refusal it is. */
function watchError(object: unknown): Refusal {
  const status = object as { code?: number; message?: string; reason?: string };
  return new Refusal(status.code ?? 500, status.message ?? 'watch error', status.reason);
}

/** Where followList reports: the whole list, one change, the state. */
export interface ListSink {
  reset(items: KubeObject[]): void;
  change(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void;
  state(s: WatchState): void;
}

/**
 * A live list: list, then watch from its resourceVersion. A watch that ends
 * (the tunnel dropped, the agent restarted, the API server's timeout)
 * resumes from the last resourceVersion seen, showing "reconnecting"
 * meanwhile; only 410 Gone lists again. A final refusal (RBAC, not found)
 * stops and is reported in the state for the view to say. Runs until
 * `signal` aborts.
 *
 * @param path the list URL with its query (selectors).
 */
export async function followList(cluster: string, path: string, watchable: boolean, sink: ListSink, signal: AbortSignal, timing: FollowTiming = {}): Promise<void> {
  const { resumeMs = 2000, quietAfterMs = 10_000 } = timing;
  const sep = path.includes('?') ? '&' : '?';
  let rv: string | undefined;
  while (!signal.aborted) {
    try {
      if (rv === undefined) {
        const list = await listAll(cluster, path, signal);
        rv = list.resourceVersion;
        sink.reset(list.items);
        if (!watchable) return sink.state({ kind: 'listed' });
      }
      const started = Date.now();
      await kubeWatch<KubeObject>(
        cluster,
        `${path}${sep}resourceVersion=${encodeURIComponent(rv)}`,
        (e) => {
          if (e.type === 'ERROR') throw watchError(e.object);
          rv = e.object.metadata.resourceVersion;
          if (e.type !== 'BOOKMARK') sink.change(e.type, e.object);
        },
        signal,
        () => sink.state({ kind: 'live' }),
      );
      if (Date.now() - started >= quietAfterMs) continue;
      sink.state({ kind: 'reconnecting', why: 'the watch ended' });
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof Refusal && err.status === 410) {
        // Too old to resume from: list again, now.
        rv = undefined;
        continue;
      }
      if (isFinal(err)) return sink.state({ kind: 'refused', error: err });
      sink.state({ kind: 'reconnecting', why: (err as Error).message });
    }
    await new Promise((resolve) => setTimeout(resolve, resumeMs));
  }
}

/** followList as React state: the objects by uid, and the list's state. `path` undefined: nothing yet. */
export function useWatchList(cluster: string, path: string | undefined, watchable = true): { items: Map<string, KubeObject>; state: WatchState } {
  const [items, setItems] = useState<Map<string, KubeObject>>(new Map());
  const [state, setState] = useState<WatchState>({ kind: 'loading' });
  useEffect(() => {
    setItems(new Map());
    setState({ kind: 'loading' });
    if (path === undefined) return;
    const abort = new AbortController();
    const sink: ListSink = {
      reset: (list) => setItems(new Map(list.map((o) => [o.metadata.uid, o]))),
      change: (type, object) =>
        setItems((m) => {
          const next = new Map(m);
          if (type === 'DELETED') next.delete(object.metadata.uid);
          else next.set(object.metadata.uid, object);
          return next;
        }),
      state: setState,
    };
    void followList(cluster, path, watchable, sink, abort.signal);
    return () => abort.abort();
  }, [cluster, path, watchable]);
  return { items, state };
}
