import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import {
  CertificateAuthority,
  createCaCertificate,
  normalizeSerial,
  TunnelCloseCodes,
} from '../src/index.js';
import { createCsr } from './support/csr.js';
import type { TunnelContext, TunnelHandler } from '../src/index.js';
import { agentKey, httpsJson, openTunnel, registeredAgent, startServer } from './support/harness.js';
import type { Harness, Registered } from './support/harness.js';

const DAY = 86_400_000;

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));
}

describe('agent tunnel endpoint', () => {
  let h: Harness;
  const opened: TunnelContext[] = [];
  /** What each cluster's agent sent, as the tunnel handler received it. */
  const received = new Map<string, string[]>();
  const handler: TunnelHandler = {
    open(context) {
      opened.push(context);
      context.socket.on('message', (m: Buffer) => {
        received.set(context.cluster.id, [...(received.get(context.cluster.id) ?? []), m.toString()]);
      });
    },
  };

  beforeAll(async () => {
    h = await startServer({}, { tunnelHandler: handler });
  }, 60_000);
  afterAll(async () => h?.stop());

  async function expectRefused(identity: { cert: string; key: string } | undefined, status: number, code: string, reason?: string) {
    const out = await openTunnel(h, identity);
    expect(out.kind).toBe('refused');
    if (out.kind !== 'refused') return;
    expect(out.status).toBe(status);
    expect(JSON.parse(out.body)).toMatchObject({ error: { code } });
    if (reason) {
      const audit = await h.server.context.store.listAuditEvents({ type: 'certificate.refused' });
      expect(audit.map((e) => e.reason)).toContain(reason);
    }
  }

  it('accepts an agent with a valid certificate and hands the socket to the tunnel handler', async () => {
    const agent = await registeredAgent(h, 'tun-ok');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    expect(out.kind).toBe('open');
    if (out.kind !== 'open') return;
    await expect.poll(() => opened.find((c) => c.cluster.id === agent.clusterId)).toBeDefined();
    const ctx = opened.find((c) => c.cluster.id === agent.clusterId)!;
    expect(ctx.cluster.name).toBe('tun-ok');
    expect(ctx.certificate.commonName).toBe(agent.clusterId);
    expect(ctx.certificate.serial).toBe(normalizeSerial(new X509Certificate(agent.certificate).serialNumber));
    expect(h.server.context.tunnels.get(agent.clusterId)?.id).toBe(ctx.connectionId);

    const list = await httpsJson<{ clusters: { name: string; status: string; lastSeen: string | null }[] }>(
      `${h.publicUrl}/api/v1/clusters`,
      { ca: h.ca, token: h.adminToken },
    );
    expect(list.body.clusters.find((c) => c.name === 'tun-ok')).toMatchObject({ status: 'connected' });

    const closed = closeOf(out.ws);
    out.ws.close(1000, 'bye');
    await closed;
    await expect.poll(() => h.server.context.tunnels.isConnected(agent.clusterId)).toBe(false);
    await expect
      .poll(async () => (await h.server.context.store.listAuditEvents({ clusterId: agent.clusterId })).map((e) => e.type))
      .toContain('agent.disconnected');
    const after = await h.server.context.store.getCluster(agent.clusterId);
    expect(after?.lastSeen).toBeInstanceOf(Date);
  });

  it('hands the tunnel handler what the agent sent at once, while the store was still being asked', async () => {
    // An agent starts its handshake the moment it sees the 101; the server
    // is then still checking the store and writing the audit row, which a
    // busy database makes slow (here: held until the agent has spoken).
    const agent = await registeredAgent(h, 'tun-eager');
    const store = h.server.context.store;
    const touch = store.touchLastSeen.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let asked = false;
    store.touchLastSeen = async (id) => {
      asked = true;
      await gate;
      return touch(id);
    };
    try {
      const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
      expect(out.kind).toBe('open');
      if (out.kind !== 'open') return;
      await new Promise<void>((resolve, reject) => out.ws.send('hello', (err) => (err ? reject(err) : resolve())));
      await expect.poll(() => asked).toBe(true);
      // 'hello' is in the server's socket now (loopback, same process); a
      // whole request on another connection gives the server's event loop
      // every chance to read it, which loses it unless the socket waits.
      expect((await httpsJson(`${h.agentUrl}/healthz`, { ca: h.ca })).status).toBe(200);
      expect(received.get(agent.clusterId)).toBeUndefined();
      release();
      await expect.poll(() => received.get(agent.clusterId)).toEqual(['hello']);
      out.ws.close(1000, 'bye');
    } finally {
      release();
      store.touchLastSeen = touch;
    }
  });

  it('refuses an agent without a client certificate with 401', async () => {
    await expectRefused(undefined, 401, 'HSR_ERR_CERTIFICATE_REQUIRED');
  });

  it('refuses a certificate from another CA even when it names a real cluster', async () => {
    const agent = await registeredAgent(h, 'tun-other-ca');
    const other = new CertificateAuthority(createCaCertificate('Impostor'));
    const { keyPem, csrPem } = agentKey();
    const forged = other.issueClientCertificate({ csrPem, clusterId: agent.clusterId, ttlMs: DAY, backdateMs: 0 });
    await expectRefused({ cert: forged.certPem, key: keyPem }, 403, 'HSR_ERR_CERTIFICATE_INVALID', 'certificate-untrusted');
  });

  it('refuses an expired certificate', async () => {
    const agent = await registeredAgent(h, 'tun-expired');
    const { keyPem, csrPem } = agentKey();
    const old = h.server.context.ca.issueClientCertificate({
      csrPem,
      clusterId: agent.clusterId,
      ttlMs: 30 * DAY,
      backdateMs: 0,
      now: new Date(Date.now() - 40 * DAY),
    });
    await h.server.context.store.recordCertificate({ ...old, clusterId: agent.clusterId });
    await expectRefused({ cert: old.certPem, key: keyPem }, 403, 'HSR_ERR_CERTIFICATE_INVALID', 'certificate-expired');
  });

  it('refuses a revoked certificate', async () => {
    const agent = await registeredAgent(h, 'tun-revoked');
    const serial = normalizeSerial(new X509Certificate(agent.certificate).serialNumber);
    expect(await h.server.context.store.revokeCertificate(serial)).toBe(true);
    await expectRefused({ cert: agent.certificate, key: agent.keyPem }, 403, 'HSR_ERR_CERTIFICATE_REVOKED', 'certificate-revoked');
  });

  it('refuses a certificate signed by our CA that the store never recorded', async () => {
    const agent = await registeredAgent(h, 'tun-unrecorded');
    const { keyPem, csrPem } = agentKey();
    const stray = h.server.context.ca.issueClientCertificate({ csrPem, clusterId: agent.clusterId, ttlMs: DAY, backdateMs: 0 });
    await expectRefused({ cert: stray.certPem, key: keyPem }, 403, 'HSR_ERR_CERTIFICATE_INVALID', 'certificate-unknown');
  });

  it('answers 404 to an upgrade on another path', async () => {
    const { WebSocket } = await import('ws');
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${h.agentUrl.replace('https:', 'wss:')}/agent/v1/elsewhere`, { ca: h.ca });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });
    expect(status).toBe(404);
  });

  it('closes the live tunnel within one second of cluster rm, with code 4403 and the reason, and refuses it after', async () => {
    const agent = await registeredAgent(h, 'tun-rm');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    if (out.kind !== 'open') throw new Error('tunnel not opened');
    await expect.poll(() => h.server.context.tunnels.isConnected(agent.clusterId)).toBe(true);
    const closed = closeOf(out.ws);
    const started = Date.now();
    const rm = await httpsJson<{ revokedCertificates: number; tunnelsClosed: number }>(`${h.publicUrl}/api/v1/clusters/tun-rm`, {
      method: 'DELETE',
      ca: h.ca,
      token: h.adminToken,
    });
    expect(rm.status).toBe(200);
    expect(rm.body).toMatchObject({ revokedCertificates: 1, tunnelsClosed: 1 });
    const result = await closed;
    expect(result.code).toBe(TunnelCloseCodes.DEREGISTERED);
    expect(result.reason).toBe('cluster deregistered');
    expect(result.at - started).toBeLessThan(1000);
    await expectRefused({ cert: agent.certificate, key: agent.keyPem }, 403, 'HSR_ERR_CLUSTER_DEREGISTERED', 'cluster-deregistered');
  });

  it('closes the tunnel within one second even when the agent never answers the close frame', async () => {
    const agent = await registeredAgent(h, 'tun-silent');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    if (out.kind !== 'open') throw new Error('tunnel not opened');
    await expect.poll(() => h.server.context.tunnels.isConnected(agent.clusterId)).toBe(true);
    // Stop reading: the client never sees the close frame and never answers it.
    const raw = (out.ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    const started = Date.now();
    await h.server.context.registrar.removeCluster('tun-silent', { actor: 'test' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(h.server.context.tunnels.isConnected(agent.clusterId)).toBe(false);
    out.ws.terminate();
  });

  describe('certificate renewal', () => {
    let agent: Registered;
    beforeAll(async () => {
      agent = await registeredAgent(h, 'tun-renew');
    });

    it('issues a new certificate over the authenticated channel and keeps the old one valid', async () => {
      const { keyPem, csrPem } = agentKey();
      const res = await httpsJson<{ clusterId: string; certificate: string; caBundle: string[]; notAfter: string }>(
        `${h.agentUrl}/agent/v1/renew`,
        { method: 'POST', ca: h.ca, cert: agent.certificate, key: agent.keyPem, body: { csr: csrPem } },
      );
      expect(res.status).toBe(200);
      expect(res.body.clusterId).toBe(agent.clusterId);
      expect(res.body.certificate).not.toBe(agent.certificate);
      const renewedOut = await openTunnel(h, { cert: res.body.certificate, key: keyPem });
      const oldOut = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
      expect([renewedOut.kind, oldOut.kind]).toEqual(['open', 'open']);
      for (const o of [renewedOut, oldOut]) if (o.kind === 'open') o.ws.close();
      const types = (await h.server.context.store.listAuditEvents({ clusterId: agent.clusterId })).map((e) => e.type);
      expect(types).toContain('certificate.renewed');
    });

    it('refuses renewal without a client certificate', async () => {
      const res = await httpsJson(`${h.agentUrl}/agent/v1/renew`, { method: 'POST', ca: h.ca, body: { csr: createCsr(agent.keyPem) } });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'HSR_ERR_CERTIFICATE_REQUIRED' } });
    });
  });
});
