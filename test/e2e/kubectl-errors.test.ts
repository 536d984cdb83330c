import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary } from '../controlplane/binaries.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, kubectl, uniqueName } from '../support/kube.js';

/**
 * What real kubectl prints when something goes wrong through Hawser: the
 * real server, real agents as their chart's ServiceAccounts and the real API
 * server. Each case pins the exact line, so Hawser's own sentence (and not
 * a generic client-go one) reaches the operator.
 */
describe('kubectl through Hawser says why when something goes wrong', () => {
  let server: TestServer;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const agents: TestAgent[] = [];
  const clusters = { ro: uniqueName('ro'), drop: uniqueName('drop'), gone: uniqueName('gone') };
  let tokens: { admin: string; none: string };
  let kubeconfig: string;

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    ns = await createNamespace();
    for (const name of [clusters.ro, clusters.drop]) {
      const { token } = await addCluster(server, name);
      const agentNs = await createNamespace();
      agents.push(await deployAgent({ namespace: agentNs.name, server, token, values: { mode: 'read-only', set: ['tierBindings.enabled=true'] } }));
    }
    // Registered, and its agent never connects.
    await addCluster(server, clusters.gone);
    tokens = { admin: await apiToken(server, 'alice', 'idp-admin'), none: await apiToken(server, 'bob', 'idp-nothing') };
    kubeconfig = join(server.dataDir, 'operator.kubeconfig');
    const res = await server.cli(['kubeconfig', clusters.ro, clusters.drop, clusters.gone, '--token', tokens.admin, '--output', kubeconfig, '--context-prefix', '']);
    expect(res.code, res.stderr).toBe(0);
    for (const agent of agents) {
      await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    }
  });
  afterAll(async () => {
    for (const agent of agents) await agent.remove();
    await server?.remove();
    await ns?.remove();
  });

  // A fresh discovery cache for every run: kubectl then always discovers
  // first, as it does the first time an operator uses a context.
  const k = async (cluster: string, args: string[]) => {
    const cache = await mkdtemp(join(tmpdir(), 'kubectl-cache-'));
    try {
      return await kubectl(['--context', cluster, '--cache-dir', cache, ...args], { kubeconfig });
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  };
  /** What kubectl printed on stderr for the operator, without client-go's log lines. */
  const line = (stderr: string) => stderr.trim().split('\n').filter((l) => !/^[EWIF]\d{4} /.test(l)).join('\n');

  // kubectl discovers first, and client-go reads discovery errors without
  // their Status (only a generic sentence per HTTP code): Hawser's sentence
  // reaches the operator there as a Warning header, which kubectl prints.
  const generic = {
    400: 'Error from server (BadRequest): the server rejected our request for an unknown reason',
    401: 'error: You must be logged in to the server (the server has asked for the client to provide credentials)',
    403: 'Error from server (Forbidden): unknown',
    404: 'Error from server (NotFound): the server could not find the requested resource',
    503: 'Error from server (ServiceUnavailable): the server is currently unable to handle the request',
  } as const;

  it('prints "not connected" at once for a cluster whose agent never connected', async () => {
    const sentence = `cluster "${clusters.gone}" is not connected (never connected)`;
    const started = performance.now();
    const res = await k(clusters.gone, ['get', 'pods', '-n', 'default']);
    expect((performance.now() - started) / 1000).toBeLessThan(5);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(`Warning: ${sentence}\n${generic[503]}`);
    const raw = await k(clusters.gone, ['get', '--raw', '/api/v1/namespaces/default/pods']);
    expect(line(raw.stderr)).toBe(`Error from server (ServiceUnavailable): ${sentence}`);
  });

  it('prints why a token is rejected', async () => {
    const sentence = 'Hawser did not accept the bearer token: present a valid OIDC ID token or Hawser API token';
    const res = await k(clusters.ro, ['get', 'pods', '-n', 'default', '--token', 'hwt_forged']);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(`Warning: ${sentence}\n${generic[401]}`);
    const raw = await k(clusters.ro, ['get', '--raw', '/api/v1/namespaces/default/pods', '--token', 'hwt_forged']);
    expect(line(raw.stderr)).toBe(`error: You must be logged in to the server (${sentence})`);
  });

  it('prints why a user in no tier is refused', async () => {
    const sentence = 'Hawser refused this request: user "bob" is in no group that maps to a Hawser tier';
    const res = await k(clusters.ro, ['get', 'pods', '-n', 'default', '--token', tokens.none]);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(`Warning: ${sentence}\n${generic[403]}`);
    const raw = await k(clusters.ro, ['get', '--raw', '/api/v1/namespaces/default/pods', '--token', tokens.none]);
    expect(line(raw.stderr)).toBe(`Error from server (Forbidden): ${sentence}`);
  });

  it('prints that an unknown cluster is not registered', async () => {
    const sentence = 'cluster "no-such-cluster" is not registered with Hawser';
    const res = await k(clusters.ro, ['--server', `${server.publicUrl}/clusters/no-such-cluster`, 'get', 'pods', '-n', 'default']);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(`Warning: ${sentence}\n${generic[404]}`);
    const raw = await k(clusters.ro, ['--server', `${server.publicUrl}/clusters/no-such-cluster`, 'get', '--raw', '/api/v1/namespaces/default/pods']);
    expect(line(raw.stderr)).toBe(`Error from server (NotFound): ${sentence}`);
  });

  it('prints where Kubernetes paths go for a path outside /clusters/NAME', async () => {
    const res = await k(clusters.ro, ['--server', server.publicUrl, 'get', 'pods', '-n', 'default']);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(
      [
        'Warning: Hawser has no route GET /api; Kubernetes API paths go under /clusters/NAME/',
        'Warning: Hawser has no route GET /apis; Kubernetes API paths go under /clusters/NAME/',
        generic[404],
      ].join('\n'),
    );
    const raw = await k(clusters.ro, ['--server', server.publicUrl, 'get', '--raw', '/api/v1/namespaces']);
    expect(line(raw.stderr)).toBe('Error from server (NotFound): Hawser has no route GET /api/v1/namespaces; Kubernetes API paths go under /clusters/NAME/');
  });

  it('refuses --as and --as-group, naming who the request would have run as', async () => {
    const sentence =
      'Hawser does not pass client impersonation (Impersonate-User, Impersonate-Group; kubectl --as/--as-group/--as-uid): this request would have run as "hawser:alice" in groups hawser:tier:admin';
    const res = await k(clusters.ro, ['get', 'pods', '-n', 'default', '--as', 'system:admin', '--as-group', 'system:masters']);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(`Warning: ${sentence}\n${generic[400]}`);
    const raw = await k(clusters.ro, ['get', '--raw', '/api/v1/namespaces/default/pods', '--as', 'system:admin']);
    expect(line(raw.stderr)).toBe(`Error from server (BadRequest): ${sentence.replace('Impersonate-User, Impersonate-Group', 'Impersonate-User')}`);
  });

  it('reads the API server health endpoints as directly', async () => {
    // (Their sub-paths, such as /readyz/ping, are granted through the agent
    // too, but the API server's system:public-info-viewer lets users read
    // only the three themselves.)
    for (const path of ['/readyz', '/livez', '/healthz']) {
      const res = await k(clusters.ro, ['get', '--raw', path]);
      expect(res.stderr, path).toBe('');
      expect(res.stdout.trim(), path).toBe('ok');
    }
    const verbose = await k(clusters.ro, ['get', '--raw', '/readyz?verbose']);
    expect(verbose.stdout).toContain('readyz check passed');
  });

  it("prints the read-only agent's sentence for a write", async () => {
    const res = await k(clusters.ro, ['create', 'configmap', 'x', '-n', ns.name]);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(
      "error: failed to create configmap: hawser-agent policy refused this request (rule verb-ceiling): create is above this agent's ceiling (mode read-only allows get, list, watch)",
    );
  });

  it("prints what the agent's chart does not allow when the API server refuses the agent's own rights", async () => {
    const res = await k(clusters.ro, ['get', '--raw', '/metrics']);
    expect(res.code).toBe(1);
    expect(line(res.stderr)).toBe(
      `Error from server (Forbidden): hawser-agent's chart does not let operators get path "/metrics" through Hawser (only discovery, /version, /openapi and the health endpoints are granted): the API server refused the agent's ServiceAccount system:serviceaccount:${agents[0]!.namespace}:hawser-agent "impersonate-on:user-info:get" on path "/metrics"`,
    );
  });

  it('prints why a watch ended when the tunnel drops', async () => {
    const marker = uniqueName('cm');
    await adminCore().createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: marker } } });
    const sentence = `the tunnel to cluster "${clusters.drop}" was lost; the watch ended`;
    const variants = [
      // What an operator types: kubectl prints the ERROR event's Status as a table.
      ['get', 'configmaps', '-n', ns.name, '-w'],
      // The stream itself: one ERROR event with a Status, then the end.
      ['get', '--raw', `/api/v1/namespaces/${ns.name}/configmaps?watch=true`],
    ];
    const runs = await Promise.all(
      variants.map(async (args) => {
        const child = spawn(await binary('kubectl'), ['--kubeconfig', kubeconfig, '--context', clusters.drop, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        const run = { out: '', err: '', child, exited: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
        child.stdout.on('data', (d: Buffer) => (run.out += d));
        child.stderr.on('data', (d: Buffer) => (run.err += d));
        return run;
      }),
    );
    try {
      for (const run of runs) await eventually(async () => expect(run.out).toContain(marker), 10_000);
      // `get -w` prints the list before it opens its watch. A drop in between
      // answers the watch request with 503 + Retry-After, which client-go
      // retries for up to 50 s: a different case. An object created now shows
      // only once both watches are open.
      const second = uniqueName('cm');
      await adminCore().createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: second } } });
      for (const run of runs) await eventually(async () => expect(run.out).toContain(second), 10_000);
      await agents[1]!.kill();
      const [table, raw] = runs as [(typeof runs)[0], (typeof runs)[0]];
      await Promise.all(runs.map((r) => r.exited));
      expect(table.out.trim().split('\n').slice(-2).map((l) => l.replace(/\s+/g, ' '))).toEqual(['STATUS REASON MESSAGE', `Failure ServiceUnavailable ${sentence}`]);
      const last = JSON.parse(raw.out.trim().split('\n').pop()!) as { type: string; object: Record<string, unknown> };
      expect(last).toEqual({
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: sentence,
          reason: 'ServiceUnavailable',
          details: { name: clusters.drop, causes: [{ reason: 'HSR_ERR_RELAY_TUNNEL_LOST', message: sentence }] },
          code: 503,
        },
      });
    } finally {
      for (const run of runs) run.child.kill();
    }
  });
});

async function apiToken(server: TestServer, user: string, group: string): Promise<string> {
  const res = await server.cli(['token', 'create', '--user', user, '--group', group, '-o', 'json']);
  if (res.code !== 0) throw new Error(`hawser token create failed: ${res.stderr}`);
  return (JSON.parse(res.stdout) as { token: string }).token;
}
