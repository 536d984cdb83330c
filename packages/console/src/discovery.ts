import { kubeGetAccept } from './api.js';

/** One listable resource of a cluster, as discovery describes it. */
export interface ResourceKind {
  /** '' for the core group. */
  group: string;
  version: string;
  /** The plural, as in the URL: `pods`, `deployments`. */
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

const kind = (group: string, version: string, resource: string, kindName: string, namespaced: boolean): ResourceKind => ({
  group,
  version,
  resource,
  kind: kindName,
  namespaced,
  verbs: ['get', 'list', 'watch'],
});

/**
 * The kinds an operator looks at most, in menu order. Known without asking,
 * so a deep link to one of them starts listing before discovery answers.
 */
export const COMMON_KINDS: readonly ResourceKind[] = [
  kind('', 'v1', 'namespaces', 'Namespace', false),
  kind('', 'v1', 'pods', 'Pod', true),
  kind('apps', 'v1', 'deployments', 'Deployment', true),
  kind('apps', 'v1', 'statefulsets', 'StatefulSet', true),
  kind('apps', 'v1', 'daemonsets', 'DaemonSet', true),
  kind('apps', 'v1', 'replicasets', 'ReplicaSet', true),
  kind('batch', 'v1', 'jobs', 'Job', true),
  kind('batch', 'v1', 'cronjobs', 'CronJob', true),
  kind('', 'v1', 'services', 'Service', true),
  kind('networking.k8s.io', 'v1', 'ingresses', 'Ingress', true),
  kind('', 'v1', 'configmaps', 'ConfigMap', true),
  kind('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true),
  kind('', 'v1', 'nodes', 'Node', false),
  kind('', 'v1', 'events', 'Event', true),
  kind('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
];

/** The kind's segment in console URLs: `pods`, `deployments.apps` (kubectl's resource.group). */
export function kindPath(k: Pick<ResourceKind, 'group' | 'resource'>): string {
  return k.group ? `${k.resource}.${k.group}` : k.resource;
}

/** Where the kind's lists live: all namespaces, or one. */
export function listPath(k: ResourceKind, namespace?: string): string {
  const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  const ns = k.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${k.resource}`;
}

/** The kind a URL segment names, among those found (or the common ones while discovery runs). */
export function findKind(kinds: readonly ResourceKind[], path: string): ResourceKind | undefined {
  return kinds.find((k) => kindPath(k) === path) ?? kinds.find((k) => k.resource === path);
}

/** The kind an ownerReference or involvedObject names by apiVersion and kind. */
export function kindOf(kinds: readonly ResourceKind[], apiVersion: string, kindName: string): ResourceKind | undefined {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  return kinds.find((k) => k.group === group && k.kind === kindName);
}

/**
 * Where a kind sits in the menu: the common kinds, Kubernetes' other
 * built-in kinds (the core group, groups without a dot, `*.k8s.io`), then
 * custom resources and other extension APIs.
 */
export function menuSection(k: Pick<ResourceKind, 'group' | 'resource'>): 'common' | 'builtin' | 'custom' {
  if (COMMON_KINDS.some((c) => c.group === k.group && c.resource === k.resource)) return 'common';
  return !k.group.includes('.') || k.group.endsWith('.k8s.io') ? 'builtin' : 'custom';
}

/** The common kinds first, in their order, then the other built-in kinds, then custom resources, each by group and name. */
export function menuOrder(found: readonly ResourceKind[]): ResourceKind[] {
  const rank = (k: ResourceKind) => {
    const i = COMMON_KINDS.findIndex((c) => c.group === k.group && c.resource === k.resource);
    return i >= 0 ? i : menuSection(k) === 'builtin' ? COMMON_KINDS.length : COMMON_KINDS.length + 1;
  };
  return [...found].sort((a, b) => rank(a) - rank(b) || a.group.localeCompare(b.group) || a.resource.localeCompare(b.resource));
}

// Aggregated discovery (Kubernetes 1.26+; on by default since 1.30): two
// requests describe every group. Older servers answer with the legacy
// lists, read one group version at a time.
const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';

interface AggregatedList {
  kind?: string;
  items?: {
    metadata: { name?: string };
    versions: { version: string; resources: { resource: string; responseKind?: { kind: string }; scope: string; verbs: string[] }[] }[];
  }[];
}
interface LegacyResources {
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}
interface LegacyGroups {
  groups: { name: string; preferredVersion: { version: string } }[];
}

function fromAggregated(list: AggregatedList): ResourceKind[] {
  // The first version listed is the group's preferred one.
  return (list.items ?? []).flatMap((g) => {
    const v = g.versions[0];
    if (!v) return [];
    return v.resources.map((r) => ({
      group: g.metadata.name ?? '',
      version: v.version,
      resource: r.resource,
      kind: r.responseKind?.kind ?? r.resource,
      namespaced: r.scope === 'Namespaced',
      verbs: r.verbs,
    }));
  });
}

async function legacyVersion(cluster: string, group: string, version: string, signal: AbortSignal): Promise<ResourceKind[]> {
  const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const list = await kubeGetAccept<LegacyResources>(cluster, path, 'application/json', signal).catch(() => ({ resources: [] }));
  return list.resources
    .filter((r) => !r.name.includes('/'))
    .map((r) => ({ group, version, resource: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs }));
}

async function discoverNow(cluster: string, signal: AbortSignal): Promise<ResourceKind[]> {
  const [core, groups] = await Promise.all([
    kubeGetAccept<AggregatedList>(cluster, '/api', AGGREGATED, signal),
    kubeGetAccept<AggregatedList & Partial<LegacyGroups>>(cluster, '/apis', AGGREGATED, signal),
  ]);
  let found: ResourceKind[];
  if (core.kind === 'APIGroupDiscoveryList' && groups.kind === 'APIGroupDiscoveryList') {
    found = [...fromAggregated(core), ...fromAggregated(groups)];
  } else {
    const lists = await Promise.all([
      legacyVersion(cluster, '', 'v1', signal),
      ...(groups.groups ?? []).map((g) => legacyVersion(cluster, g.name, g.preferredVersion.version, signal)),
    ]);
    found = lists.flat();
  }
  return menuOrder(found.filter((k) => k.verbs.includes('list')));
}

/** Discovery answers, per cluster, for the page's life (a failed one is asked again next time). */
const cache = new Map<string, Promise<ResourceKind[]>>();

/** Every listable resource of a cluster, custom resources included, common kinds first. */
export function discover(cluster: string): Promise<ResourceKind[]> {
  let found = cache.get(cluster);
  if (!found) {
    found = discoverNow(cluster, AbortSignal.timeout(20_000));
    found.catch(() => cache.delete(cluster));
    cache.set(cluster, found);
  }
  return found;
}
