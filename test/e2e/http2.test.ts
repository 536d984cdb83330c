import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentReadiness, clusterWithOperator, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, kubectl, uniqueName } from '../support/kube.js';

/**
 * The operator listener over HTTP/2 with the real server, a real agent as
 * its chart's ServiceAccount and the real API server: kubectl negotiates h2
 * with Hawser as it does with an API server, a hundred watches share one
 * connection, and the admin API answers over both protocols.
 */
describe('the operator listener speaks HTTP/2', () => {
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let ca: string;
  let token: string;
  let kubeconfig: string;
  const cluster = uniqueName('h2');

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    ns = await createNamespace();
    ({ agent, token } = await clusterWithOperator(server, cluster, { user: 'alice', group: 'idp-admin' }));
    kubeconfig = join(server.dataDir, 'operator.kubeconfig');
    const res = await server.cli(['kubeconfig', cluster, '--token', token, '--output', kubeconfig, '--context-prefix', '']);
    expect(res.code, res.stderr).toBe(0);
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  it('is spoken by kubectl, which negotiates h2 with Hawser as with an API server', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'kubectl-cache-'));
    try {
      // Go's HTTP/2 transport logs its frames with http2debug; an HTTP/1.1
      // connection logs none.
      const res = await kubectl(['--context', cluster, '--cache-dir', cache, 'get', 'configmaps', '-n', ns.name], { kubeconfig, env: { GODEBUG: 'http2debug=1' } });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain('http2: Transport creating client conn');
      expect(res.stderr).toMatch(/http2: Transport encoding header ":path" = "\/clusters\//);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  it('carries 100 watches against the real API server over one HTTP/2 connection, each seeing the same event', async () => {
    const url = new URL(server.publicUrl);
    const session = connect(url.origin, { ca });
    session.on('error', () => {});
    try {
      const list = await adminCore().listNamespacedConfigMap({ namespace: ns.name });
      const rv = list.metadata?.resourceVersion ?? '0';
      const path = `/clusters/${cluster}/api/v1/namespaces/${ns.name}/configmaps?watch=1&resourceVersion=${rv}`;
      const watches = await Promise.all(Array.from({ length: 100 }, () => openWatch(session, path, token)));
      for (const w of watches) expect(w.status).toBe(200);
      const marker = uniqueName('cm');
      await adminCore().createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: marker } } });
      await Promise.all(watches.map((w) => eventually(async () => expect(w.text()).toContain(`"name":"${marker}"`), 20_000, 50)));
      // One TLS connection carried them all.
      expect(session.socket.remotePort).toBe(Number(url.port));
      expect(session.state.nextStreamID).toBeGreaterThanOrEqual(201);
      for (const w of watches) w.stream.close();
    } finally {
      session.destroy();
    }
  });

  it('serves the admin API over HTTP/2 and HTTP/1.1 alike', async () => {
    const adminToken = (await readFile(join(server.dataDir, 'admin-token'), 'utf8')).trim();
    const url = new URL(server.publicUrl);
    const session = connect(url.origin, { ca });
    session.on('error', () => {});
    try {
      const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const s = session.request({ ':path': '/api/v1/clusters', authorization: `Bearer ${adminToken}` }, { endStream: true });
        let body = '';
        let status = 0;
        s.on('response', (h) => (status = Number(h[':status'])));
        s.on('data', (d: Buffer) => (body += d.toString()));
        s.on('end', () => resolve({ status, body }));
        s.on('error', reject);
      });
      expect(h2.status, h2.body).toBe(200);
      expect(h2.body).toContain(cluster);
    } finally {
      session.destroy();
    }
    const h1 = await new Promise<{ status: number; version: string; body: string }>((resolve, reject) => {
      const req = httpsRequest(`${server.publicUrl}/api/v1/clusters`, { ca, headers: { authorization: `Bearer ${adminToken}` }, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(h1).toMatchObject({ status: 200, version: '1.1' });
    expect(h1.body).toContain(cluster);
  });
});

interface Watch {
  stream: ClientHttp2Stream;
  status: number;
  text(): string;
}

function openWatch(session: ClientHttp2Session, path: string, token: string): Promise<Watch> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, authorization: `Bearer ${token}` }, { endStream: true });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('error', () => {});
    stream.once('response', (h) => resolve({ stream, status: Number(h[':status']), text: () => body }));
    stream.once('close', () => reject(new Error(`watch closed before a response: ${body}`)));
  });
}
