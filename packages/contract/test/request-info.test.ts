import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyRequest, MAX_TARGET_BYTES, parseRequestInfo, type RequestInfo } from '../src/request-info.js';

describe('classifyRequest reads a request as kube-apiserver does', () => {
  // Expected readings follow requestinfo.go (k8s.io/apiserver v0.36.3).
  const cases: [string, string, Partial<RequestInfo>][] = [
    ['GET', '/api/v1/pods', { verb: 'list', resource: 'pods', namespace: '' }],
    ['GET', '/api/v1/namespaces/ns1/pods', { verb: 'list', resource: 'pods', namespace: 'ns1' }],
    ['GET', '/api/v1/namespaces/ns1/pods?watch=true', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/namespaces/ns1/pods?watch=1&resourceVersion=5', { verb: 'watch' }],
    // Any watch value but "0" and "false" (any case) is true, even "" and "no".
    ['GET', '/api/v1/pods?watch=', { verb: 'watch' }],
    ['GET', '/api/v1/pods?watch', { verb: 'watch' }],
    ['GET', '/api/v1/pods?watch=no', { verb: 'watch' }],
    ['GET', '/api/v1/pods?watch=FaLsE', { verb: 'list' }],
    ['GET', '/api/v1/pods?watch=0', { verb: 'list' }],
    ['GET', '/api/v1/pods?watch=00', { verb: 'watch' }],
    ['GET', '/api/v1/pods?w%61tch=false+', { verb: 'watch' }],
    ['GET', '/api/v1/pods?Watch=true', { verb: 'list' }],
    // watch on a named object stays get: only a name-less get becomes list/watch.
    ['GET', '/api/v1/namespaces/a/pods/p?watch=true', { verb: 'get', name: 'p' }],
    ['GET', '/api/v1/watch/namespaces/ns1/pods', { verb: 'watch', resource: 'pods', namespace: 'ns1' }],
    ['GET', '/api/v1/watch/namespaces/ns1/pods/p', { verb: 'watch', resource: 'pods', name: 'p' }],
    ['GET', '/api/v1/watch/pods?watch=false', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/proxy/nodes/n1/configz', { verb: 'proxy', resource: 'nodes', name: 'n1', subresource: '' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1', { verb: 'get', resource: 'pods', name: 'p1' }],
    ['HEAD', '/api/v1/namespaces/ns1/pods/p1', { verb: 'get', name: 'p1' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1/log?follow=true', { verb: 'get', resource: 'pods', subresource: 'log' }],
    ['POST', '/api/v1/namespaces/ns1/pods/p1/exec?command=sh', { verb: 'create', subresource: 'exec' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1/exec?command=sh', { verb: 'get', subresource: 'exec' }],
    // Only the third part is the subresource; the rest is not interpreted.
    ['GET', '/api/v1/nodes/n1/proxy/configz', { verb: 'get', resource: 'nodes', name: 'n1', subresource: 'proxy' }],
    ['GET', '/api/v1/namespaces/a/services/https:s:443/proxy/x/y', { resource: 'services', name: 'https:s:443', subresource: 'proxy' }],
    ['POST', '/apis/apps/v1/namespaces/ns1/deployments', { verb: 'create', apiGroup: 'apps', resource: 'deployments' }],
    ['PATCH', '/apis/apps/v1/namespaces/ns1/deployments/d', { verb: 'patch', name: 'd' }],
    ['PUT', '/apis/apps/v1/namespaces/ns1/deployments/d/scale', { verb: 'update', subresource: 'scale' }],
    ['DELETE', '/api/v1/namespaces/ns1/pods', { verb: 'deletecollection' }],
    ['DELETE', '/api/v1/namespaces/ns1/pods/p', { verb: 'delete' }],
    ['OPTIONS', '/api/v1/namespaces/ns1/pods/p', { verb: '' }],
    ['GET', '/api/v1/namespaces/ns1', { verb: 'get', resource: 'namespaces', name: 'ns1', namespace: 'ns1' }],
    ['PUT', '/api/v1/namespaces/ns1/finalize', { verb: 'update', resource: 'namespaces', name: 'ns1', subresource: 'finalize' }],
    ['GET', '/api/v1/namespaces/ns1/status', { verb: 'get', resource: 'namespaces', name: 'ns1', namespace: 'ns1', subresource: 'status' }],
    ['GET', '/api/v1/namespaces/status/pods', { verb: 'list', resource: 'pods', namespace: 'status' }],
    ['GET', '/api/v1/namespaces', { verb: 'list', resource: 'namespaces' }],
    // Escapes are decoded before the split; ones that cannot change a segment boundary are allowed.
    ['GET', '/api/v1/namespaces/n%73/pods/p%2Ex', { namespace: 'ns', resource: 'pods', name: 'p.x' }],
    // A list naming metadata.name in fieldSelector gets that name, as in the audit log.
    ['GET', '/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb', { verb: 'list', name: 'web' }],
    ['GET', '/api/v1/namespaces/a/pods?fieldSelector=spec.nodeName%3Dn,metadata.name%3D%3Dweb&watch=1', { verb: 'watch', name: 'web' }],
    ['GET', '/api/v1/namespaces/a/pods?fieldSelector=metadata.name!%3Dweb', { verb: 'list', name: '' }],
    // A ListOptions decode failure (limit is not an int64) drops the fieldSelector name.
    ['GET', '/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb&limit=x', { verb: 'list', name: '' }],
    ['DELETE', '/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb', { verb: 'deletecollection', name: '' }],
    ['GET', '/apis/stable.example.com/v1/namespaces/a/crontabs/c', { apiGroup: 'stable.example.com', resource: 'crontabs', name: 'c' }],
    // One trailing "/" (a proxy path to "/") is trimmed, as RequestInfo trims it.
    ['GET', '/api/v1/namespaces/a/services/web:80/proxy/', { resource: 'services', name: 'web:80', subresource: 'proxy' }],
    ['GET', '/api/v1/pods/', { verb: 'list', resource: 'pods' }],
  ];
  for (const [method, target, want] of cases) {
    it(`reads ${method} ${target} as the API server does`, () => {
      const c = classifyRequest(method, target);
      expect(c).toMatchObject({ ok: true, info: { isResourceRequest: true, ...want } });
      expect(parseRequestInfo(method, target)).toEqual(c.ok ? c.info : undefined);
    });
  }

  for (const target of ['/api', '/apis', '/api/v1', '/apis/apps/v1', '/apis/apps', '/version', '/openapi/v2', '/healthz', '/', '/apix/v1/pods']) {
    it(`reads ${target} as a non-resource path`, () => {
      expect(classifyRequest('GET', target)).toMatchObject({ ok: true, info: { isResourceRequest: false, verb: 'get' } });
    });
  }
});

describe('classifyRequest refuses targets two HTTP stacks could read differently', () => {
  const refused: [string, string, RegExp][] = [
    // Issue 15: the agent saw "get pods" where the API server ran an exec.
    ['GET', '/api/v1/namespaces/a/pods/p%2Fexec?command=id', /encoded "\/"/],
    ['GET', '/api/v1/namespaces/a/pods/p%2fexec?command=id', /encoded "\/"/],
    // Issue 15: a Secret read through "namespaces/NS%2Fsecrets%2FNAME".
    ['GET', '/api/v1/namespaces/a%2Fsecrets%2Fdb', /encoded "\/"/],
    // Issue 15: trailing dot segments hid subresources.
    ['GET', '/api/v1/namespaces/a/pods/p/exec/..', /dot segment/],
    ['GET', '/api/v1/namespaces/a/pods/p/exec/.', /dot segment/],
    ['GET', '/api/v1/namespaces/a/pods/p/exec/%2E%2E', /dot segment/],
    ['GET', '/api/v1/namespaces/a/pods/p/exec/.%2e', /dot segment/],
    ['GET', '/api/v1/namespaces/a/pods/p/exec/%2e', /dot segment/],
    ['GET', '/api/v1/namespaces/a/pods/p%5Cexec', /encoded "\\"/],
    ['GET', '/api/v1/namespaces/a/pods/p\\exec', /raw "\\"/],
    ['GET', '/api/v1/namespaces/a/pods/p%252Fexec', /encoded "%"/],
    ['GET', '/api/v1/namespaces/a/pods/p%3Fx', /encoded "\?"/],
    ['GET', '/api/v1//pods', /empty segment/],
    ['GET', '//api/v1/pods', /empty segment/],
    ['GET', '/api/v1/pods//', /empty segment/],
    ['GET', '/api/v1/pods%00', /control byte 0x00/],
    ['GET', '/api/v1/pods%0a', /control byte 0x0a/],
    ['GET', '/api/v1/po\u0000ds', /control or space byte 0x00/],
    ['GET', '/api/v1/pods\u00e9', /raw non-ASCII/],
    ['GET', '/api/v1/pods%C0%AF', /invalid or overlong UTF-8/],
    ['GET', '/api/v1/pods%ff', /invalid or overlong UTF-8/],
    ['GET', '/api/v1/pods%zz', /invalid %-escape/],
    ['GET', '/api/v1/pods%2', /invalid %-escape/],
    ['GET', '/api/v1/pods%u002F', /invalid %-escape/],
    ['GET', '/api/v1/pods#x', /"#"/],
    ['GET', '/api/v1/pods;x=1', /";"/],
    ['GET', '/api/v1/pods?watch=false;watch=true', /";"/],
    ['GET', '/api/v1/pods?watch=false&watch=true', /repeats "watch"/],
    ['GET', '/api/v1/pods?watch=false&w%61tch=true', /repeats "watch"/],
    ['GET', '/api/v1/pods?watch=fal%C5%BFe', /not ASCII/],
    ['GET', '/api/v1/pods?labelSelector=%zz', /invalid %-escape/],
    ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Dp&labelSelector=a%3Db', /labelSelector/],
    ['GET', 'http://kubernetes/api/v1/pods', /does not start with/],
    ['GET', 'api/v1/pods', /does not start with/],
    ['GET', '*', /does not start with/],
    ['GET', `/api/v1/namespaces/${'a'.repeat(MAX_TARGET_BYTES)}`, /longer than/],
    ['POST', '/api/v1/watch/namespaces/a/pods', /only for GET/],
    ['GET', '/api/v1/watch', /cannot be parsed/],
    ['get', '/api/v1/pods', /upper-case/],
  ];
  for (const [method, target, reason] of refused) {
    it(`refuses ${method} ${target.slice(0, 80)}`, () => {
      const c = classifyRequest(method, target);
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.reason).toMatch(reason);
    });
  }

  it('still reads refused targets the way the API server would, for the audit', () => {
    expect(parseRequestInfo('GET', '/api/v1/namespaces/a/pods/p%2Fexec?command=id')).toMatchObject({ resource: 'pods', name: 'p', subresource: 'exec' });
    expect(parseRequestInfo('GET', '/api/v1/namespaces/a%2Fsecrets%2Fdb')).toMatchObject({ verb: 'get', namespace: 'a', resource: 'secrets', name: 'db' });
    expect(parseRequestInfo('GET', '/api/v1/namespaces/a/pods/p/exec/..')).toMatchObject({ resource: 'pods', subresource: 'exec' });
  });
});

/**
 * An independent reading written from the Go rules: net/http unescapes the
 * whole path to bytes, RequestInfoFactory trims "/" and splits, url.Values
 * splits the query on "&". Deliberately naive; the gate is what makes the
 * naive reading sufficient.
 */
function reference(method: string, target: string): RequestInfo {
  const [rawPath, rawQuery = ''] = splitOnce(target, '?');
  const path = Buffer.from(rawPath.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  const query: [string, string][] = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const [k, v = ''] = splitOnce(p, '=');
      return [k, v].map((s) => decodeURIComponent(s.replace(/\+/g, ' '))) as [string, string];
    });
  const lower = method.toLowerCase();
  const nonResource = { isResourceRequest: false, verb: lower, apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
  let p = path.split('/').filter((s, i, all) => !((i === 0 || i === all.length - 1) && s === ''));
  if (p.length < 3) return nonResource;
  let apiGroup = '';
  if (p[0] === 'apis') {
    if (p.length < 4) return nonResource;
    apiGroup = p[1]!;
    p = p.slice(2);
  } else if (p[0] === 'api') p = p.slice(1);
  else return nonResource;
  const apiVersion = p.shift()!;
  const methodVerbs: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  let verb = methodVerbs[method] ?? '';
  if (p[0] === 'watch' || p[0] === 'proxy') verb = p.shift()!;
  let namespace = '';
  if (p[0] === 'namespaces' && p.length >= 2) {
    namespace = p[1]!;
    if (p.length >= 3 && p[2] !== 'status' && p[2] !== 'finalize') p = p.slice(2);
  }
  const subresource = p.length >= 3 && verb !== 'proxy' ? p[2]! : '';
  const name = p[1] ?? '';
  if (name === '' && verb === 'get') {
    const w = query.find(([k]) => k === 'watch');
    verb = w && w[1] !== '0' && w[1].toLowerCase() !== 'false' ? 'watch' : 'list';
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';
  return { isResourceRequest: true, verb, apiGroup, apiVersion, namespace, resource: p[0] ?? '', subresource, name };
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

describe('classifyRequest against an independent reading of the Go rules', () => {
  const segment = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('api', 'apis', 'v1', 'apps', 'namespaces', 'ns', 'pods', 'p', 'secrets', 'exec', 'proxy', 'watch', 'status', 'finalize', 'log') },
    { weight: 1, arbitrary: fc.constantFrom('', '.', '..', '%2E', '%2e%2E', '.%2e', '%2F', '%2f', 'a%2Fb', '%5C', '\\', ';', 'a;b', '#', '%00', '%', '%zz', '%41', '%C3%A9', '%C0%AF', 'é', ' ', 'p%252F') },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9.%-]{1,6}$/) },
  );
  const queryPair = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('watch=true', 'watch=false', 'watch=0', 'watch=1', 'watch=', 'watch', 'watch=FALSE', 'w%61tch=1', 'watch=%66alse', 'watch=x;y', 'limit=5', 'a=%zz', 'a=b+c') },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z=%+;&]{0,8}$/) },
  );
  const target = fc
    .tuple(
      fc.constantFrom([], ['api', 'v1'], ['apis', 'apps', 'v1'], ['apis', 'stable.example.com', 'v1'], ['api', 'v1', 'namespaces', 'ns']),
      fc.array(segment, { maxLength: 6 }),
      fc.option(fc.array(queryPair, { maxLength: 3 })),
      fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    )
    .map(([prefix, segs, q, trailing]) => `/${[...prefix, ...segs].join('/')}${trailing ? '/' : ''}${q ? `?${q.join('&')}` : ''}`);
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS');

  it('either refuses a target or reads it exactly as the reference does', () => {
    fc.assert(
      fc.property(method, target, (m, t) => {
        const c = classifyRequest(m, t);
        if (!c.ok) return;
        expect(c.info).toEqual(reference(m, t));
      }),
      { numRuns: 20_000, seed: 15 },
    );
  });

  it('accepts a good share of the generated targets, so the comparison means something', () => {
    const sample = fc.sample(fc.tuple(method, target), { numRuns: 2000, seed: 15 });
    // (a fixed seed: the counts below are stable)
    const accepted = sample.filter(([m, t]) => classifyRequest(m, t).ok);
    const resources = accepted.filter(([m, t]) => classifyRequest(m, t).ok && (classifyRequest(m, t) as { info: RequestInfo }).info.isResourceRequest);
    expect(accepted.length).toBeGreaterThan(200);
    expect(resources.length).toBeGreaterThan(50);
  });
});
