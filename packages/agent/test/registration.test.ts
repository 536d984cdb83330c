import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createMemoryTransportPair, Session } from '@hawser/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../../test/support/eventually.js';
import { Agent } from '../src/agent.js';
import { AgentErrorCodes } from '../src/errors.js';
import { DirStateStore } from '../src/dir-state-store.js';
import { register } from '../src/registration.js';
import { discoverServerCA } from '../src/server-connection.js';
import { bootstrapToken, caHash, freePort, LogCapture, tempDir, testConfig, writeKubeconfig } from './support/agent-harness.js';
import { HttpsStub, json, type SeenRequest } from './support/https-stub.js';
import { csrPublicKey, issue, serverPki } from './support/test-pki.js';
import type { ServerResponse } from 'node:http';

const pki = serverPki('Hawser CA');
const noProxy = { noProxy: [] };
const facts = { agentVersion: '0.1.0' };

/** A stub of the server's /agent/v1/register: one valid token, used once. */
function registrar(validToken: string) {
  let used = false;
  return (req: SeenRequest, res: ServerResponse): void => {
    if (req.path !== '/agent/v1/register' || req.method !== 'POST') return json(res, 404, {});
    const { token, csr } = JSON.parse(req.body) as { token: string; csr: string };
    if (token !== validToken || used) return json(res, 401, { error: { code: 'HSR_ERR_TOKEN_INVALID', message: 'the bootstrap token is not valid' } });
    used = true;
    const cert = issue({ cn: 'cluster-1', issuer: pki.ca, client: true, publicKeyPem: csrPublicKey(csr) }).cert;
    json(res, 200, { clusterId: 'cluster-1', clusterName: 'test', certificate: cert, caBundle: [pki.ca.cert], notAfter: new Date(new X509Certificate(cert).validTo).toISOString() });
  };
}

describe('registration against a real HTTPS server on 127.0.0.1', () => {
  let server: HttpsStub;
  const token = 'valid-token';

  beforeEach(async () => {
    // The chain the real server sends: its serving certificate, then its CA.
    server = await HttpsStub.start(pki.serving, [pki.serving.cert, pki.ca.cert], registrar(token));
  });
  afterEach(() => server.close());

  it('finds the CA by its pinned public-key hash and registers: the certificate is for the key it generated', async () => {
    const ca = await discoverServerCA(new URL(server.url), caHash(pki.ca), noProxy);
    expect(new X509Certificate(ca).fingerprint256).toBe(new X509Certificate(pki.ca.cert).fingerprint256);
    const state = await register({ serverUrl: server.url, token, serverCA: ca, proxy: noProxy, facts });
    expect(state).toMatchObject({ clusterId: 'cluster-1', clusterName: 'test', serverUrl: server.url, caBundle: [pki.ca.cert] });
    expect(new X509Certificate(state.certificate).checkPrivateKey(createPrivateKey(state.key))).toBe(true);
    const seen = await server.next((r) => r.path === '/agent/v1/register');
    const body = JSON.parse(seen.body) as Record<string, unknown>;
    expect(body).toMatchObject({ token, agentVersion: '0.1.0' });
    expect(body.csr).toMatch(/BEGIN CERTIFICATE REQUEST/);
    // The private key never leaves the agent.
    expect(seen.body).not.toContain('PRIVATE KEY');
    expect(seen.body).toContain('CERTIFICATE REQUEST');
  });

  it('refuses a server whose CA has another public-key hash, before sending it anything', async () => {
    const other = serverPki('Other CA');
    const err = await discoverServerCA(new URL(server.url), caHash(other.ca), noProxy).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: AgentErrorCodes.SERVER_CA_MISMATCH });
    expect((err as Error).message).toMatch(/did not present a CA with public-key hash sha256:[0-9a-f]{64}/);
    expect(server.seen).toHaveLength(0);
  });

  it('refuses a server that presents the pinned CA but a serving certificate from another CA', async () => {
    const intruder = serverPki('Intruder CA');
    const impostor = await HttpsStub.start(intruder.serving, [intruder.serving.cert, pki.ca.cert], registrar(token));
    try {
      const err = await discoverServerCA(new URL(impostor.url), caHash(pki.ca), noProxy).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: AgentErrorCodes.SERVER_CA_MISMATCH });
    } finally {
      await impostor.close();
    }
  });

  it('will not register with a server the pinned CA did not issue, even when asked to', async () => {
    const intruder = serverPki('Intruder CA');
    const impostor = await HttpsStub.start(intruder.serving, [intruder.serving.cert], registrar(token));
    try {
      const err = await register({ serverUrl: impostor.url, token, serverCA: pki.ca.cert, proxy: noProxy, facts }).catch((e: unknown) => e);
      // Named as such since CA rotation: the message says what to do when the CA was retired.
      expect(err).toMatchObject({ code: AgentErrorCodes.SERVER_UNTRUSTED });
      expect(impostor.seen).toHaveLength(0);
    } finally {
      await impostor.close();
    }
  });

  it('reports a token the server refuses with the server\'s message', async () => {
    const err = await register({ serverUrl: server.url, token: 'replayed-token', serverCA: pki.ca.cert, proxy: noProxy, facts }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: AgentErrorCodes.REGISTRATION_REFUSED });
    expect((err as Error).message).toBe(
      '/agent/v1/register answered 401: the bootstrap token is not valid (HSR_ERR_TOKEN_INVALID); mint a new bootstrap token with "hawser cluster token NAME" and install it (chart value bootstrap.token)',
    );
  });

  it('reports a deregistered cluster (410) as DEREGISTERED', async () => {
    server.handler = (_req, res) => json(res, 410, { error: { code: 'HSR_ERR_CLUSTER_DEREGISTERED', message: 'cluster removed' } });
    const err = await register({ serverUrl: server.url, token, serverCA: pki.ca.cert, proxy: noProxy, facts }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: AgentErrorCodes.DEREGISTERED });
  });

  it('reports a connection cut mid-request as a clear error, and the next attempt registers', async () => {
    const answer = registrar(token);
    let cut = true;
    server.handler = (req, res) => {
      if (cut) {
        cut = false;
        res.socket?.destroy();
        return;
      }
      answer(req, res);
    };
    const err = await register({ serverUrl: server.url, token, serverCA: pki.ca.cert, proxy: noProxy, facts }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: AgentErrorCodes.SERVER_UNREACHABLE });
    expect((err as Error).message).toMatch(/^cannot reach the Hawser server at 127\.0\.0\.1:\d+ \((socket hang up|ECONNRESET)\)/);
    const state = await register({ serverUrl: server.url, token, serverCA: pki.ca.cert, proxy: noProxy, facts });
    expect(state.clusterId).toBe('cluster-1');
  });
});

