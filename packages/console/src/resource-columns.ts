import type { KubeObject } from './watch-list.js';

/** A column a kind adds after name, namespace and age. */
export interface Column {
  title: string;
  value: (o: KubeObject) => string;
}

type Loose = Record<string, unknown> | undefined;

/** A field by dotted path, as a string ('' when absent). */
function at(o: KubeObject, path: string): string {
  let v: unknown = o;
  for (const key of path.split('.')) v = (v as Loose)?.[key];
  return v === undefined || v === null ? '' : String(v);
}

const num = (o: KubeObject, path: string) => at(o, path) || '0';
const ratio = (ready: string, want: string): Column['value'] => (o) => `${num(o, ready)}/${num(o, want)}`;

function restarts(o: KubeObject): string {
  const statuses = (o.status as { containerStatuses?: { restartCount?: number }[] } | undefined)?.containerStatuses ?? [];
  return String(statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0));
}

function condition(type: string): Column['value'] {
  return (o) => (o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.find((c) => c.type === type)?.status ?? '';
}

/** The kinds' own columns, by `resource.group` (kubectl's short `get` output, a column or two each). */
const COLUMNS: Record<string, Column[]> = {
  namespaces: [{ title: 'Phase', value: (o) => at(o, 'status.phase') }],
  pods: [
    { title: 'Phase', value: (o) => at(o, 'status.phase') || '—' },
    { title: 'Restarts', value: restarts },
  ],
  'deployments.apps': [
    { title: 'Ready', value: ratio('status.readyReplicas', 'spec.replicas') },
    { title: 'Up to date', value: (o) => num(o, 'status.updatedReplicas') },
  ],
  'statefulsets.apps': [{ title: 'Ready', value: ratio('status.readyReplicas', 'spec.replicas') }],
  'replicasets.apps': [{ title: 'Ready', value: ratio('status.readyReplicas', 'spec.replicas') }],
  'daemonsets.apps': [{ title: 'Ready', value: ratio('status.numberReady', 'status.desiredNumberScheduled') }],
  'jobs.batch': [{ title: 'Completions', value: (o) => `${num(o, 'status.succeeded')}/${at(o, 'spec.completions') || '1'}` }],
  'cronjobs.batch': [
    { title: 'Schedule', value: (o) => at(o, 'spec.schedule') },
    { title: 'Suspended', value: (o) => at(o, 'spec.suspend') || 'false' },
  ],
  services: [
    { title: 'Type', value: (o) => at(o, 'spec.type') },
    { title: 'Cluster IP', value: (o) => at(o, 'spec.clusterIP') },
  ],
  'ingresses.networking.k8s.io': [
    { title: 'Hosts', value: (o) => ((o.spec as { rules?: { host?: string }[] } | undefined)?.rules ?? []).map((r) => r.host ?? '*').join(', ') },
  ],
  configmaps: [{ title: 'Data', value: (o) => String(Object.keys((o.data as Loose) ?? {}).length) }],
  persistentvolumeclaims: [
    { title: 'Status', value: (o) => at(o, 'status.phase') },
    { title: 'Capacity', value: (o) => at(o, 'status.capacity.storage') },
  ],
  nodes: [
    { title: 'Ready', value: condition('Ready') },
    { title: 'Kubelet', value: (o) => at(o, 'status.nodeInfo.kubeletVersion') },
  ],
  events: [
    { title: 'Type', value: (o) => at(o, 'type') },
    { title: 'Reason', value: (o) => at(o, 'reason') },
    { title: 'Object', value: (o) => `${at(o, 'involvedObject.kind')}/${at(o, 'involvedObject.name')}` },
    { title: 'Message', value: (o) => at(o, 'message') },
  ],
  'customresourcedefinitions.apiextensions.k8s.io': [
    { title: 'Group', value: (o) => at(o, 'spec.group') },
    { title: 'Scope', value: (o) => at(o, 'spec.scope') },
  ],
};

/** Any other kind: its Ready condition, when its objects have one. */
const FALLBACK: Column[] = [{ title: 'Ready', value: condition('Ready') }];

export function columnsFor(kindPath: string): Column[] {
  return COLUMNS[kindPath] ?? FALLBACK;
}

/** "3d", "5h", "12m", "40s": kubectl's age. */
export function age(timestamp: string, now: number): string {
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}
