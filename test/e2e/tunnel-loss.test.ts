import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, uniqueName } from '../support/kube.js';

/**
 * What an operator sees when the tunnel goes away under them: a watch that
 * ends cleanly (so informers re-list), a 503 with Retry-After for new
 * requests, never a hang; and working requests once the agent is back.
 */
describe('losing the tunnel mid-request', () => {
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let token: string;
  let ca: string;
  const cluster = uniqueName('loss');

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'read=idp-read'] });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    ns = await createNamespace();
    const { token: bootstrap } = await addCluster(server, cluster);
    agent = await deployAgent({ namespace: ns.name, server, token: bootstrap, values: { set: ['tierBindings.enabled=true'] } });
    const created = await server.cli(['token', 'create', '--user', 'op', '--group', 'idp-read', '-o', 'json']);
    token = (JSON.parse(created.stdout) as { token: string }).token;
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  /** Starts a request and reports how it ended: status, body, and whether the body ended cleanly. */
  function call(path: string, onResponse?: (status: number) => void) {
    return new Promise<{ status: number; headers: Record<string, unknown>; body: string; ended: 'clean' | 'aborted'; ms: number }>((resolve, reject) => {
      const started = Date.now();
      const req = request(new URL(`/clusters/${cluster}${path}`, server.publicUrl), { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        onResponse?.(res.statusCode ?? 0);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ended: 'clean', ms: Date.now() - started }));
        res.on('aborted', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ended: 'aborted', ms: Date.now() - started }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ended: 'aborted', ms: Date.now() - started }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('ends a watch cleanly when the agent dies, then answers 503 with Retry-After', async () => {
    // The API server sends a watch's headers once the watch runs; through
    // the tunnel they prove the stream is open end to end.
    let watching!: (status: number) => void;
    const headers = new Promise<number>((resolve) => (watching = resolve));
    const watch = call(`/api/v1/namespaces/${ns.name}/configmaps?watch=true`, watching);
    expect(await headers).toBe(200);
    await agent.kill();
    const ended = await watch;
    expect(ended.status).toBe(200);
    expect(ended.ended).toBe('clean');
    expect(ended.ms).toBeLessThan(5000);

    const refused = await eventually(async () => {
      const res = await call(`/api/v1/namespaces/${ns.name}/pods`);
      expect(res.status).toBe(503);
      return res;
    });
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body)).toMatchObject({ kind: 'Status', code: 503, message: expect.stringMatching(new RegExp(`cluster "${cluster}" is not connected \\(last seen `)) });
  });

  it('serves requests again once the agent reconnects', async () => {
    agent = await agent.restart();
    await eventually(async () => expect((await call(`/api/v1/namespaces/${ns.name}/pods`)).status).toBe(200), 30_000);
  });

  it('answers a request in flight to a frozen agent with 503 once the heartbeat gives up, never a hang', async () => {
    process.kill(agent.process.child.pid!, 'SIGSTOP');
    try {
      const res = await call(`/api/v1/namespaces/${ns.name}/pods`);
      expect(res.status).toBe(503);
      // Detected by the heartbeat (15 s by default), not by a TCP timeout.
      expect(res.ms).toBeLessThan(25_000);
    } finally {
      process.kill(agent.process.child.pid!, 'SIGCONT');
    }
    await eventually(async () => expect((await call(`/api/v1/namespaces/${ns.name}/pods`)).status).toBe(200), 45_000);
  }, 90_000);
});
