import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentChart, applyChart, eventually, render } from '../support/charts.js';
import { applyYaml, createNamespace, kubeRequest, kubectl, serviceAccountToken, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

// Pure Kubernetes: what the API server itself does with impersonation
// (KEP-5284, beta and on by default in v1.36). No Hawser code runs here; the
// constrained rules come from the agent chart, rendered for this cluster.
describe('impersonation on the real API server', () => {
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let boss: string;
  const cleanups: (() => Promise<void>)[] = [];
  const configMaps = () => `/api/v1/namespaces/${ns.name}/configmaps`;
  const deployments = () => `/apis/apps/v1/namespaces/${ns.name}/deployments`;
  const configMap = () => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: uniqueName('cm') }, data: { a: 'b' } });
  const deployment = () => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: uniqueName('deploy') },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image: 'example.invalid/x' }] } },
    },
  });

  beforeAll(async () => {
    ns = await createNamespace();
    boss = uniqueName('hawser:boss');
    // A user bound to admin in the namespace: who the impersonator pretends to be.
    await applyYaml(
      `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: boss-admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin }
subjects:
- { kind: User, name: "${boss}", apiGroup: rbac.authorization.k8s.io }
- { kind: Group, name: "hawser:tier:admin", apiGroup: rbac.authorization.k8s.io }`,
      { namespace: ns.name },
    );
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await ns?.remove();
  });

  /** Binds a ServiceAccount to `view` in the namespace and to the given cluster rules. */
  async function impersonator(sa: string, rules: string, extraClusterRoles: string[] = []): Promise<string> {
    const token = await serviceAccountToken(ns.name, sa);
    const role = `${ns.name}-${sa}`;
    const bindings = [role, ...extraClusterRoles]
      .map(
        (r, i) => `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${role}-${i} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${r} }
subjects: [{ kind: ServiceAccount, name: ${sa}, namespace: ${ns.name} }]`,
      )
      .join('\n');
    await applyYaml(
      `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: ${sa}-view, namespace: ${ns.name} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: ${sa}, namespace: ${ns.name} }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ${role} }
rules:
${rules}
${bindings}`,
    );
    cleanups.push(async () => {
      await kubectl(['delete', 'clusterrole', role, '--ignore-not-found', '--wait=false']);
      for (let i = 0; i <= extraClusterRoles.length; i++) {
        await kubectl(['delete', 'clusterrolebinding', `${role}-${i}`, '--ignore-not-found', '--wait=false']);
      }
    });
    return token;
  }

  const legacyRules = () => `- { apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: ["${boss}"] }`;

  it('lets a read-only ServiceAccount with a plain impersonate grant create objects as an admin user', async () => {
    const token = await impersonator('legacy', legacyRules());
    await eventually(async () => expect((await kubeRequest(configMaps(), { token })).status).toBe(200));
    // Its own role is view: no writes.
    const own = await kubeRequest(configMaps(), { token, method: 'POST', body: configMap() });
    expect(own.status).toBe(403);
    // Impersonation is not capped by the impersonator's RBAC: as the admin it writes.
    const asBoss = { token, headers: { 'Impersonate-User': boss } };
    await eventually(async () => {
      expect((await kubeRequest(configMaps(), { ...asBoss, method: 'POST', body: configMap() })).status).toBe(201);
    });
    expect((await kubeRequest(deployments(), { ...asBoss, method: 'POST', body: deployment() })).status).toBe(201);
  });

  it('checks service-account impersonation under authentication.k8s.io, separately from users', async () => {
    const target = `system:serviceaccount:${ns.name}:legacy`;
    const token = await impersonator(
      'sa-impersonator',
      `- { apiGroups: [authentication.k8s.io], resources: [serviceaccounts], verbs: ["impersonate:serviceaccount"] }
- { apiGroups: [""], resources: [configmaps], verbs: ["impersonate-on:serviceaccount:list"] }
- { apiGroups: [authentication.k8s.io], resources: [users], verbs: ["impersonate:user-info"] }`,
    );
    await eventually(async () => {
      expect((await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': target } })).status).toBe(200);
    });
    // impersonate-on:serviceaccount:list does not cover a plain user...
    const user = await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': boss } });
    expect(user.status).toBe(403);
    expect(user.json().message).toContain('cannot impersonate-on:user-info:list resource "configmaps"');
    // ...and the ceiling holds for the service account too.
    const write = await kubeRequest(configMaps(), { token, method: 'POST', body: configMap(), headers: { 'Impersonate-User': target } });
    expect(write.status).toBe(403);
    expect(write.json().message).toContain('cannot impersonate-on:serviceaccount:create resource "configmaps"');
  });

  describe("with the agent chart's constrained rules (read-only, tier)", () => {
    let token: string;
    let chartRole: string;

    beforeAll(async () => {
      const release = 'ci';
      const { yaml, objects } = await render(agentChart, {
        release,
        namespace: ns.name,
        kubeVersion: testCluster().version ?? '1.36.0',
        values: { 'server.url': 'https://hawser.invalid:8444', 'networkPolicy.enabled': false },
      });
      chartRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name.endsWith('-impersonate'))!.metadata.name;
      expect(yaml).toContain('impersonate-on:user-info:list');
      cleanups.push(await applyChart(yaml, ns.name));
      token = await serviceAccountToken(ns.name, 'hawser-agent', { create: false });
      await eventually(async () => {
        expect((await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': boss } })).status).toBe(200);
      });
    });

    it('lets the agent list as the impersonated admin', async () => {
      const res = await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': boss } });
      expect(res.status).toBe(200);
    });

    it('refuses a write by impersonation in the API server itself, naming the missing verb', async () => {
      const res = await kubeRequest(configMaps(), { token, method: 'POST', body: configMap(), headers: { 'Impersonate-User': boss } });
      expect(res.status).toBe(403);
      expect(res.json().message).toContain('cannot impersonate-on:user-info:create resource "configmaps"');
      const dep = await kubeRequest(deployments(), { token, method: 'POST', body: deployment(), headers: { 'Impersonate-User': boss } });
      expect(dep.status).toBe(403);
      expect(dep.json().message).toContain('cannot impersonate-on:user-info:create resource "deployments" in API group "apps"');
      const del = await kubeRequest(`${configMaps()}/anything`, { token, method: 'DELETE', headers: { 'Impersonate-User': boss } });
      expect(del.status).toBe(403);
      expect(del.json().message).toContain('impersonate-on:user-info:delete');
    });

    it('refuses exec over POST by impersonation (it is create on pods/exec)', async () => {
      const res = await kubeRequest(`/api/v1/namespaces/${ns.name}/pods/nopod/exec?command=true&stdout=true`, {
        token,
        method: 'POST',
        headers: { 'Impersonate-User': boss },
      });
      expect(res.status).toBe(403);
      expect(res.json().message).toContain('cannot impersonate-on:user-info:create resource "pods/exec"');
    });

    it('lets a GET on pods/exec (the WebSocket form) through impersonation, so the agent must refuse exec itself', async () => {
      // RBAC cannot subtract subresources from resources: ["*"]; the API server
      // then checks create on pods/exec for the impersonated user (who is admin
      // here), not for the agent. The missing pod proves authorization passed.
      const res = await kubeRequest(`/api/v1/namespaces/${ns.name}/pods/nopod/exec?command=true&stdout=true`, {
        token,
        headers: { 'Impersonate-User': boss },
      });
      expect(res.status).toBe(404);
    });

    it('lets the agent impersonate the named tier groups and no others', async () => {
      const asTier = await kubeRequest(configMaps(), {
        token,
        headers: { 'Impersonate-User': 'hawser:alice', 'Impersonate-Group': 'hawser:tier:admin' },
      });
      expect(asTier.status).toBe(200);
      const other = await kubeRequest(configMaps(), {
        token,
        headers: { 'Impersonate-User': 'hawser:alice', 'Impersonate-Group': 'hawser:ops' },
      });
      expect(other.status).toBe(403);
      expect(other.json().message).toContain('cannot impersonate:user-info resource "groups" in API group "authentication.k8s.io"');
      const masters = await kubeRequest(configMaps(), {
        token,
        headers: { 'Impersonate-User': 'hawser:alice', 'Impersonate-Group': 'system:masters' },
      });
      expect(masters.status).toBe(403);
      expect(masters.json().message).toContain('impersonating the system:masters group is not allowed');
    });

    it('refuses impersonating service accounts and nodes, which are separate modes', async () => {
      const sa = await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': `system:serviceaccount:${ns.name}:default` } });
      expect(sa.status).toBe(403);
      expect(sa.json().message).toMatch(/cannot impersonate/);
      const node = await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': 'system:node:n1' } });
      expect(node.status).toBe(403);
      expect(node.json().message).toMatch(/cannot impersonate/);
    });

    it("lets the agent attach its request id as the one user extra", async () => {
      const res = await kubeRequest(configMaps(), {
        token,
        headers: { 'Impersonate-User': 'hawser:alice', 'Impersonate-Group': 'hawser:tier:admin', 'Impersonate-Extra-hawser.dev%2frequest-id': '0f1e2d3c' },
      });
      expect(res.status).toBe(200);
    });

    it('lets `kubectl auth can-i` run as the operator, a create that changes nothing', async () => {
      const res = await kubeRequest('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        token,
        method: 'POST',
        headers: { 'Impersonate-User': boss },
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', resource: 'configmaps', namespace: ns.name } } },
      });
      expect(res.status).toBe(201);
      expect((res.json() as { status: { allowed: boolean } }).status.allowed).toBe(true);
    });

    it('refuses Impersonate-Uid and any other Impersonate-Extra, which the chart does not grant', async () => {
      const uid = await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': boss, 'Impersonate-Uid': '1234' } });
      expect(uid.status).toBe(403);
      expect(uid.json().message).toContain('cannot impersonate:user-info resource "uids"');
      const extra = await kubeRequest(configMaps(), { token, headers: { 'Impersonate-User': boss, 'Impersonate-Extra-hawser.dev%2fscopes': 'view' } });
      expect(extra.status).toBe(403);
      expect(extra.json().message).toContain('cannot impersonate:user-info resource "userextras/hawser.dev/scopes"');
    });

    it('lets the public health endpoints run as the impersonated user, and no other non-resource path', async () => {
      for (const path of ['/healthz', '/livez', '/readyz', '/readyz?verbose']) {
        const res = await kubeRequest(path, { token, headers: { 'Impersonate-User': boss } });
        expect(res.status, path).toBe(200);
      }
      const metrics = await kubeRequest('/metrics', { token, headers: { 'Impersonate-User': boss } });
      expect(metrics.status).toBe(403);
      expect(metrics.json().message).toContain('cannot impersonate-on:user-info:get path "/metrics"');
    });

    it('lets discovery and /version run as the impersonated user', async () => {
      for (const path of ['/api', '/apis', '/api/v1', '/apis/apps/v1', '/version']) {
        const res = await kubeRequest(path, { token, headers: { 'Impersonate-User': boss } });
        expect(res.status, path).toBe(200);
      }
    });

    it('lifts the ceiling again when the same account also holds a plain impersonate grant', async () => {
      const both = await impersonator('both', legacyRules(), [chartRole]);
      await eventually(async () => {
        const res = await kubeRequest(configMaps(), { token: both, method: 'POST', body: configMap(), headers: { 'Impersonate-User': boss } });
        expect(res.status).toBe(201);
      });
    });
  });
});
