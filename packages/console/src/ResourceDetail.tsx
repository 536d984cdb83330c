import { PodOpsLinks } from './PodOps.js';
import { useMemo } from 'react';
import { detailUrl, listUrl } from './cluster-url.js';
import { COMMON_KINDS, kindOf, kindPath, listPath, type ResourceKind } from './discovery.js';
import { linkProps } from './navigation.js';
import { refusalSentence } from './refusal-sentence.js';
import { age } from './resource-columns.js';
import { useNow, WatchBadge } from './ResourceList.js';
import { useWatchList, type KubeObject } from './watch-list.js';
import { toYaml } from './yaml.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** The status fields that are one value each (phase, replicas, ...): the summary line of an object. */
function statusSummary(status: unknown): [string, string][] {
  if (!status || typeof status !== 'object') return [];
  return Object.entries(status as Record<string, unknown>)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => [k, String(v)]);
}

/**
 * What kubectl -o yaml shows: apiVersion and kind (a list's items come
 * without them), and the object without its managedFields bookkeeping.
 */
function readable(o: KubeObject, kind: ResourceKind): unknown {
  const { managedFields: _managed, ...metadata } = o.metadata as KubeObject['metadata'] & { managedFields?: unknown };
  return { apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version, kind: kind.kind, ...o, metadata };
}

/**
 * One object, live (a watch on its name): status, conditions, links to its
 * owners, the events about it (by involvedObject.uid) and its YAML.
 */
export function ResourceDetail({ cluster, kind, kinds, namespace, name }: { cluster: string; kind: ResourceKind; kinds: readonly ResourceKind[]; namespace: string | undefined; name: string }) {
  const path = kindPath(kind);
  const objectPath = `${listPath(kind, namespace)}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  const { items, state } = useWatchList(cluster, objectPath, kind.verbs.includes('watch'));
  const object = [...items.values()][0];
  const uid = object?.metadata.uid;
  const eventsPath = uid ? `/api/v1${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/events?fieldSelector=${encodeURIComponent(`involvedObject.uid=${uid}`)}` : undefined;
  const events = useWatchList(cluster, eventsPath);
  const now = useNow();
  const yaml = useMemo(() => (object ? toYaml(readable(object, kind)) : ''), [object, kind]);
  const conditions = ((object?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).filter((c) => c && typeof c.type === 'string');
  const owners = object?.metadata.ownerReferences ?? [];

  return (
    <section data-testid="detail">
      <p>
        <a {...linkProps(listUrl(cluster, path, kind.namespaced && namespace ? { ns: namespace } : {}))}>← {kind.resource}</a>
      </p>
      <h2>
        {kind.kind} {namespace ? `${namespace}/` : ''}
        {name} <WatchBadge state={state} />
      </h2>
      {kind.resource === 'pods' && !kind.group && namespace && <PodOpsLinks cluster={cluster} namespace={namespace} pod={name} />}
      {state.kind === 'refused' ? (
        <p className="refusal" role="alert" data-testid="refusal">
          {refusalSentence(state.error, { verb: 'get', resource: kind.resource, namespace, cluster })}
        </p>
      ) : !object ? (
        <p className="muted">{state.kind === 'loading' ? 'Loading…' : `no ${kind.kind} ${name}${namespace ? ` in namespace ${namespace}` : ''} on ${cluster}`}</p>
      ) : (
        <>
          <dl className="summary" data-testid="status">
            <div>
              <dt>created</dt>
              <dd title={object.metadata.creationTimestamp}>{age(object.metadata.creationTimestamp, now)} ago</dd>
            </div>
            {statusSummary(object.status).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
          {path === 'namespaces' && (
            <p data-testid="in-namespace">
              in this namespace:{' '}
              {COMMON_KINDS.filter((k) => k.namespaced).map((k) => (
                <a key={kindPath(k)} data-kind={kindPath(k)} {...linkProps(listUrl(cluster, kindPath(k), { ns: name }))}>
                  {k.resource}
                </a>
              ))}
            </p>
          )}
          {owners.length > 0 && (
            <p data-testid="owners">
              owned by{' '}
              {owners.map((o) => {
                const ownerKind = kindOf(kinds, o.apiVersion, o.kind);
                const label = `${o.kind}/${o.name}`;
                return ownerKind ? (
                  <a key={o.uid} data-owner={label} {...linkProps(detailUrl(cluster, kindPath(ownerKind), ownerKind.namespaced ? namespace : undefined, o.name))}>
                    {label}
                  </a>
                ) : (
                  <span key={o.uid} data-owner={label}>
                    {label}
                  </span>
                );
              })}
            </p>
          )}
          <h3>Conditions</h3>
          {conditions.length === 0 ? (
            <p className="muted">none reported</p>
          ) : (
            <table data-testid="conditions">
              <thead>
                <tr>
                  <th>Type</th>
                  <th>Status</th>
                  <th>Reason</th>
                  <th>Message</th>
                  <th>Since</th>
                </tr>
              </thead>
              <tbody>
                {conditions.map((c) => (
                  <tr key={c.type} data-condition={c.type}>
                    <td>{c.type}</td>
                    <td>{c.status}</td>
                    <td>{c.reason ?? ''}</td>
                    <td>{c.message ?? ''}</td>
                    <td>{c.lastTransitionTime ? age(c.lastTransitionTime, now) : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h3>
            Events <WatchBadge state={events.state} />
          </h3>
          {events.state.kind === 'refused' ? (
            <p className="refusal">{refusalSentence(events.state.error, { verb: 'list', resource: 'events', namespace, cluster })}</p>
          ) : (
            <table data-testid="events">
              <tbody>
                {[...events.items.values()]
                  .sort((a, b) => String(a.lastTimestamp ?? a.metadata.creationTimestamp).localeCompare(String(b.lastTimestamp ?? b.metadata.creationTimestamp)))
                  .map((e) => (
                    <tr key={e.metadata.uid} data-event={String(e.reason ?? '')}>
                      <td>{String(e.type ?? '')}</td>
                      <td>{String(e.reason ?? '')}</td>
                      <td>{String(e.message ?? '')}</td>
                      <td>{age(String(e.lastTimestamp ?? e.metadata.creationTimestamp), now)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
          <h3>YAML</h3>
          <pre className="yaml" data-testid="yaml">
            {yaml}
          </pre>
        </>
      )}
    </section>
  );
}
