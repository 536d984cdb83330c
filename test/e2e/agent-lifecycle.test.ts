import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, AGENT_CLI, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, uniqueName } from '../support/kube.js';
import { startProcess } from '../support/processes.js';
import { testCluster } from '../support/test-cluster.js';

async function stateCertificate(namespace: string): Promise<X509Certificate> {
  const secret = await adminCore().readNamespacedSecret({ name: 'hawser-agent-state', namespace });
  return new X509Certificate(Buffer.from(secret.data!['tls.crt']!, 'base64'));
}

describe('the agent over time', () => {
  let server: TestServer;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    // Short-lived certificates, so renewal happens within the test.
    server = await startServer({ args: ['--certificate-ttl', '20s'] });
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await server?.remove();
  });

  async function install(values?: Parameters<typeof deployAgent>[0]['values']): Promise<{ agent: TestAgent; namespace: string }> {
    const ns = await createNamespace();
    cleanup.push(() => ns.remove());
    const { token } = await addCluster(server, uniqueName('life'));
    const agent = await deployAgent({ namespace: ns.name, server, token, ...(values ? { values } : {}) });
    cleanup.push(() => agent.remove());
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    return { agent, namespace: ns.name };
  }

  it('renews its certificate in place before expiry, with the tunnel staying up', async () => {
    const { agent, namespace } = await install();
    const first = await stateCertificate(namespace);
    const renewed = await eventually(async () => {
      const cert = await stateCertificate(namespace);
      expect(cert.serialNumber).not.toBe(first.serialNumber);
      return cert;
    }, 30_000, 500);
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.parse(first.validTo));
    expect(renewed.subject).toBe(first.subject);
    await agent.process.waitForLog((e) => e.msg === 'client certificate renewed');
    expect(agent.process.lines.some((l) => l.includes('"tunnel down"'))).toBe(false);
    expect((await agentReadiness(agent)).body.status).toBe('connected');
    await eventually(async () => expect(server.process.lines.some((l) => l.includes('"certificate.renewed"'))).toBe(true));
  }, 60_000);

  describe('behind an HTTPS proxy', () => {
    let proxy: Server;
    const connects: string[] = [];
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      // A plain CONNECT proxy on loopback that remembers where it was asked to go.
      proxy = createServer((_req, res) => res.writeHead(405).end());
      proxy.on('connect', (req, client: Socket, head: Buffer) => {
        connects.push(req.url ?? '');
        const [host, port] = (req.url ?? '').split(':');
        sockets.add(client);
        const upstream = connect(Number(port), host!, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length) upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        sockets.add(upstream);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    });
    // Tunnelled sockets are no longer the HTTP server's to close.
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => proxy.close(r));
    });

    it('registers and keeps its tunnel through the proxy (CONNECT), the only way out', async () => {
      const port = (proxy.address() as AddressInfo).port;
      await install({ set: [`proxy.https=http://127.0.0.1:${port}`] });
      const agentHost = new URL(server.agentUrl).host;
      // Discovery, registration and the tunnel all went through CONNECT.
      expect(connects.filter((c) => c === agentHost).length).toBeGreaterThanOrEqual(3);
    });
  });
});

describe('the agent outside a cluster (development)', () => {
  it('runs with --kubeconfig and --state-dir, and keeps its identity in the directory', async () => {
    const server = await startServer();
    const dir = await mkdtemp(join(tmpdir(), 'hawser-agent-dev-'));
    const { token } = await addCluster(server, uniqueName('dev'));
    const agent = startProcess(
      process.execPath,
      [AGENT_CLI, '--kubeconfig', testCluster().kubeconfig, '--state-dir', dir, '--token', token, '--health-addr', '127.0.0.1:0'],
      { PATH: process.env.PATH ?? '' },
    );
    try {
      await agent.waitForLog((e) => e.msg === 'tunnel up', 30_000);
      const state = JSON.parse(await readFile(join(dir, 'agent-state.json'), 'utf8')) as Record<string, string>;
      expect(state['tls.crt']).toMatch(/BEGIN CERTIFICATE/);
    } finally {
      await agent.stop();
      await server.remove();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
