import { describe, expect, it } from 'vitest';
import { parseRequestInfo } from '../src/request-info.js';

describe('parseRequestInfo', () => {
  const cases: [string, string, Partial<ReturnType<typeof parseRequestInfo>>][] = [
    ['GET', '/api/v1/pods', { verb: 'list', resource: 'pods', namespace: '' }],
    ['GET', '/api/v1/namespaces/ns1/pods', { verb: 'list', resource: 'pods', namespace: 'ns1' }],
    ['GET', '/api/v1/namespaces/ns1/pods?watch=true', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/namespaces/ns1/pods?watch=1&resourceVersion=5', { verb: 'watch' }],
    ['GET', '/api/v1/watch/namespaces/ns1/pods', { verb: 'watch', resource: 'pods', namespace: 'ns1' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1', { verb: 'get', resource: 'pods', name: 'p1' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1/log?follow=true', { verb: 'get', resource: 'pods', subresource: 'log' }],
    ['POST', '/api/v1/namespaces/ns1/pods/p1/exec?command=sh', { verb: 'create', subresource: 'exec' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1/exec?command=sh', { verb: 'get', subresource: 'exec' }],
    ['GET', '/api/v1/nodes/n1/proxy/configz', { verb: 'get', resource: 'nodes', name: 'n1', subresource: 'proxy/configz' }],
    ['POST', '/apis/apps/v1/namespaces/ns1/deployments', { verb: 'create', apiGroup: 'apps', resource: 'deployments' }],
    ['PATCH', '/apis/apps/v1/namespaces/ns1/deployments/d', { verb: 'patch', name: 'd' }],
    ['PUT', '/apis/apps/v1/namespaces/ns1/deployments/d/scale', { verb: 'update', subresource: 'scale' }],
    ['DELETE', '/api/v1/namespaces/ns1/pods', { verb: 'deletecollection' }],
    ['DELETE', '/api/v1/namespaces/ns1/pods/p', { verb: 'delete' }],
    ['GET', '/api/v1/namespaces/ns1', { verb: 'get', resource: 'namespaces', name: 'ns1', namespace: 'ns1' }],
    ['PUT', '/api/v1/namespaces/ns1/finalize', { verb: 'update', resource: 'namespaces', name: 'ns1', subresource: 'finalize' }],
    ['GET', '/api/v1/namespaces', { verb: 'list', resource: 'namespaces' }],
    ['GET', '/api/v1/namespaces/ns%2F1/pods', { namespace: 'ns/1', resource: 'pods' }],
  ];
  for (const [method, url, want] of cases) {
    it(`reads ${method} ${url} as the API server does`, () => {
      const info = parseRequestInfo(method, url);
      expect(info.isResourceRequest).toBe(true);
      expect(info).toMatchObject(want);
    });
  }

  for (const url of ['/api', '/apis', '/api/v1', '/apis/apps/v1', '/version', '/openapi/v2', '/healthz', '/']) {
    it(`treats ${url} as a non-resource path`, () => {
      expect(parseRequestInfo('GET', url)).toMatchObject({ isResourceRequest: false, verb: 'get' });
    });
  }
});
