import { afterEach, describe, expect, it, vi } from 'vitest';
import { discover, findKind, kindOf, kindPath, listPath, menuOrder, type ResourceKind } from '../src/discovery.js';
import { json, stubFetch } from './fetch-stub.js';

afterEach(() => vi.unstubAllGlobals());

const resource = (name: string, kind: string, scope: 'Namespaced' | 'Cluster', verbs = ['get', 'list', 'watch']) => ({ resource: name, responseKind: { kind }, scope, verbs });

const aggregatedCore = {
  kind: 'APIGroupDiscoveryList',
  items: [{ metadata: {}, versions: [{ version: 'v1', resources: [resource('secrets', 'Secret', 'Namespaced'), resource('pods', 'Pod', 'Namespaced'), resource('bindings', 'Binding', 'Namespaced', ['create']), resource('namespaces', 'Namespace', 'Cluster')] }] }],
};
const aggregatedGroups = {
  kind: 'APIGroupDiscoveryList',
  items: [
    { metadata: { name: 'example.com' }, versions: [{ version: 'v2', resources: [resource('widgets', 'Widget', 'Namespaced')] }, { version: 'v1', resources: [resource('widgets', 'Widget', 'Namespaced')] }] },
    { metadata: { name: 'apps' }, versions: [{ version: 'v1', resources: [resource('deployments', 'Deployment', 'Namespaced')] }] },
    { metadata: { name: 'rbac.authorization.k8s.io' }, versions: [{ version: 'v1', resources: [resource('roles', 'Role', 'Namespaced')] }] },
  ],
};

describe('discovery: the kinds of a cluster', () => {
  it('reads aggregated discovery in two requests: listable kinds only, preferred versions, common kinds first, then built-in ones, then custom resources', async () => {
    const asked = stubFetch((url) => (url.endsWith('/api') ? json(aggregatedCore) : json(aggregatedGroups)));
    const kinds = await discover('agg');
    expect(asked.map((a) => a.url)).toEqual(['/clusters/agg/api', '/clusters/agg/apis']);
    expect(asked[0]!.accept).toContain('as=APIGroupDiscoveryList');
    expect(kinds.map(kindPath)).toEqual(['namespaces', 'pods', 'deployments.apps', 'secrets', 'roles.rbac.authorization.k8s.io', 'widgets.example.com']);
    expect(findKind(kinds, 'widgets.example.com')).toMatchObject({ version: 'v2', kind: 'Widget', namespaced: true });
    // Cached for the page's life: no second round of requests.
    await discover('agg');
    expect(asked).toHaveLength(2);
  });

  it('falls back to the per-group lists of an API server without aggregated discovery', async () => {
    const asked = stubFetch((url) => {
      if (url.endsWith('/api')) return json({ kind: 'APIVersions', versions: ['v1'] });
      if (url.endsWith('/apis')) return json({ kind: 'APIGroupList', groups: [{ name: 'batch', preferredVersion: { version: 'v1' } }] });
      if (url.endsWith('/api/v1')) return json({ resources: [{ name: 'pods', kind: 'Pod', namespaced: true, verbs: ['list', 'watch'] }, { name: 'pods/log', kind: 'Pod', namespaced: true, verbs: ['get'] }] });
      return json({ resources: [{ name: 'cronjobs', kind: 'CronJob', namespaced: true, verbs: ['list'] }] });
    });
    const kinds = await discover('legacy');
    expect(kinds.map(kindPath)).toEqual(['pods', 'cronjobs.batch']);
    expect(asked.map((a) => a.url).sort()).toEqual(['/clusters/legacy/api', '/clusters/legacy/api/v1', '/clusters/legacy/apis', '/clusters/legacy/apis/batch/v1']);
  });

  it('asks again after a failure (a cluster not connected is not remembered as having no kinds)', async () => {
    let up = false;
    stubFetch((url) => (!up ? json({ kind: 'Status', code: 503, message: 'cluster flaky is not connected' }, 503) : url.endsWith('/api') ? json(aggregatedCore) : json(aggregatedGroups)));
    await expect(discover('flaky')).rejects.toThrow('cluster flaky is not connected');
    up = true;
    await expect(discover('flaky')).resolves.toHaveLength(6);
  });

  it('builds list URLs and finds owners by apiVersion and kind', () => {
    const kinds: ResourceKind[] = menuOrder([
      { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, verbs: [] },
      { group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false, verbs: [] },
    ]);
    expect(listPath(kinds[0]!, 'payments')).toBe('/apis/apps/v1/namespaces/payments/replicasets');
    expect(listPath(kinds[1]!, 'payments')).toBe('/api/v1/nodes');
    expect(kindOf(kinds, 'apps/v1', 'ReplicaSet')?.resource).toBe('replicasets');
    expect(kindOf(kinds, 'v1', 'Node')?.resource).toBe('nodes');
    expect(kindOf(kinds, 'extensions/v1beta1', 'ReplicaSet')).toBeUndefined();
  });
});
