import { describe, expect, it } from 'vitest';
import { Policy, PolicyRules, type Identity } from '../src/policy.js';
import { parseRequestInfo } from '@hawser/contract';

const alice: Identity = { user: 'hawser:alice', groups: ['hawser:tier:admin'] };
const req = (method: string, url: string) => parseRequestInfo(method, url);

function policy(overrides: Partial<ConstructorParameters<typeof Policy>[0]> = {}): Policy {
  return new Policy({ mode: 'read-only', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: [], ...overrides });
}

describe('agent policy', () => {
  it('lets get, list and watch through a read-only agent as the prefixed identity', () => {
    for (const [m, u] of [
      ['GET', '/api/v1/pods'],
      ['GET', '/api/v1/namespaces/a/pods/p'],
      ['GET', '/api/v1/pods?watch=true'],
      ['GET', '/api/v1/namespaces/a/pods/p/log'],
    ] as const) {
      expect(policy().decide(req(m, u), alice)).toEqual({ allowed: true, impersonate: { user: 'hawser:alice', groups: ['hawser:tier:admin'] } });
    }
  });

  it('refuses every write through a read-only agent, even for the admin tier', () => {
    for (const [m, u] of [
      ['POST', '/apis/apps/v1/namespaces/a/deployments'],
      ['PUT', '/api/v1/namespaces/a/configmaps/c'],
      ['PATCH', '/api/v1/namespaces/a/configmaps/c'],
      ['DELETE', '/api/v1/namespaces/a/pods/p'],
      ['DELETE', '/api/v1/namespaces/a/pods'],
    ] as const) {
      const d = policy().decide(req(m, u), alice);
      expect(d).toMatchObject({ allowed: false, rule: PolicyRules.VERB_CEILING });
    }
  });

  it('refuses exec, attach, port-forward and proxy unless the mode is full, whatever the verb', () => {
    for (const mode of ['read-only', 'read-write'] as const) {
      for (const [m, u] of [
        ['GET', '/api/v1/namespaces/a/pods/p/exec?command=sh'],
        ['POST', '/api/v1/namespaces/a/pods/p/exec?command=sh'],
        ['POST', '/api/v1/namespaces/a/pods/p/attach'],
        ['GET', '/api/v1/namespaces/a/pods/p/portforward'],
        ['GET', '/api/v1/nodes/n/proxy/configz'],
        ['GET', '/api/v1/namespaces/a/services/s/proxy/'],
      ] as const) {
        expect(policy({ mode }).decide(req(m, u), alice)).toMatchObject({ allowed: false, rule: PolicyRules.SUBRESOURCE_CEILING });
      }
    }
    expect(policy({ mode: 'full' }).decide(req('POST', '/api/v1/namespaces/a/pods/p/exec'), alice).allowed).toBe(true);
  });

  it('allows writes in read-write mode', () => {
    expect(policy({ mode: 'read-write' }).decide(req('POST', '/apis/apps/v1/namespaces/a/deployments'), alice).allowed).toBe(true);
  });

  it('lets kubectl auth can-i ask its questions through a read-only agent', () => {
    for (const u of [
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    ]) {
      expect(policy().decide(req('POST', u), alice).allowed).toBe(true);
    }
    expect(policy().decide(req('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews'), alice).allowed).toBe(false);
  });

  it('refuses identities without the prefix, under system:, or outside the tier groups', () => {
    const p = policy();
    expect(p.decide(req('GET', '/api/v1/pods'), { user: 'alice', groups: [] })).toMatchObject({ rule: PolicyRules.IDENTITY_PREFIX });
    expect(p.decide(req('GET', '/api/v1/pods'), { user: 'system:admin', groups: [] })).toMatchObject({ rule: PolicyRules.SYSTEM_IDENTITY });
    expect(p.decide(req('GET', '/api/v1/pods'), { user: 'hawser:a', groups: ['system:masters'] })).toMatchObject({ rule: PolicyRules.SYSTEM_IDENTITY });
    expect(p.decide(req('GET', '/api/v1/pods'), { user: 'hawser:a', groups: ['hawser:devs'] })).toMatchObject({ rule: PolicyRules.TIER_GROUP });
    expect(p.decide(req('GET', '/api/v1/pods'), { user: 'hawser:', groups: [] })).toMatchObject({ rule: PolicyRules.IDENTITY_PREFIX });
    expect(p.decide(req('GET', '/api/v1/pods'), { groups: [] })).toMatchObject({ rule: PolicyRules.IDENTITY_REQUIRED });
  });

  it('accepts any prefixed group in raw mode', () => {
    expect(policy({ authzMode: 'raw' }).decide(req('GET', '/api/v1/pods'), { user: 'hawser:a', groups: ['hawser:devs'] }).allowed).toBe(true);
  });

  it('impersonates nobody in shared mode, whatever identity the server names', () => {
    expect(policy({ authzMode: 'shared' }).decide(req('GET', '/api/v1/pods'), { user: 'system:admin', groups: ['system:masters'] })).toEqual({ allowed: true });
    expect(policy({ authzMode: 'shared' }).decide(req('POST', '/api/v1/namespaces/a/pods'), { groups: [] })).toMatchObject({ allowed: false });
  });

  it('refuses resources on the deny list, by plain or group-qualified name', () => {
    const p = policy({ denyResources: ['secrets', 'deployments.apps'] });
    expect(p.decide(req('GET', '/api/v1/namespaces/a/secrets'), alice)).toMatchObject({ rule: PolicyRules.DENY_LIST });
    expect(p.decide(req('GET', '/apis/apps/v1/deployments'), alice)).toMatchObject({ rule: PolicyRules.DENY_LIST });
    expect(p.decide(req('GET', '/api/v1/namespaces/a/configmaps'), alice).allowed).toBe(true);
  });

  it('treats the /proxy/ path prefix as proxy, which needs mode full, and refuses a method the API server has no verb for', () => {
    for (const mode of ['read-only', 'read-write'] as const) {
      expect(policy({ mode }).decide(req('GET', '/api/v1/proxy/nodes/n/configz'), alice)).toMatchObject({ allowed: false, rule: PolicyRules.SUBRESOURCE_CEILING });
      expect(policy({ mode }).decide(req('GET', '/api/v1/proxy/namespaces/a/services/s'), alice)).toMatchObject({ allowed: false, rule: PolicyRules.SUBRESOURCE_CEILING });
    }
    expect(policy({ mode: 'full' }).decide(req('GET', '/api/v1/proxy/nodes/n/configz'), alice).allowed).toBe(true);
    expect(policy({ mode: 'full' }).decide(req('OPTIONS', '/api/v1/namespaces/a/pods/p'), alice)).toMatchObject({ allowed: false, rule: PolicyRules.VERB_CEILING });
  });

  it('sees the deny-listed resource and the exec the API server sees, never a get of something else (issue 15)', () => {
    // What the API server reads from these targets; classifyRequest refuses
    // the targets themselves, and policy still gets the real reading.
    const p = policy({ denyResources: ['secrets'] });
    expect(p.decide(req('GET', '/api/v1/namespaces/a%2Fsecrets%2Fdb'), alice)).toMatchObject({ rule: PolicyRules.DENY_LIST });
    expect(p.decide(req('GET', '/api/v1/namespaces/a/pods/p%2Fexec?command=id'), alice)).toMatchObject({ rule: PolicyRules.SUBRESOURCE_CEILING });
    expect(p.decide(req('GET', '/api/v1/namespaces/a/pods/p/exec/..?command=id'), alice)).toMatchObject({ rule: PolicyRules.SUBRESOURCE_CEILING });
  });

  it('allows reads of non-resource paths and refuses other methods there', () => {
    expect(policy().decide(req('GET', '/openapi/v3'), alice).allowed).toBe(true);
    expect(policy().decide(req('POST', '/version'), alice)).toMatchObject({ allowed: false, rule: PolicyRules.VERB_CEILING });
  });

  describe('protected namespaces', () => {
    const guarded = (mode: 'read-only' | 'read-write' | 'full') => policy({ mode, protectedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease', 'hawser-system'] });

    it('refuses writes in a protected namespace in read-write and full, naming the rule and its code', () => {
      for (const mode of ['read-write', 'full'] as const) {
        for (const [m, u] of [
          ['POST', '/api/v1/namespaces/kube-system/configmaps'],
          ['PUT', '/api/v1/namespaces/kube-system/configmaps/c'],
          ['PATCH', '/apis/apps/v1/namespaces/kube-public/deployments/d'],
          ['DELETE', '/api/v1/namespaces/kube-node-lease/pods/p'],
          ['DELETE', '/api/v1/namespaces/kube-system/pods'],
          ['PATCH', '/apis/apps/v1/namespaces/hawser-system/deployments/hawser-agent/scale'],
        ] as const) {
          expect(guarded(mode).decide(req(m, u), alice), `${mode} ${m} ${u}`).toMatchObject({
            allowed: false,
            rule: PolicyRules.PROTECTED_NAMESPACE,
            code: 'HAG_ERR_PROTECTED_NAMESPACE',
          });
        }
      }
    });

    it('refuses exec, attach, port-forward and proxy in a protected namespace even in full', () => {
      for (const u of [
        '/api/v1/namespaces/kube-system/pods/p/exec?command=sh',
        '/api/v1/namespaces/kube-system/pods/p/attach',
        '/api/v1/namespaces/kube-system/pods/p/portforward',
        '/api/v1/namespaces/kube-system/services/s/proxy/',
        '/api/v1/proxy/namespaces/kube-system/services/s',
      ]) {
        expect(guarded('full').decide(req('GET', u), alice), u).toMatchObject({ allowed: false, rule: PolicyRules.PROTECTED_NAMESPACE });
      }
      expect(guarded('full').decide(req('GET', '/api/v1/namespaces/apps/pods/p/exec?command=sh'), alice).allowed).toBe(true);
    });

    it('refuses writes to the Namespace objects of those names, and deleting all namespaces at once', () => {
      for (const [m, u] of [
        ['DELETE', '/api/v1/namespaces/kube-system'],
        ['PUT', '/api/v1/namespaces/kube-system'],
        ['PATCH', '/api/v1/namespaces/kube-public'],
        ['PUT', '/api/v1/namespaces/kube-system/finalize'],
        ['PUT', '/api/v1/namespaces/hawser-system/status'],
        ['DELETE', '/api/v1/namespaces'],
      ] as const) {
        expect(guarded('full').decide(req(m, u), alice), `${m} ${u}`).toMatchObject({ allowed: false, rule: PolicyRules.PROTECTED_NAMESPACE });
      }
      expect(guarded('full').decide(req('DELETE', '/api/v1/namespaces/apps'), alice).allowed).toBe(true);
      expect(guarded('full').decide(req('POST', '/api/v1/namespaces'), alice).allowed).toBe(true);
    });

    it('leaves reads, other namespaces, cluster-scoped writes and can-i alone', () => {
      for (const mode of ['read-write', 'full'] as const) {
        const p = guarded(mode);
        for (const [m, u] of [
          ['GET', '/api/v1/namespaces/kube-system/pods'],
          ['GET', '/api/v1/namespaces/kube-system/pods/p/log'],
          ['GET', '/api/v1/namespaces/kube-system/configmaps?watch=true'],
          ['GET', '/api/v1/namespaces/kube-system'],
          ['POST', '/api/v1/namespaces/apps/configmaps'],
          ['DELETE', '/api/v1/namespaces/kube-systemx/pods/p'],
          ['PUT', '/apis/rbac.authorization.k8s.io/v1/clusterroles/r'],
          ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
        ] as const) {
          expect(p.decide(req(m, u), alice), `${mode} ${m} ${u}`).toMatchObject({ allowed: true });
        }
      }
    });

    it('leaves the read-only verb ceiling as the reason a read-only agent refuses a write there', () => {
      expect(guarded('read-only').decide(req('DELETE', '/api/v1/namespaces/kube-system/pods/p'), alice)).toMatchObject({ rule: PolicyRules.VERB_CEILING });
    });

    it('protects nothing when the list is empty', () => {
      expect(policy({ mode: 'full', protectedNamespaces: [] }).decide(req('DELETE', '/api/v1/namespaces/kube-system'), alice).allowed).toBe(true);
    });
  });
});
