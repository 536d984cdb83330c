import { describe, expect, it } from 'vitest';
import { detailUrl, listQuery, listUrl, objectOf, parseClusterRoute } from '../src/cluster-url.js';

describe("the cluster page's deep links", () => {
  it('opens a cluster on its pods', () => {
    expect(parseClusterRoute('/c/prod-eu')).toEqual({ cluster: 'prod-eu', kind: 'pods', rest: [] });
  });

  it('round-trips lists with their query, and namespaced and cluster-scoped objects', () => {
    const list = listUrl('prod-eu', 'deployments.apps', { ns: 'payments', labels: 'app=web,tier!=db', fields: '', q: 'api' });
    expect(list).toBe('/c/prod-eu/deployments.apps?ns=payments&labels=app%3Dweb%2Ctier%21%3Ddb&q=api');
    const u = new URL(list, 'https://h');
    expect(parseClusterRoute(u.pathname)).toEqual({ cluster: 'prod-eu', kind: 'deployments.apps', rest: [] });
    expect(listQuery(u.searchParams)).toEqual({ ns: 'payments', labels: 'app=web,tier!=db', fields: '', q: 'api' });

    const pod = parseClusterRoute(detailUrl('prod-eu', 'pods', 'payments', 'web-1'))!;
    expect(pod).toEqual({ cluster: 'prod-eu', kind: 'pods', rest: ['payments', 'web-1'] });
    expect(objectOf(true, pod.rest)).toEqual({ namespace: 'payments', name: 'web-1', tab: undefined });
    const node = parseClusterRoute(detailUrl('prod-eu', 'nodes', undefined, 'node-a'))!;
    expect(objectOf(false, node.rest)).toEqual({ namespace: undefined, name: 'node-a', tab: undefined });
  });

  it('reads a tab after the object (another view of it), and refuses segments that fit no object', () => {
    expect(objectOf(true, parseClusterRoute(detailUrl('c', 'pods', 'ns', 'web-1', 'logs'))!.rest)).toEqual({ namespace: 'ns', name: 'web-1', tab: 'logs' });
    expect(objectOf(false, parseClusterRoute(detailUrl('c', 'nodes', undefined, 'node-a', 'yaml'))!.rest)).toEqual({ namespace: undefined, name: 'node-a', tab: 'yaml' });
    expect(objectOf(true, ['only-one'])).toBeUndefined();
    expect(objectOf(false, ['a', 'b', 'c'])).toBeUndefined();
  });

  it('keeps names with reserved characters in one segment', () => {
    const url = detailUrl('c', 'widgets.example.com', 'ns', 'a:b@c');
    expect(url).toBe('/c/c/widgets.example.com/ns/a%3Ab%40c');
    expect(parseClusterRoute(url)?.rest).toEqual(['ns', 'a:b@c']);
    expect(parseClusterRoute('/c/c/pods/a/b/c/d')).toBeUndefined();
  });
});
