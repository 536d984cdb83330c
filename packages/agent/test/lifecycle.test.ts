import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { encodeRequestHead, ResponseHeadReader, STREAM_HEAD_VERSION } from '@hawser/contract';
import { createMemoryTransportPair, Session, type MemoryTransport } from '@hawser/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { until } from '../../../test/support/eventually.js';
import { Agent, type AgentTimings } from '../src/agent.js';
import type { AgentConfig } from '../src/config.js';
import { DirStateStore } from '../src/dir-state-store.js';
import type { AgentState } from '../src/state-store.js';
import { identity, LogCapture, tempDir, testConfig, writeKubeconfig } from './support/agent-harness.js';
import { HttpsStub, json } from './support/https-stub.js';
import { csrPublicKey, issue, serverPki } from './support/test-pki.js';

/** One tunnel the agent dialled: the server's end of the in-memory pair. */
interface Dial {
  url: URL;
  at: number;
  server: Session;
  transport: MemoryTransport;
}

const pki = serverPki();
const HOUR = 3600_000;

/**
 * The agent's life cycle over the in-memory transport: the seam hands the
 * agent one end of a pair per dial and the test plays the server on the
 * other. Kubernetes and the server's HTTPS endpoints are one real HTTPS stub
 * on 127.0.0.1 (the API server for relayed requests, /agent/v1/renew).
 */
