import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createCertificate } from '../controlplane/pki.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { until } from '../support/eventually.js';
import { adminCore, createNamespace, kubeRequest, serviceAccountToken, uniqueName } from '../support/kube.js';

// Registration and identity end to end: the real hawser server, the real
// hawser-agent process running as the chart's ServiceAccount against the
// real API server, and the chart's RBAC deciding what that identity may do.
describe('registering a cluster', () => {
  let server: TestServer;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let agent: TestAgent;
  const cluster = uniqueName('reg');
  let token: string;

  beforeAll(async () => {
    server = await startServer();
    ns = await createNamespace();
    ({ token } = await addCluster(server, cluster));
    agent = await deployAgent({ namespace: ns.name, server, token });
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  async function stateSecret(): Promise<Record<string, string>> {
    const secret = await adminCore().readNamespacedSecret({ name: 'hawser-agent-state', namespace: ns.name });
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  }

  async function listed(): Promise<{ name: string; status: string; agentVersion?: string | null; kubernetesVersion?: string | null }> {
    const res = await server.cli(['cluster', 'list', '-o', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { clusters?: unknown[] } | unknown[];
    const rows = (Array.isArray(out) ? out : out.clusters ?? []) as { name: string; status: string }[];
    const row = rows.find((r) => r.name === cluster);
    if (!row) throw new Error(`${cluster} not listed: ${res.stdout}`);
    return row;
  }

  it('registers with the token, keeps its identity in the state Secret, and connects', async () => {
    await eventually(async () => expect((await agentReadiness(agent)).body).toMatchObject({ ready: true, status: 'connected' }), 30_000);
    const state = await stateSecret();
    expect(state['tls.crt']).toMatch(/BEGIN CERTIFICATE/);
    expect(state['tls.key']).toMatch(/BEGIN PRIVATE KEY/);
    const cert = new X509Certificate(state['tls.crt']!);
    expect(cert.subject).toContain(`CN=${state['cluster-id']}`);
    await eventually(async () => expect(await listed()).toMatchObject({ status: 'connected', kubernetesVersion: expect.stringMatching(/^v1\./) }));
  });

  it('gives the agent no Secret but its own state Secret (403 from the API server)', async () => {
    await adminCore().createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'other' }, stringData: { a: 'b' } } });
    const token = await serviceAccountToken(ns.name, 'hawser-agent', { create: false });
    const other = await kubeRequest(`/api/v1/namespaces/${ns.name}/secrets/other`, { token });
    expect(other.status).toBe(403);
    const list = await kubeRequest(`/api/v1/namespaces/${ns.name}/secrets`, { token });
    expect(list.status).toBe(403);
    const own = await kubeRequest(`/api/v1/namespaces/${ns.name}/secrets/hawser-agent-state`, { token });
    expect(own.status).toBe(200);
  });

  it('reconnects after an agent restart with its stored identity and no token', async () => {
    await agent.kill();
    agent = await agent.restart();
    await agent.process.waitForLog((e) => e.msg === 'using stored identity');
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });

  it('reconnects after a server restart, with nothing lost from the store', async () => {
    await server.stop();
    await eventually(async () => expect((await agentReadiness(agent)).body.ready).toBe(false), 20_000);
    server = await server.restart();
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 45_000);
    expect((await listed()).status).toBe('connected');
  });

  it('refuses a replayed token and an expired token with one generic message', async () => {
    const replay = await postRegister(server, token);
    expect(replay.status).toBe(401);
    const { token: shortLived } = await addCluster(server, uniqueName('exp'), ['--token-ttl', '1s']);
    // The server compares whole seconds with the token's exp claim: wait for
    // exactly that moment rather than a fixed 2 s.
    const { exp } = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()) as { exp: number };
    expect(exp * 1000 - Date.now()).toBeLessThanOrEqual(1000);
    await until(() => Date.now() >= exp * 1000, 'the short-lived token has expired', 5000, 20);
    const expired = await postRegister(server, shortLived);
    expect(expired.status).toBe(401);
    // One generic message to the caller...
    const generic = (b: unknown) => ({ ...(b as { error: Record<string, unknown> }).error, requestId: undefined });
    expect(generic(expired.body)).toEqual(generic(replay.body));
    // ...and the specific reason in the server's audit log.
    const refusals = () =>
      server.process.lines
        .filter((l) => l.includes('"token.refused"'))
        .map((l) => (JSON.parse(l) as { audit: { reason: string } }).audit.reason);
    await eventually(async () => expect(refusals()).toEqual(expect.arrayContaining(['replayed', 'expired'])));
  });

  it('refuses a client certificate from another CA and an expired one of ours', async () => {
    const state = await stateSecret();
    const foreignCa = createCertificate({ subject: { cn: 'evil-ca' }, ca: true });
    const foreign = createCertificate({ subject: { cn: state['cluster-id']! }, issuer: foreignCa, client: true });
    expect(await tryTunnel(server, foreign.cert, foreign.key)).toMatch(/^refused (401|403)/);

    const ourCa = { cert: await readFile(join(server.dataDir, 'ca.crt'), 'utf8'), key: await readFile(join(server.dataDir, 'ca.key'), 'utf8') };
    const expired = signExpired(ourCa, state['cluster-id']!);
    expect(await tryTunnel(server, expired.cert, expired.key)).toMatch(/^refused (401|403)/);
    // The agent's own certificate still works.
    expect(await tryTunnel(server, state['tls.crt']!, state['tls.key']!)).toBe('open');
  });

  it('cuts the tunnel within a second on cluster rm, tells the agent why, and refuses the old certificate', async () => {
    const state = await stateSecret();
    const before = Date.now();
    const rm = await server.cli(['cluster', 'rm', cluster]);
    expect(rm.code, rm.stderr).toBe(0);
    const entry = await agent.process.waitForLog((e) => e.msg === 'the server closed the tunnel: cluster deregistered', 5000);
    expect(Date.parse(String(entry.time)) - before).toBeLessThan(1000 + 500 /* CLI process start-up */);
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('deregistered'));
    expect(await tryTunnel(server, state['tls.crt']!, state['tls.key']!)).toMatch(/^refused (401|403)/);
    expect((await stateSecret())['deregistered-at']).toBeTruthy();
  });
});

async function postRegister(server: TestServer, token: string): Promise<{ status: number; body: unknown }> {
  const { createKeyAndCsr } = await import('../../packages/agent/src/csr.js');
  const { csr } = createKeyAndCsr('x');
  const ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(new URL('/agent/v1/register', server.agentUrl), { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ token, csr }));
  });
}

/** Opens the agent tunnel endpoint with a client certificate: "open" or "refused <status>". */
async function tryTunnel(server: TestServer, cert: string, key: string): Promise<string> {
  const ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
  const url = new URL('/agent/v1/tunnel', server.agentUrl);
  url.protocol = 'wss:';
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ca, cert, key });
    ws.on('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(`refused ${res.statusCode}`);
      res.resume();
    });
    ws.on('error', (err) => resolve(`error ${err.message}`));
  });
}

function signExpired(ca: { cert: string; key: string }, clusterId: string): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01' + Date.now().toString(16);
  cert.validity.notBefore = new Date(Date.now() - 3 * 86_400_000);
  cert.validity.notAfter = new Date(Date.now() - 86_400_000);
  cert.setSubject([{ name: 'commonName', value: clusterId }]);
  const issuer = forge.pki.certificateFromPem(ca.cert);
  cert.setIssuer(issuer.subject.attributes);
  cert.setExtensions([{ name: 'extKeyUsage', clientAuth: true }]);
  cert.sign(forge.pki.privateKeyFromPem(ca.key), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}
