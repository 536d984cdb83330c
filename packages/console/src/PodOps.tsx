import { lazy, Suspense, useEffect, useState } from 'react';
import { canI, clusterAgent, kubeGet, Refusal, type Session } from './api.js';
import { navigate } from './navigation.js';
import { PodLogs, type ContainerChoice } from './PodLogs.js';

// xterm.js is most of a terminal page's weight: only pages that open one load it.
const ExecTerminal = lazy(() => import('./ExecTerminal.js'));

export interface PodOpsRoute {
  cluster: string;
  namespace: string;
  pod: string;
  view: 'logs' | 'exec';
}

/** `/c/CLUSTER/pods/NS/NAME/logs` and `/exec`: deep links another operator can open within their own rights. */
export function podOpsRoute(path: string): PodOpsRoute | undefined {
  const m = /^\/c\/([^/]+)\/pods\/([^/]+)\/([^/]+)\/(logs|exec)$/.exec(path);
  if (!m) return undefined;
  return { cluster: decodeURIComponent(m[1]!), namespace: decodeURIComponent(m[2]!), pod: decodeURIComponent(m[3]!), view: m[4] as PodOpsRoute['view'] };
}

export function podOpsPath(r: PodOpsRoute): string {
  return `/c/${encodeURIComponent(r.cluster)}/pods/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.pod)}/${r.view}`;
}

/** Links to a pod's logs and terminal, for a pod row or detail view. */
export function PodOpsLinks({ cluster, namespace, pod, current }: Omit<PodOpsRoute, 'view'> & { current?: PodOpsRoute['view'] }) {
  return (
    <span className="pod-ops-links">
      {(['logs', 'exec'] as const).map((view) => {
        const href = podOpsPath({ cluster, namespace, pod, view });
        return (
          <a
            key={view}
            href={href}
            aria-current={view === current ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate(href);
            }}
          >
            {view === 'logs' ? 'Logs' : 'Terminal'}
          </a>
        );
      })}
    </span>
  );
}

interface PodSpec {
  spec?: { initContainers?: { name: string }[]; containers?: { name: string }[] };
}

/** Whether this operator may exec here, and if not, the sentence why. */
type ExecGate = { kind: 'checking' } | { kind: 'allowed' } | { kind: 'denied'; why: string };

/**
 * Why exec is or is not offered: the agent's mode first (only a `full`
 * agent relays pods/exec, whatever the operator's rights), then the
 * operator's own RBAC, asked of the cluster as a SelfSubjectAccessReview
 * for `create pods/exec` (what the API server checks for a WebSocket exec).
 */
async function execGate(r: PodOpsRoute, session: Session, signal: AbortSignal): Promise<ExecGate> {
  const agent = await clusterAgent(r.cluster, signal);
  if (!agent) return { kind: 'denied', why: `cluster "${r.cluster}" is not one you can see in Hawser` };
  if (agent.agentMode === null) return { kind: 'denied', why: `the agent of ${r.cluster} has not connected yet, so its mode is unknown: exec needs an agent in mode full` };
  if (agent.agentMode !== 'full') return { kind: 'denied', why: `this cluster's agent is ${agent.agentMode}: exec needs an agent in mode full on ${r.cluster}` };
  const review = await canI(r.cluster, session, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: r.namespace, name: r.pod }, signal);
  if (!review.allowed) return { kind: 'denied', why: `you cannot create pods/exec in namespace ${r.namespace} on ${r.cluster}: RBAC${review.reason ? ` (${review.reason})` : ''}` };
  return { kind: 'allowed' };
}

/** A pod's logs and exec terminal, with the container list read from the pod itself. */
export function PodOps({ route, session }: { route: PodOpsRoute; session: Session }) {
  const { cluster, namespace, pod, view } = route;
  const [containers, setContainers] = useState<ContainerChoice[] | undefined>(undefined);
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const [gate, setGate] = useState<ExecGate>({ kind: 'checking' });

  useEffect(() => {
    const abort = new AbortController();
    setContainers(undefined);
    setRefused(undefined);
    kubeGet<PodSpec>(cluster, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`, abort.signal).then(
      (p) => setContainers([...(p.spec?.initContainers ?? []).map((c) => ({ name: c.name, init: true })), ...(p.spec?.containers ?? []).map((c) => ({ name: c.name, init: false }))]),
      (err: unknown) => !abort.signal.aborted && setRefused((err as Error).message),
    );
    return () => abort.abort();
  }, [cluster, namespace, pod]);

  useEffect(() => {
    if (view !== 'exec') return;
    const abort = new AbortController();
    setGate({ kind: 'checking' });
    execGate({ cluster, namespace, pod, view }, session, abort.signal).then(setGate, (err: unknown) => {
      if (abort.signal.aborted) return;
      setGate({ kind: 'denied', why: err instanceof Refusal ? err.message : `could not check whether exec is allowed: ${(err as Error).message}` });
    });
    return () => abort.abort();
  }, [cluster, namespace, pod, view, session]);

  return (
    <section data-testid="pod-ops">
      <h2>
        {cluster}: {namespace}/{pod}{' '}
        <span className="tabs">
          <PodOpsLinks cluster={cluster} namespace={namespace} pod={pod} current={view} />
        </span>
      </h2>
      {refused !== undefined ? (
        <p className="refusal" role="alert">
          {refused}
        </p>
      ) : containers === undefined ? (
        <p className="muted">Loading…</p>
      ) : view === 'logs' ? (
        <PodLogs cluster={cluster} namespace={namespace} pod={pod} containers={containers} />
      ) : gate.kind === 'checking' ? (
        <p className="muted">Checking whether you may exec here…</p>
      ) : gate.kind === 'denied' ? (
        <p className="refusal" role="alert" data-testid="exec-denied">
          {gate.why}
        </p>
      ) : (
        <Suspense fallback={<p className="muted">Loading the terminal…</p>}>
          <ExecTerminal cluster={cluster} namespace={namespace} pod={pod} containers={containers.filter((c) => !c.init).map((c) => c.name)} />
        </Suspense>
      )}
    </section>
  );
}
