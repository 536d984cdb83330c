import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, kubectl, uniqueName } from '../support/kube.js';

const TIERS = ['read', 'triage', 'write', 'maintain', 'admin'] as const;
type Tier = (typeof TIERS)[number];

/**
 * Operators through Hawser, end to end: the real server, one real agent per
 * agent mode (each as its chart's ServiceAccount, chart RBAC applied), the
 * real API server deciding inside the agent's ceiling, and kubectl with a
 * kubeconfig that `hawser kubeconfig` wrote.
 */
describe('operators reach clusters through Hawser', () => {
  let server: TestServer;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const agents: TestAgent[] = [];
  const clusters = { 'read-only': uniqueName('ro'), 'read-write': uniqueName('rw') };
  const tokens = {} as Record<Tier | 'none', string>;
  let ca: string;

  beforeAll(async () => {
    server = await startServer({ args: TIERS.flatMap((t) => ['--tier', `${t}=idp-${t}`]) });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    ns = await createNamespace();
    await adminCore().createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'db' }, stringData: { password: 'x' } } });
    await adminCore().createNamespacedPod({
      namespace: ns.name,
      // Bound to a node that does not exist: with no kubelet anywhere, its
      // logs are an error the API server itself produces.
      body: { metadata: { name: 'web' }, spec: { nodeName: 'no-such-node', containers: [{ name: 'web', image: 'registry.invalid/web:1' }] } },
    });
    for (const mode of ['read-only', 'read-write'] as const) {
      const { token } = await addCluster(server, clusters[mode]);
      const agentNs = await createNamespace();
      // Cluster-side RBAC for the tiers (the chart's optional tier bindings):
      // read/triage -> view, write/maintain -> edit, admin -> admin.
      agents.push(await deployAgent({ namespace: agentNs.name, server, token, values: { mode, set: ['tierBindings.enabled=true'] } }));
    }
    for (const tier of TIERS) tokens[tier] = await apiToken(server, `user-${tier}`, `idp-${tier}`);
    tokens.none = await apiToken(server, 'user-none', 'idp-nothing');
    for (const agent of agents) {
      await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    }
  });
  afterAll(async () => {
    for (const agent of agents) await agent.remove();
    await server?.remove();
    await ns?.remove();
  });

  function relay(cluster: string, path: string, opts: { token: string; method?: string; body?: unknown; headers?: Record<string, string> }) {
    return httpsJson(new URL(`/clusters/${cluster}${path}`, server.publicUrl), ca, opts);
  }

  // Expected status per cell: 200/201 = allowed; 'agent' = refused by the
  // agent's policy (403 naming the rule); 'rbac' = refused by the API server.
  type Cell = number | 'agent' | 'rbac';
  const operations: { name: string; method: string; path: () => string; body?: () => unknown; expect: (tier: Tier, mode: 'read-only' | 'read-write') => Cell }[] = [
    { name: 'list pods', method: 'GET', path: () => `/api/v1/namespaces/${ns.name}/pods`, expect: () => 200 },
    { name: 'watch pods', method: 'GET', path: () => `/api/v1/namespaces/${ns.name}/pods?watch=true&timeoutSeconds=1`, expect: () => 200 },
    {
      name: 'get secret',
      method: 'GET',
      path: () => `/api/v1/namespaces/${ns.name}/secrets/db`,
      expect: (tier) => (tier === 'read' || tier === 'triage' ? 'rbac' : 200),
    },
    {
      name: 'create deployment',
      method: 'POST',
      path: () => `/apis/apps/v1/namespaces/${ns.name}/deployments?dryRun=All`,
      body: () => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
      }),
      expect: (tier, mode) => (mode === 'read-only' ? 'agent' : tier === 'read' || tier === 'triage' ? 'rbac' : 201),
    },
    {
      name: 'exec',
      method: 'POST',
      path: () => `/api/v1/namespaces/${ns.name}/pods/web/exec?command=sh&stdout=true`,
      expect: () => 'agent',
    },
  ];

  for (const mode of ['read-only', 'read-write'] as const) {
    for (const tier of TIERS) {
      for (const op of operations) {
        const want = op.expect(tier, mode);
        it(`${mode} agent, tier ${tier}: ${op.name} -> ${want === 'agent' ? '403 by agent policy' : want === 'rbac' ? '403 by the API server' : want}`, async () => {
          const res = await relay(clusters[mode], op.path(), { token: tokens[tier], method: op.method, ...(op.body ? { body: op.body() } : {}) });
          if (want === 'agent') {
            expect(res.status).toBe(403);
            expect(res.json.kind).toBe('Status');
            expect(res.json.message).toMatch(/hawser-agent policy refused this request \(rule (verb-ceiling|exec-attach-port-forward-proxy)\)/);
          } else if (want === 'rbac') {
            expect(res.status).toBe(403);
            // The API server's own Status, unchanged, naming the impersonated user.
            expect(res.json.message).toContain(`User "hawser:user-${tier}" cannot`);
          } else {
            expect(res.status, res.body).toBe(want);
          }
        });
      }
    }
  }

  it('refuses a user with no tier (403 from Hawser)', async () => {
    const res = await relay(clusters['read-write'], `/api/v1/namespaces/${ns.name}/pods`, { token: tokens.none });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ kind: 'Status', reason: 'Forbidden', message: expect.stringContaining('no group that maps to a Hawser tier') });
  });

  it('gives an operator who sends their own Impersonate-User: system:admin nothing: a 400 naming who they are', async () => {
    const res = await relay(clusters['read-write'], `/api/v1/namespaces/${ns.name}/secrets/db`, {
      token: tokens.read,
      headers: { 'Impersonate-User': 'system:admin', 'Impersonate-Group': 'system:masters' },
    });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    expect(res.json.message).toContain('this request would have run as "hawser:user-read"');
  });

  it('answers unknown clusters with 404 and bad tokens with 401, as Status objects', async () => {
    const unknown = await relay('no-such-cluster', '/api/v1/pods', { token: tokens.read });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ kind: 'Status', code: 404, message: 'cluster "no-such-cluster" is not registered with Hawser' });
    const bad = await relay(clusters['read-only'], '/api/v1/pods', { token: 'hwt_forged' });
    expect(bad.status).toBe(401);
    expect(bad.json.kind).toBe('Status');
  });

  it('records every relayed request in the audit, with the request id the cluster sees', async () => {
    const res = await relay(clusters['read-only'], `/api/v1/namespaces/${ns.name}/pods`, { token: tokens.triage });
    expect(res.status).toBe(200);
    const line = await eventually(async () => {
      const found = server.process.lines.find((l) => l.includes('"request.relayed"') && l.includes('"user-triage"'));
      if (!found) throw new Error('no audit line yet');
      return JSON.parse(found) as { audit: { actor: string; requestId: string; details: Record<string, unknown> } };
    });
    expect(line.audit).toMatchObject({
      actor: 'user-triage',
      details: { cluster: clusters['read-only'], tier: 'triage', verb: 'list', resource: 'pods', namespace: ns.name, status: 200 },
    });
    expect(line.audit.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('exposes Prometheus metrics of the relay and the tunnels', async () => {
    const res = await fetchText(new URL('/metrics', server.publicUrl), ca);
    expect(res).toMatch(/^hawser_tunnels_connected 2$/m);
    // Labels also name the cluster (metrics.ts); their order is prom-client's.
    expect(res).toMatch(/^hawser_relay_requests_total\{[^}]*code="200"[^}]*verb="list"[^}]*\} [1-9]\d*$/m);
    expect(res).toMatch(/^hawser_relay_requests_total\{[^}]*code="403"[^}]*verb="create"[^}]*\} [1-9]\d*$/m);
    expect(res).toMatch(/^hawser_relay_request_duration_seconds_count(\{[^}]*\})? [1-9]\d*$/m);
  });

  describe('kubectl with the kubeconfig hawser writes', () => {
    let kubeconfig: string;
    beforeAll(async () => {
      kubeconfig = join(server.dataDir, 'operator.kubeconfig');
      const res = await server.cli(['kubeconfig', clusters['read-only'], clusters['read-write'], '--token', tokens.admin, '--output', kubeconfig, '--context-prefix', '']);
      expect(res.code, res.stderr).toBe(0);
    });
    const k = (cluster: string, args: string[]) => kubectl(['--context', cluster, ...args], { kubeconfig });

    it('applies server-side through a read-write agent, as an operator whose tier allows it', async () => {
      const manifest = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: applied, namespace: ${ns.name} }\ndata: { a: "1" }\n`;
      const res = await kubectl(['--context', clusters['read-write'], 'apply', '--server-side', '--field-manager', 'ops', '-f', '-'], { kubeconfig, input: manifest });
      expect(res.stderr).toBe('');
      expect(res.stdout).toContain('configmap/applied serverside-applied');
      const cm = await adminCore().readNamespacedConfigMap({ name: 'applied', namespace: ns.name });
      expect(cm.metadata?.managedFields?.some((f) => f.manager === 'ops' && f.operation === 'Apply')).toBe(true);
    });

    it('serves discovery and OpenAPI (kubectl explain)', async () => {
      const res = await k(clusters['read-only'], ['explain', 'pod.spec.nodeName']);
      expect(res.stderr).toBe('');
      expect(res.stdout).toMatch(/FIELD:\s+nodeName <string>/);
    });

    it('reads the audit with hawser audit, filtered by cluster, user and time', async () => {
      await k(clusters['read-only'], ['get', 'configmaps', '-n', ns.name]);
      const res = await eventually(async () => {
        const r = await server.cli(['audit', '--cluster', clusters['read-only'], '--user', 'user-admin', '--since', '10m', '--type', 'request.relayed', '-o', 'json']);
        expect(r.code, r.stderr).toBe(0);
        const events = (JSON.parse(r.stdout) as { events: { actor: string; clusterId: string; details: { resource: string; cluster: string } }[] }).events;
        expect(events.some((e) => e.details.resource === 'configmaps')).toBe(true);
        return events;
      });
      expect(new Set(res.map((e) => e.actor))).toEqual(new Set(['user-admin']));
      expect(new Set(res.map((e) => e.details.cluster))).toEqual(new Set([clusters['read-only']]));
      const text = await server.cli(['audit', '--cluster', clusters['read-only'], '--since', '10m']);
      expect(text.stdout).toMatch(/request\.relayed\s+user-admin\s+success\s+.* list configmaps -n /);
    });

    it('lists pods across namespaces', async () => {
      const res = await k(clusters['read-only'], ['get', 'pods', '-A', '-o', 'name']);
      expect(res.stderr).toBe('');
      expect(res.stdout).toContain('pod/web');
    });

    it('prints a clear sentence when the agent refuses a write', async () => {
      const res = await k(clusters['read-only'], ['create', 'configmap', 'x', '-n', ns.name]);
      expect(res.code).not.toBe(0);
      // kubectl create prints the Status message as one line.
      expect(res.stderr).toMatch(/hawser-agent policy refused this request \(rule verb-ceiling\): create is above this agent's ceiling/);
    });

    it('shows the API server\'s own error for logs when no kubelet exists', async () => {
      const res = await k(clusters['read-only'], ['logs', 'web', '-n', ns.name]);
      const direct = await kubectl(['logs', 'web', '-n', ns.name]);
      expect(res.code, `${res.stdout}${res.stderr} / direct: ${direct.stdout}${direct.stderr}`).not.toBe(0);
      expect(direct.stderr).toMatch(/no-such-node/);
      // Same sentence as a direct connection gives, relayed unchanged.
      expect(res.stderr.trim()).toBe(direct.stderr.trim());
    });

    it('answers auth can-i --list as the operator', async () => {
      const res = await k(clusters['read-only'], ['auth', 'can-i', '--list', '-n', ns.name]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/pods\s+\[\]\s+\[\]\s+\[.*get.*\]/);
      // The API server sees the operator, the tier group, and the request id
      // that Hawser's audit records (the cluster's audit log shows the same).
      const whoami = await k(clusters['read-only'], ['auth', 'whoami', '-o', 'json']);
      const info = (JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[]; extra: Record<string, string[]> } } }).status.userInfo;
      expect(info.username).toBe('hawser:user-admin');
      expect(info.groups).toContain('hawser:tier:admin');
      const requestId = info.extra['hawser.dev/request-id']?.[0];
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      await eventually(async () => expect(server.process.lines.some((l) => l.includes('"request.relayed"') && l.includes(requestId!))).toBe(true));
    });

    it('watches and receives events created while it runs', async () => {
      const { spawn } = await import('node:child_process');
      const { binary } = await import('../controlplane/binaries.js');
      // A marker that exists before kubectl starts: once kubectl prints it,
      // its list is done and the watch runs from that list's
      // resourceVersion, so everything created after reaches it, however
      // late the watch request itself arrives.
      const marker = uniqueName('cm-before');
      await adminCore().createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: marker } } });
      const child = spawn(await binary('kubectl'), ['--kubeconfig', kubeconfig, '--context', clusters['read-write'], 'get', 'configmaps', '-n', ns.name, '-w', '-o', 'name'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      try {
        await eventually(async () => expect(out).toContain(`configmap/${marker}`), 10_000);
        const name = uniqueName('cm');
        await adminCore().createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name } } });
        await eventually(async () => expect(out).toContain(`configmap/${name}`), 10_000);
      } finally {
        child.kill();
      }
    });

    it('lists 5,000 objects in chunks', async () => {
      const bulk = await createNamespace();
      try {
        const core = adminCore();
        for (let i = 0; i < 5000; i += 100) {
          await Promise.all(
            Array.from({ length: 100 }, (_, j) => core.createNamespacedConfigMap({ namespace: bulk.name, body: { metadata: { name: `cm-${i + j}` }, data: { v: String(i + j) } } })),
          );
        }
        const res = await k(clusters['read-only'], ['get', 'configmaps', '-n', bulk.name, '--chunk-size', '500', '-o', 'name']);
        expect(res.stderr).toBe('');
        const names = res.stdout.trim().split('\n').filter((l) => l.startsWith('configmap/cm-'));
        expect(names).toHaveLength(5000);
        // The relay saw the continue tokens: ten list requests, not one.
        await eventually(async () => {
          const lists = server.process.lines.filter((l) => l.includes('"request.relayed"') && l.includes(`"namespace":"${bulk.name}"`));
          expect(lists.length).toBeGreaterThanOrEqual(10);
        });
      } finally {
        await bulk.remove();
      }
    }, 180_000);
  });
});

async function apiToken(server: TestServer, user: string, group: string): Promise<string> {
  const res = await server.cli(['token', 'create', '--user', user, '--group', group, '-o', 'json']);
  if (res.code !== 0) throw new Error(`hawser token create failed: ${res.stderr}`);
  return (JSON.parse(res.stdout) as { token: string }).token;
}

function httpsJson(
  url: URL,
  ca: string,
  opts: { token: string; method?: string; body?: unknown; headers?: Record<string, string> },
): Promise<{ status: number; body: string; json: { kind?: string; message?: string; reason?: string; code?: number } & Record<string, unknown> }> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: opts.method ?? 'GET',
      ca,
      headers: {
        authorization: `Bearer ${opts.token}`,
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let json = {};
        try {
          json = JSON.parse(body.split('\n')[0] || '{}');
        } catch {
          // not JSON (a watch stream of several lines is parsed by its first)
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}


function fetchText(url: URL, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}
