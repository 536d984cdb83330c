import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { applyYaml, createNamespace, kubeRequest, kubectl, serviceAccountToken, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

// Proves that the control plane under the end-to-end suites is the real thing:
// the API server we built, with RBAC and impersonation behaving as upstream's.
describe('the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const pods = () => `/api/v1/namespaces/${ns.name}/pods`;
  const secrets = () => `/api/v1/namespaces/${ns.name}/secrets`;

  beforeAll(async () => {
    ns = await createNamespace();
  });
  afterAll(async () => {
    await ns?.remove();
  });

  it('reports the Kubernetes version it was built as', async () => {
    const cluster = testCluster();
    const token = await serviceAccountToken(ns.name, 'versioner');
    const res = await kubeRequest('/version', { token });
    expect(res.status).toBe(200);
    const { gitVersion } = res.json() as { gitVersion: string };
    expect(gitVersion).toMatch(/^v1\.\d+\.\d+/);
    if (!cluster.external) expect(gitVersion).toBe(cluster.version);
  });

  it('refuses a ServiceAccount with no bindings listing pods (403)', async () => {
    const token = await serviceAccountToken(ns.name, 'nobody');
    const res = await kubeRequest(pods(), { token });
    expect(res.status).toBe(403);
    expect(res.json().reason).toBe('Forbidden');
  });

  it('lets a ServiceAccount bound to view list pods but not read Secrets', async () => {
    const sa = 'viewer';
    const token = await serviceAccountToken(ns.name, sa);
    await applyYaml(
      `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: viewer-view }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: ${sa}, namespace: ${ns.name} }]`,
      { namespace: ns.name },
    );
    await eventually(async () => expect((await kubeRequest(pods(), { token })).status).toBe(200));
    const secretRes = await kubeRequest(secrets(), { token });
    expect(secretRes.status).toBe(403);
  });

  it('lets a ServiceAccount impersonate a user only within what that user is bound to', async () => {
    const sa = 'impersonator';
    const user = uniqueName('alice');
    const token = await serviceAccountToken(ns.name, sa);
    await applyYaml(
      `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ${ns.name}-impersonate-${user} }
rules:
- { apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [${user}] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${ns.name}-impersonate-${user} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${ns.name}-impersonate-${user} }
subjects: [{ kind: ServiceAccount, name: ${sa}, namespace: ${ns.name} }]`,
    );
    const asUser = { token, headers: { 'Impersonate-User': user } };

    // The impersonator itself may not list pods, and the user has no binding yet.
    expect((await kubeRequest(pods(), { token })).status).toBe(403);
    await eventually(async () => {
      const res = await kubeRequest(pods(), asUser);
      expect(res.status).toBe(403);
      expect(res.json().message).toContain(`User "${user}" cannot list resource "pods"`);
    });

    await applyYaml(
      `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: ${user}-view }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: User, name: ${user}, apiGroup: rbac.authorization.k8s.io }]`,
      { namespace: ns.name },
    );
    await eventually(async () => expect((await kubeRequest(pods(), asUser)).status).toBe(200));

    // resourceNames pins the impersonation right to that one user.
    const other = await kubeRequest(pods(), { token, headers: { 'Impersonate-User': `${user}-other` } });
    expect(other.status).toBe(403);
    expect(other.json().message).toMatch(/cannot impersonate/);
  });

  it('refuses impersonation by a ServiceAccount without the impersonate verb', async () => {
    const token = await serviceAccountToken(ns.name, 'plain');
    const res = await kubeRequest(pods(), { token, headers: { 'Impersonate-User': 'someone' } });
    expect(res.status).toBe(403);
    // v1.36 checks constrained impersonation (impersonate-on:user-info:<verb>)
    // first and falls back to the legacy verb; both refuse here.
    expect(res.json().message).toMatch(/cannot impersonate/);
  });

  it('answers the built kubectl with the admin kubeconfig', async () => {
    const res = await kubectl(['get', 'namespace', ns.name, '-o', 'jsonpath={.metadata.name}']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(ns.name);
  });
});