describe('the agent registering with a bootstrap token', () => {
  let dir: ReturnType<typeof tempDir>;
  let api: HttpsStub;
  let agent: Agent | undefined;

  beforeEach(async () => {
    dir = tempDir();
    api = await HttpsStub.start(pki.serving, [pki.serving.cert], (_req, res) => json(res, 404, {}));
  });
  afterEach(async () => {
    agent?.destroy();
    agent = undefined;
    await api.close();
    dir.remove();
  });

  /** An agent whose tunnels go to in-memory server sessions, counted in `tunnels`. */
  function newAgent(token: string, logs: LogCapture, tunnels: Session[]): Agent {
    const config = testConfig(dir.path, writeKubeconfig(dir.path, api.url, pki.ca.cert), { bootstrapToken: token });
    return new Agent(config, logs.logger, { slowRetryMs: 50, reconnectBaseMs: 10, reconnectMaxMs: 10 }, {
      dialTransport: () => {
        const [agentEnd, serverEnd] = createMemoryTransportPair();
        tunnels.push(new Session(serverEnd, { role: 'server', software: 'hawser-server/test' }));
        return agentEnd;
      },
    });
  }

  it('retries after a transient network error and then registers, stores its identity and connects', async () => {
    // Nothing listens on the token's address at first: connection refused.
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const logs = new LogCapture();
    const tunnels: Session[] = [];
    const token = bootstrapToken({ url, cah: caHash(pki.ca) });
    agent = newAgent(token, logs, tunnels);
    await agent.start();
    expect(agent.health.state.status).toBe('unregistered');
    const failed = await logs.next('cannot connect yet');
    expect(failed.err).toMatch(/ECONNREFUSED/);
    expect(agent.health.state.status).toBe('unregistered');
    expect(tunnels).toHaveLength(0);
    const server = await HttpsStub.startOn(port, pki.serving, [pki.serving.cert, pki.ca.cert], registrar(token));
    try {
      await logs.next('registered');
      await until(() => tunnels.length > 0, 'the agent dials the tunnel');
      await tunnels[0]!.ready;
      await until(() => agent!.health.state.status === 'connected', 'health says connected');
      const stored = await new DirStateStore(`${dir.path}/state`).load();
      expect(stored).toMatchObject({ clusterId: 'cluster-1', serverUrl: url });
      expect(stored!.caBundle.map((c) => new X509Certificate(c).fingerprint256)).toEqual([new X509Certificate(pki.ca.cert).fingerprint256]);
    } finally {
      for (const t of tunnels) t.destroy();
      await server.close();
    }
  }, 20_000);

  it('refuses to register when the server\'s CA does not match the token\'s hash, and says so in health', async () => {
    const server = await HttpsStub.start(pki.serving, [pki.serving.cert, pki.ca.cert], registrar('x'));
    try {
      const logs = new LogCapture();
      const tunnels: Session[] = [];
      agent = newAgent(bootstrapToken({ url: server.url, cah: caHash(serverPki('Other CA').ca) }), logs, tunnels);
      await agent.start();
      expect(agent.health.state).toMatchObject({ ready: false, status: 'unregistered' });
      expect(agent.health.state.detail).toMatch(/did not present a CA with public-key hash/);
      expect((await logs.next('cannot connect')).code).toBe(AgentErrorCodes.SERVER_CA_MISMATCH);
      expect(server.seen).toHaveLength(0);
      expect(tunnels).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