describe('agent life cycle', () => {
  let dir: ReturnType<typeof tempDir>;
  let world: HttpsStub;
  let logs: LogCapture;
  let agent: Agent | undefined;
  let dials: Dial[];
  let dialed: (() => void) | undefined;

  beforeEach(async () => {
    dir = tempDir();
    logs = new LogCapture();
    dials = [];
    world = await HttpsStub.start(pki.serving, [pki.serving.cert], (req, res) => {
      if (req.path === '/version') return json(res, 200, { gitVersion: 'v1.35.0' });
      if (req.path === '/api/v1/namespaces/kube-system') return json(res, 200, { metadata: { uid: 'uid-1' } });
      if (req.path.startsWith('/api/v1/namespaces/default/configmaps')) return json(res, 200, { kind: 'ConfigMapList', items: [] });
      json(res, 404, { kind: 'Status', code: 404 });
    }, pki.ca.cert);
  });
  afterEach(async () => {
    agent?.destroy();
    agent = undefined;
    for (const d of dials) d.server.destroy();
    await world.close();
    dir.remove();
  });

  /** The agent dials; `onDial` decides what the server end does with each new session. */
  async function startAgent(
    state: AgentState | undefined,
    opts: { config?: Partial<AgentConfig>; timings?: Partial<AgentTimings>; onDial?: (d: Dial) => void } = {},
  ): Promise<Agent> {
    if (state) await new DirStateStore(`${dir.path}/state`).save(state);
    const config = testConfig(dir.path, writeKubeconfig(dir.path, world.url, pki.ca.cert), opts.config);
    agent = new Agent(config, logs.logger, { reconnectBaseMs: 20, reconnectMaxMs: 80, ...opts.timings }, {
      dialTransport: (url) => {
        const [agentEnd, serverEnd] = createMemoryTransportPair();
        const d: Dial = { url, at: Date.now(), server: new Session(serverEnd, { role: 'server', software: 'hawser-server/test' }), transport: serverEnd };
        dials.push(d);
        opts.onDial?.(d);
        dialed?.();
        return agentEnd;
      },
    });
    await agent.start();
    return agent;
  }

  /** Resolves once the agent has dialled `n` times in all. */
  async function dialCount(n: number): Promise<Dial> {
    while (dials.length < n) await new Promise<void>((resolve) => (dialed = resolve));
    return dials[n - 1]!;
  }

  const status = (): string => agent!.health.state.status;

  it('connects with its stored identity, says who it is in the handshake, and reports ready', async () => {
    await startAgent(identity('https://hawser.invalid:8443', pki.ca));
    const d = await dialCount(1);
    expect(d.url.href).toBe('wss://hawser.invalid:8443/agent/v1/tunnel');
    const peer = await d.server.ready;
    expect(peer.software).toMatch(/^hawser-agent\/\d+\.\d+\.\d+/);
    expect(peer.metadata).toEqual({ clusterUid: 'uid-1', kubernetesVersion: 'v1.35.0', mode: 'read-only' });
    await until(() => status() === 'connected', 'health says connected');
    expect(agent!.health.state.ready).toBe(true);
  });

  it('relays a stream the server opens to the API server with its own token and the caller impersonated', async () => {
    await startAgent(identity('https://hawser.invalid', pki.ca));
    const d = await dialCount(1);
    await d.server.ready;
    // The request head is the OPEN payload; identity travels only there.
    // Headers that try to name someone else are dropped, never obeyed.
    const stream = d.server.openStream(
      encodeRequestHead({
        v: STREAM_HEAD_VERSION,
        method: 'GET',
        target: '/api/v1/namespaces/default/configmaps',
        headers: [
          ['authorization', 'Bearer smuggled'],
          ['x-hawser-user', 'hawser:mallory'],
          ['impersonate-group', 'hawser:tier:admin'],
        ],
        identity: { user: 'hawser:user-op', groups: ['hawser:tier:read'] },
        requestId: 'req-1',
        bodyLength: 0,
      }),
    );
    const response = readBytes(stream);
    stream.end();
    const bytes = await response;
    const parsed = new ResponseHeadReader().push(bytes);
    expect(parsed?.head.status).toBe(200);
    expect(parsed?.rest.toString()).toContain('"kind":"ConfigMapList"');
    const seen = await world.next((r) => r.path === '/api/v1/namespaces/default/configmaps');
    expect(seen.headers.authorization).toBe('Bearer sa-token');
    expect(seen.headers['impersonate-user']).toBe('hawser:user-op');
    expect(seen.headers['impersonate-group']).toBe('hawser:tier:read');
  });

  it('reconnects after the server drains with GOAWAY, no sooner than the server asked', async () => {
    await startAgent(identity('https://hawser.invalid', pki.ca), { timings: { reconnectBaseMs: 10, reconnectMaxMs: 10 } });
    const first = await dialCount(1);
    await first.server.ready;
    await until(() => status() === 'connected', 'first tunnel up');
    await first.server.goAway({ retryAfterMs: 250, message: 'server shutting down' });
    const closedAt = Date.now();
    const retry = await logs.next('reconnecting');
    expect(retry.delayMs).toBeGreaterThanOrEqual(250);
    expect(retry.delayMs).toBeLessThan(250 + 10);
    const second = await dialCount(2);
    expect(second.at - closedAt).toBeGreaterThanOrEqual(240);
    await second.server.ready;
    await until(() => status() === 'connected' && dials.length === 2, 'second tunnel up');
  });

  it('backs off between failed dials: each wait within the doubling ceiling, and no dial before its wait is over', async () => {
    // The server end drops every tunnel before the handshake (once the
    // agent's session, built right after the dial, is listening).
    await startAgent(identity('https://hawser.invalid', pki.ca), {
      timings: { reconnectBaseMs: 40, reconnectMaxMs: 160 },
      onDial: (d) => queueMicrotask(() => d.transport.terminate()),
    });
    await dialCount(6);
    const retries = logs.lines.filter((l) => l.msg === 'reconnecting').slice(0, 5);
    expect(retries).toHaveLength(5);
    const ceilings = [40, 80, 160, 160, 160];
    retries.forEach((r, i) => expect(r.delayMs as number).toBeLessThan(ceilings[i]!));
    for (let i = 1; i < 6; i++) {
      // Timer resolution: a timeout may fire a millisecond early by Date.now().
      expect(dials[i]!.at - dials[i - 1]!.at).toBeGreaterThanOrEqual((retries[i - 1]!.delayMs as number) - 2);
    }
    expect(status()).not.toBe('connected');
  });

  it('on close code 4403 stops retrying, records the deregistration in its state and says so in health', async () => {
    await startAgent(identity('https://hawser.invalid', pki.ca), { timings: { reconnectBaseMs: 1, reconnectMaxMs: 1 } });
    const d = await dialCount(1);
    await d.server.ready;
    await until(() => status() === 'connected', 'tunnel up');
    d.transport.close(4403, 'cluster deregistered');
    await until(() => status() === 'deregistered', 'health says deregistered');
    // 'deregistered' is only set after the reconnect loop has ended: no dial can follow.
    expect(dials).toHaveLength(1);
    expect(logs.lines.some((l) => l.msg === 'reconnecting')).toBe(false);
    expect(agent!.health.state.ready).toBe(false);
    const stored = await new DirStateStore(`${dir.path}/state`).load();
    expect(Date.parse(stored!.deregisteredAt!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('after a restart with a recorded deregistration and no new token, stays parked and never dials', async () => {
    const state = { ...identity('https://hawser.invalid', pki.ca), deregisteredAt: new Date().toISOString() };
    await startAgent(state);
    expect(status()).toBe('deregistered');
    expect(agent!.health.state.detail).toMatch(/new bootstrap token/);
    expect(dials).toHaveLength(0);
  });

  it('keeps retrying fast after an ordinary close (not 4403)', async () => {
    await startAgent(identity('https://hawser.invalid', pki.ca), { timings: { reconnectBaseMs: 1, reconnectMaxMs: 1 } });
    const d = await dialCount(1);
    await d.server.ready;
    d.transport.close(1011, 'internal error');
    const again = await dialCount(2);
    await again.server.ready;
    await until(() => status() === 'connected', 'reconnected');
  });

  it('schedules renewal at renewAt of the certificate lifetime', async () => {
    const timeouts = vi.spyOn(globalThis, 'setTimeout');
    try {
      const now = Date.now();
      // Valid for 30 h from an hour ago: two thirds is 20 h in, 19 h from now.
      const state = identity('https://hawser.invalid', pki.ca, { notBefore: new Date(now - HOUR), notAfter: new Date(now + 29 * HOUR) });
      const nb = Date.parse(new X509Certificate(state.certificate).validFrom);
      const na = Date.parse(new X509Certificate(state.certificate).validTo);
      const expected = nb + (na - nb) * (2 / 3) - now;
      await startAgent(state);
      const delays = timeouts.mock.calls.map((c) => c[1] ?? 0).filter((ms) => ms > HOUR);
      expect(delays).toHaveLength(1);
      expect(Math.abs(delays[0]! - expected)).toBeLessThan(10_000);
    } finally {
      timeouts.mockRestore();
    }
  });

  it('renews a certificate that is past its renewal point over the client-certificate channel and keeps the new one', async () => {
    const now = Date.now();
    const state = identity(world.url, pki.ca, { notBefore: new Date(now - 60_000), notAfter: new Date(now + 24 * HOUR) });
    let renewed: string | undefined;
    world.handler = (req, res) => {
      if (req.path !== '/agent/v1/renew') return json(res, 404, {});
      const { csr } = JSON.parse(req.body) as { csr: string };
      renewed = issue({ cn: 'cluster-1', issuer: pki.ca, client: true, publicKeyPem: csrPublicKey(csr), notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * 24 * HOUR) }).cert;
      json(res, 200, { clusterId: 'cluster-1', clusterName: 'test', certificate: renewed, caBundle: [pki.ca.cert], notAfter: new Date(now + 30 * 24 * HOUR).toISOString() });
    };
    // The agent's clock (Date only; timers and TLS run on real time) reads
    // two seconds before notAfter: renewal is overdue, so it runs after half
    // of what is left, one second, however long the start took.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse(state.notAfter) - 2000 });
    try {
      await startAgent(state);
      const started = performance.now();
      const renew = await world.next((r) => r.path === '/agent/v1/renew');
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      expect(renew.method).toBe('POST');
      expect(renew.clientCn).toBe('cluster-1');
      await logs.next('client certificate renewed');
    } finally {
      vi.useRealTimers();
    }
    const stored = await new DirStateStore(`${dir.path}/state`).load();
    expect(stored!.certificate).toBe(renewed);
    expect(stored!.key).not.toBe(state.key);
    // The new key belongs to the new certificate.
    expect(new X509Certificate(stored!.certificate).checkPrivateKey(createPrivateKey(stored!.key))).toBe(true);
  }, 15_000);
});

function readBytes(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
