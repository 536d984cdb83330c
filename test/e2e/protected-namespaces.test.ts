import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayRequest } from '../support/relay-client.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, kubeRequest, serviceAccountToken, uniqueName } from '../support/kube.js';

type Mode = 'read-write' | 'full';
const MODES: readonly Mode[] = ['read-write', 'full'];

/**
 * Protected namespaces on the real path: the real server, one agent per
 * writing mode (each as its chart's ServiceAccount with the chart's RBAC and
 * default values), the admin tier bound to `cluster-admin` by the chart, so
 * the API server itself would allow every write below. The agent refuses the ones
 * in kube-system, kube-public, kube-node-lease and its own namespace.
 */
describe('protected namespaces through a writing agent', () => {
  let server: TestServer;
  let ca: string;
  let work: Awaited<ReturnType<typeof createNamespace>>;
  let admin: string;
  const agents: TestAgent[] = [];
  const clusters: Record<Mode, string> = { 'read-write': uniqueName('pn-rw'), full: uniqueName('pn-full') };
  const own = {} as Record<Mode, string>;

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    work = await createNamespace();
    for (const mode of MODES) {
      const { token } = await addCluster(server, clusters[mode]);
      const agentNs = await createNamespace();
      own[mode] = agentNs.name;
      agents.push(await deployAgent({ namespace: agentNs.name, server, token, values: { mode, set: ['tierBindings.enabled=true', 'tierBindings.roles.admin=cluster-admin'] } }));
    }
    const res = await server.cli(['token', 'create', '--user', 'root-ish', '--group', 'idp-admin', '-o', 'json']);
    if (res.code !== 0) throw new Error(`hawser token create failed: ${res.stderr}`);
    admin = (JSON.parse(res.stdout) as { token: string }).token;
    for (const agent of agents) {
      await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    }
  });
  afterAll(async () => {
    for (const agent of agents) await agent.remove();
    await server?.remove();
    await work?.remove();
  });

  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pn' }, data: { a: 'b' } };
  const refusedCases: { name: string; method: string; path: (mode: Mode) => string; body?: unknown }[] = [
    { name: 'create a ConfigMap in kube-system', method: 'POST', path: () => '/api/v1/namespaces/kube-system/configmaps?dryRun=All', body: configMap },
    { name: 'delete the ConfigMaps of kube-public', method: 'DELETE', path: () => '/api/v1/namespaces/kube-public/configmaps?dryRun=All' },
    { name: 'patch a Lease in kube-node-lease', method: 'PATCH', path: () => '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/l?dryRun=All', body: {} },
    { name: "update the agent's own state Secret", method: 'PUT', path: (m) => `/api/v1/namespaces/${own[m]}/secrets/hawser-agent-state?dryRun=All`, body: {} },
    { name: 'delete namespace kube-system', method: 'DELETE', path: () => '/api/v1/namespaces/kube-system?dryRun=All' },
    { name: "delete the agent's own namespace", method: 'DELETE', path: (m) => `/api/v1/namespaces/${own[m]}?dryRun=All` },
    { name: 'finalize namespace kube-public', method: 'PUT', path: () => '/api/v1/namespaces/kube-public/finalize', body: {} },
    { name: 'delete every namespace at once', method: 'DELETE', path: () => '/api/v1/namespaces?dryRun=All' },
    { name: 'exec in kube-system', method: 'POST', path: () => '/api/v1/namespaces/kube-system/pods/p/exec?command=sh&stdout=true' },
    { name: 'port-forward in kube-system', method: 'POST', path: () => '/api/v1/namespaces/kube-system/pods/p/portforward?ports=80' },
  ];

  for (const mode of MODES) {
    for (const c of refusedCases) {
      it(`${mode} agent refuses to ${c.name}: 403 naming the rule protected-namespace (HAG_ERR_PROTECTED_NAMESPACE)`, async () => {
        const res = await relay(clusters[mode], c.path(mode), { token: admin, method: c.method, ...(c.body ? { body: c.body } : {}) });
        expect(res.status, res.body).toBe(403);
        expect(res.headers['x-hawser-error']).toBe('HAG_ERR_PROTECTED_NAMESPACE');
        expect(res.json).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403 });
        expect(res.json.message).toMatch(/hawser-agent policy refused this request \(rule protected-namespace\)/);
        const causes = (res.json.details as { causes: { reason: string }[] }).causes.map((x) => x.reason);
        expect(causes).toEqual(['HAG_ERR_PROTECTED_NAMESPACE', 'protected-namespace']);
      });
    }

    it(`${mode} agent still reads protected namespaces: list ConfigMaps in kube-system, get namespace kube-system`, async () => {
      expect((await relay(clusters[mode], '/api/v1/namespaces/kube-system/configmaps', { token: admin })).status).toBe(200);
      expect((await relay(clusters[mode], '/api/v1/namespaces/kube-system', { token: admin })).status).toBe(200);
      expect((await relay(clusters[mode], `/api/v1/namespaces/${own[mode]}/serviceaccounts`, { token: admin })).status).toBe(200);
    });

    it(`${mode} agent writes outside them as before: create a ConfigMap, delete a namespace (dry run)`, async () => {
      const created = await relay(clusters[mode], `/api/v1/namespaces/${work.name}/configmaps?dryRun=All`, { token: admin, method: 'POST', body: configMap });
      expect(created.status, created.body).toBe(201);
      const deleted = await relay(clusters[mode], `/api/v1/namespaces/${work.name}?dryRun=All`, { token: admin, method: 'DELETE' });
      expect(deleted.status, deleted.body).toBe(200);
    });
  }

  describe("the chart's admission policy, with the agent's own check bypassed (its ServiceAccount impersonating directly)", () => {
    const as = { 'impersonate-user': 'hawser:mallory', 'impersonate-group': 'hawser:tier:admin' };
    const direct = async (path: string, method: string, body?: unknown) =>
      kubeRequest(path, {
        token: await serviceAccountToken(own.full, 'hawser-agent', { create: false }),
        method,
        headers: { ...as, ...(method === 'PATCH' ? { 'content-type': 'application/merge-patch+json' } : {}) },
        ...(body ? { body } : {}),
      });
    const refusedByPolicy = (res: { status: number; body: string }) => {
      expect(res.status, res.body).toBe(403);
      expect(res.body, res.body).toContain('protected-namespace-policy');
      expect(res.body).toContain('rule protected-namespace');
    };

    it('refuses a write in kube-system, naming the policy', async () => {
      await eventually(async () => refusedByPolicy(await direct('/api/v1/namespaces/kube-system/configmaps?dryRun=All', 'POST', configMap)));
    });

    // (Deleting kube-system itself the API server refuses anyway: NamespaceLifecycle.)
    it("refuses deleting the agent's own namespace and relabelling namespace kube-system", async () => {
      await eventually(async () => refusedByPolicy(await direct(`/api/v1/namespaces/${own.full}?dryRun=All`, 'DELETE')));
      refusedByPolicy(await direct('/api/v1/namespaces/kube-system?dryRun=All', 'PATCH', { metadata: { labels: { owned: 'mallory' } } }));
    });

    it('refuses exec in kube-system (CONNECT)', async () => {
      await eventually(async () => refusedByPolicy(await direct('/api/v1/namespaces/kube-system/pods/p/exec?command=sh&stdout=true', 'POST')));
    });

    it('still lets the same identity read kube-system and write elsewhere', async () => {
      await eventually(async () => expect((await direct(`/api/v1/namespaces/${work.name}/configmaps?dryRun=All`, 'POST', configMap)).status).toBe(201));
      expect((await direct('/api/v1/namespaces/kube-system/configmaps', 'GET')).status).toBe(200);
    });
  });

  function relay(cluster: string, path: string, opts: { token: string; method?: string; body?: unknown }) {
    return relayRequest(new URL(`/clusters/${cluster}${path}`, server.publicUrl), ca, opts);
  }
});
