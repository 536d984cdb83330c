import { describe, expect, it } from 'vitest';
import { resolveKubernetesAuth } from '../src/auth/operator-config.js';
import { diffLines, rbacLines } from '../src/cli/cli-cluster-mode-command.js';

const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };

describe('kubernetesAuth configuration', () => {
  it('is off unless configured, and defaults to the in-cluster API server, the pod mount and a 10 s cache', () => {
    expect(resolveKubernetesAuth(undefined, inCluster)).toBeUndefined();
    expect(resolveKubernetesAuth({ audience: 'https://hawser.example.com', tiers: { write: ['system:serviceaccount:ci:deployer'] } }, inCluster)).toEqual({
      audience: 'https://hawser.example.com',
      apiServer: 'https://10.0.0.1:443',
      caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      tiers: { read: [], triage: [], write: ['system:serviceaccount:ci:deployer'], maintain: [], admin: [] },
      cacheMs: 10_000,
    });
  });

  it.each([
    [{ tiers: {} }, /kubernetesAuth.audience/],
    [{ audience: 'a' }, /kubernetesAuth.apiServer: expected an https/, {}],
    [{ audience: 'a', tiers: { owner: [] } }, /kubernetesAuth.tiers.owner/],
    [{ audience: 'a', tiers: { admin: ['alice'] } }, /system:serviceaccount:NAMESPACE:NAME/],
    [{ audience: 'a', tiers: { admin: ['system:masters'] } }, /system:serviceaccount:NAMESPACE:NAME/],
    [{ audience: 'a', cacheSeconds: 3600 }, /cacheSeconds/],
  ])('refuses %o, naming the field (HSR_ERR_CONFIG_INVALID)', (input, message, env = inCluster) => {
    expect(() => resolveKubernetesAuth(input, env)).toThrow(message);
  });
});

describe('hawser cluster mode: what a mode change grants', () => {
  const role = (verbs: string[]) => ({
    kind: 'ClusterRole',
    metadata: { name: 'r' },
    rules: [{ apiGroups: ['*'], resources: ['*'], verbs }, { nonResourceURLs: ['/version'], verbs: ['impersonate-on:user-info:get'] }],
  });

  it('lists one line per verb and rule, and the added and removed ones between two renderings', () => {
    const before = rbacLines([role(['get']), { kind: 'ClusterRoleBinding', metadata: { name: 'r' } }]);
    const after = rbacLines([
      role(['get', 'create']),
      { kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'p' }, spec: { matchResources: { namespaceSelector: { matchExpressions: [{ values: ['kube-system'] }] } } } },
    ]);
    expect(before).toEqual(['ClusterRole r: get on *.*', 'ClusterRole r: impersonate-on:user-info:get on /version']);
    expect(diffLines(before, after)).toEqual({
      added: ['ClusterRole r: create on *.*', 'ValidatingAdmissionPolicyBinding p: refuses writes, exec, attach, port-forward through Hawser in kube-system'],
      removed: [],
    });
    expect(diffLines(after, before).removed).toHaveLength(2);
  });
});
