import { kubeGet, Refusal, type ClusterView } from './api.js';

/** Kinds the search knows by name, with where their lists live. */
export const SEARCH_KINDS: Record<string, string> = {
  pods: '/api/v1',
  services: '/api/v1',
  configmaps: '/api/v1',
  secrets: '/api/v1',
  namespaces: '/api/v1',
  nodes: '/api/v1',
  persistentvolumeclaims: '/api/v1',
  deployments: '/apis/apps/v1',
  statefulsets: '/apis/apps/v1',
  daemonsets: '/apis/apps/v1',
  replicasets: '/apis/apps/v1',
  jobs: '/apis/batch/v1',
  cronjobs: '/apis/batch/v1',
  ingresses: '/apis/networking.k8s.io/v1',
};

export interface SearchQuery {
  kind: string;
  name: string;
  namespace: string;
  labelSelector: string;
}

export interface Match {
  namespace: string | undefined;
  name: string;
}

export type ClusterAnswer =
  | { state: 'waiting' }
  | { state: 'answered'; matches: Match[] }
  | { state: 'forbidden' | 'not connected' | 'failed'; message: string }
  | { state: 'timed out' };

/** At most this many clusters asked at once; the rest wait their turn. */
export const SEARCH_CONCURRENCY = 8;
/** One slow cluster never holds the others: each has this long. */
export const SEARCH_TIMEOUT_MS = 10_000;

function listPath(q: SearchQuery): string {
  const base = SEARCH_KINDS[q.kind]!;
  const ns = q.namespace && q.kind !== 'namespaces' && q.kind !== 'nodes' ? `/namespaces/${encodeURIComponent(q.namespace)}` : '';
  const params = new URLSearchParams({ limit: '500' });
  if (q.labelSelector) params.set('labelSelector', q.labelSelector);
  return `${base}${ns}/${q.kind}?${params.toString()}`;
}

async function askOne(cluster: ClusterView, q: SearchQuery, signal: AbortSignal): Promise<ClusterAnswer> {
  if (cluster.status !== 'connected') return { state: 'not connected', message: `${cluster.name} is not connected` };
  const timeout = AbortSignal.timeout(SEARCH_TIMEOUT_MS);
  try {
    const list = await kubeGet<{ items: { metadata: { name: string; namespace?: string } }[] }>(cluster.name, listPath(q), AbortSignal.any([signal, timeout]));
    const needle = q.name.toLowerCase();
    const matches = list.items
      .filter((o) => !needle || o.metadata.name.toLowerCase().includes(needle))
      .map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name }));
    return { state: 'answered', matches };
  } catch (err) {
    if (timeout.aborted) return { state: 'timed out' };
    if (err instanceof Refusal) {
      if (err.status === 403) return { state: 'forbidden', message: err.message };
      if (err.status === 503) return { state: 'not connected', message: err.message };
    }
    return { state: 'failed', message: (err as Error).message };
  }
}

/**
 * Asks every cluster, SEARCH_CONCURRENCY at a time, and reports each answer
 * as it arrives (results stream in; nobody waits for the slowest).
 */
export async function searchFleet(clusters: ClusterView[], q: SearchQuery, onAnswer: (cluster: string, a: ClusterAnswer) => void, signal: AbortSignal): Promise<void> {
  const queue = [...clusters];
  const worker = async () => {
    for (let c = queue.shift(); c && !signal.aborted; c = queue.shift()) onAnswer(c.name, await askOne(c, q, signal));
  };
  await Promise.all(Array.from({ length: Math.min(SEARCH_CONCURRENCY, clusters.length) }, worker));
}
