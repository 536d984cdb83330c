import { describe, expect, it } from 'vitest';
import { detailUrl, listQuery, listUrl, parseClusterRoute } from '../src/cluster-url.js';

describe("the cluster page's deep links", () => {
  it('opens a cluster on its pods', () => {
    expect(parseClusterRoute('/c/prod-eu')).toEqual({ cluster: 'prod-eu', kind: 'pods', object: undefined });
  });

  it('round-trips lists with their query, and namespaced and cluster-scoped objects', () => {
    const list = listUrl('prod-eu', 'deployments.apps', { ns: 'payments', labels: 'app=web,tier!=db', fields: '', q: 'api' });
    expect(list).toBe('/c/prod-eu/deployments.apps?ns=payments&labels=app%3Dweb%2Ctier%21%3Ddb&q=api');
    const u = new URL(list, 'https://h');
    expect(parseClusterRoute(u.pathname)).toEqual({ cluster: 'prod-eu', kind: 'deployments.apps', object: undefined });
    expect(listQuery(u.searchParams)).toEqual({ ns: 'payments', labels: 'app=web,tier!=db', fields: '', q: 'api' });

    expect(parseClusterRoute(detailUrl('prod-eu', 'pods', 'payments', 'web-1'))).toEqual({ cluster: 'prod-eu', kind: 'pods', object: ['payments', 'web-1'] });
    expect(parseClusterRoute(detailUrl('prod-eu', 'nodes', undefined, 'node-a'))).toEqual({ cluster: 'prod-eu', kind: 'nodes', object: ['node-a'] });
  });

  it('keeps names with reserved characters in one segment', () => {
    const url = detailUrl('c', 'widgets.example.com', 'ns', 'a:b@c');
    expect(url).toBe('/c/c/widgets.example.com/ns/a%3Ab%40c');
    expect(parseClusterRoute(url)?.object).toEqual(['ns', 'a:b@c']);
    expect(parseClusterRoute('/c/c/pods/a/b/c')).toBeUndefined();
  });
});
