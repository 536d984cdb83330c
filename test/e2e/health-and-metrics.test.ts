import { request } from 'node:https';
import { dirname } from 'node:path';
import { logLineProblems } from '@hawser/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../controlplane/control-plane.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

/** GET over HTTPS against the test server's own CA (first contact: the CA is in the chain; not verified here). */
function getInsecure(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

const cluster = testCluster();

describe.skipIf(cluster.external)('health and metrics with the real API server', () => {
  let server: TestServer;
  let agent: TestAgent;
  let name: string;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await startServer();
    cleanup.push(() => server.remove());
    const ns = await createNamespace();
    cleanup.push(() => ns.remove());
    name = uniqueName('obs');
    const { token } = await addCluster(server, name);
    agent = await deployAgent({ namespace: ns.name, server, token });
    cleanup.push(() => agent.remove());
    await eventually(async () => expect(await agentReadiness(agent)).toMatchObject({ status: 200, body: { status: 'connected' } }), 30_000);
  });
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it("the agent's /readyz fails with the reason while its API server is down, and passes once it is back", async () => {
    const ready = await agentReadiness(agent);
    expect(ready.body).toMatchObject({ ready: true, apiServer: { reachable: true } });
    const controlPlane = new ControlPlane(dirname(cluster.kubeletClientCaDir!));
    await controlPlane.stopApiServer();
    try {
      const down = await eventually(async () => {
        const r = await agentReadiness(agent);
        expect(r.status).toBe(503);
        return r;
      }, 20_000, 250);
      // The tunnel is still up: only the API server is missing, and it says so.
      expect(down.body).toMatchObject({ ready: false, status: 'connected', apiServer: { reachable: false } });
      expect(down.body.detail).toMatch(/cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
      const live = await fetch(`${agent.healthUrl}/livez`);
      expect(live.status).toBe(200);
    } finally {
      await controlPlane.startApiServer();
    }
    await eventually(async () => expect(await agentReadiness(agent)).toMatchObject({ status: 200, body: { ready: true, apiServer: { reachable: true } } }), 30_000, 250);
  }, 120_000);

  it('the server is ready with its store and shows the cluster connected in its metrics', async () => {
    const ready = await getInsecure(`${server.publicUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ready: true, status: 'ready' });
    expect((await getInsecure(`${server.publicUrl}/livez`)).status).toBe(200);
    const metrics = await getInsecure(`${server.publicUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain(`hawser_cluster_connected{cluster="${name}"} 1`);
    expect(metrics.body).toMatch(new RegExp(`^hawser_cluster_connected_since_seconds\\{cluster="${name}"\\} \\d+`, 'm'));
    expect(metrics.body).toContain('hawser_registrations_total{outcome="registered"} 1');
    expect(metrics.body).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('both binaries wrote every line in the one log schema (JSON: their stdout is not a terminal)', () => {
    for (const [service, lines] of [['hawser-server', server.process.lines], ['hawser-agent', agent.process.lines]] as const) {
      const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(json.length).toBeGreaterThan(3);
      for (const line of json) expect({ line, problems: logLineProblems(line) }).toEqual({ line, problems: [] });
      expect(new Set(json.map((l) => l.service))).toEqual(new Set([service]));
    }
  });
});
