import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, httpsJson, registeredAgent, startServer } from './support/harness.js';
import type { Harness } from './support/harness.js';

describe('admin API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServer();
  }, 60_000);
  afterAll(async () => h?.stop());

  const api = <T = Record<string, unknown>>(path: string, options: { method?: string; body?: unknown; token?: string | null } = {}) =>
    httpsJson<T>(`${h.publicUrl}/api/v1${path}`, {
      method: options.method ?? 'GET',
      body: options.body,
      ca: h.ca,
      ...(options.token === null ? {} : { token: options.token ?? h.adminToken }),
    });

  it('refuses requests without the admin token or with a wrong one', async () => {
    for (const token of [null, 'hsr_admin_wrong']) {
      const res = await api('/clusters', { token });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'HSR_ERR_UNAUTHORIZED' } });
    }
  });

  it('serves health without authentication on both listeners', async () => {
    for (const base of [h.publicUrl, h.agentUrl]) {
      expect((await httpsJson(`${base}/healthz`, { ca: h.ca })).body).toEqual({ status: 'ok' });
    }
  });

  it('creates a cluster and returns a bootstrap token with helm and kubectl install lines', async () => {
    const res = await api<{
      cluster: { name: string; labels: Record<string, string>; status: string; registration: string };
      bootstrap: { token: string; expiresAt: string; helm: string; kubectl: string };
    }>('/clusters', { method: 'POST', body: { name: 'prod-eu', labels: { env: 'prod' }, tokenTtl: '30m' } });
    expect(res.status).toBe(201);
    expect(res.body.cluster).toMatchObject({ name: 'prod-eu', labels: { env: 'prod' }, status: 'never', registration: 'active' });
    const { token, helm, kubectl, expiresAt } = res.body.bootstrap;
    expect(Math.abs(new Date(expiresAt).getTime() - (Date.now() + 30 * 60_000))).toBeLessThan(5000);
    expect(helm).toMatch(/^helm install hawser-agent \/\S+\/charts\/hawser-agent --namespace hawser-system --create-namespace /);
    expect(helm).toContain(`server.url='${h.agentUrl}'`);
    expect(helm).toContain(`server.caHash='${h.server.context.ca.caHash}'`);
    expect(helm).toContain(`bootstrap.token='${token}'`);
    expect(kubectl).toContain('kubectl -n hawser-system create secret generic hawser-agent-bootstrap');
    expect(kubectl).toContain(token);
  });

  it('explains an invalid cluster name', async () => {
    const res = await api('/clusters', { method: 'POST', body: { name: 'Prod_EU' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'HSR_ERR_CLUSTER_NAME_INVALID' } });
    expect(JSON.stringify(res.body)).toContain('DNS-1123 label');
  });

  it('refuses invalid labels, a duplicate name and an overlong token lifetime', async () => {
    await addCluster(h, 'dup');
    const cases: [unknown, number, string][] = [
      [{ name: 'lbl', labels: { 'bad key!': 'x' } }, 400, 'HSR_ERR_CLUSTER_LABEL_INVALID'],
      [{ name: 'dup' }, 409, 'HSR_ERR_CLUSTER_EXISTS'],
      [{ name: 'ttl', tokenTtl: '30d' }, 400, 'HSR_ERR_DURATION_INVALID'],
      [{ name: 'ttl', tokenTtl: 'soon' }, 400, 'HSR_ERR_DURATION_INVALID'],
    ];
    for (const [body, status, code] of cases) {
      const res = await api('/clusters', { method: 'POST', body });
      expect([res.status, (res.body as { error: { code: string } }).error.code]).toEqual([status, code]);
    }
  });

  it('lists clusters with status, versions and certificate expiry', async () => {
    await registeredAgent(h, 'listed');
    const res = await api<{ clusters: Record<string, unknown>[] }>('/clusters');
    const listed = res.body.clusters.find((c) => c.name === 'listed');
    expect(listed).toMatchObject({
      status: 'never',
      agentVersion: '0.1.0',
      kubernetesVersion: 'v1.35.0',
      lastSeen: null,
      certificateNotAfter: expect.stringMatching(/^\d{4}-/),
    });
  });

  it('mints a fresh token for a cluster, and answers 404 for an unknown one', async () => {
    await addCluster(h, 'again');
    const res = await api<{ bootstrap: { token: string } }>('/clusters/again/tokens', { method: 'POST', body: {} });
    expect(res.status).toBe(201);
    expect(res.body.bootstrap.token.split('.')).toHaveLength(3);
    const missing = await api('/clusters/nope/tokens', { method: 'POST', body: {} });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'HSR_ERR_CLUSTER_NOT_FOUND' } });
  });

  it('gets one cluster and deregisters it', async () => {
    await addCluster(h, 'gone');
    expect((await api('/clusters/gone')).status).toBe(200);
    const rm = await api<{ cluster: { registration: string } }>('/clusters/gone', { method: 'DELETE' });
    expect(rm.status).toBe(200);
    expect(rm.body.cluster.registration).toBe('deregistered');
    expect((await api('/clusters/gone')).status).toBe(404);
    expect((await api('/clusters/gone', { method: 'DELETE' })).status).toBe(404);
    const types = (await h.server.context.store.listAuditEvents()).filter((e) => e.details.name === 'gone').map((e) => e.type);
    expect(types).toEqual(['cluster.added', 'cluster.removed']);
  });

  it('reports the server URLs and CA hash', async () => {
    const res = await api('/server');
    expect(res.body).toMatchObject({ publicUrl: h.publicUrl, agentUrl: h.agentUrl, caHash: h.server.context.ca.caHash });
  });

  it('answers unknown routes with HSR_ERR_ROUTE_NOT_FOUND', async () => {
    const res = await httpsJson(`${h.publicUrl}/nothing/here`, { ca: h.ca });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: 'HSR_ERR_ROUTE_NOT_FOUND' } });
  });
});
