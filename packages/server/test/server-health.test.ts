import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { Readiness } from '../src/readiness.js';
import { httpsJson, startServer, type Harness } from './support/harness.js';

function httpGet(url: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    }).on('error', reject);
  });
}

describe('server readiness', () => {
  it('is ready while serving and its store answers', async () => {
    const r = new Readiness({ store: { getClusterByName: async () => undefined }, serving: () => 'serving' });
    expect(await r.check()).toEqual({ ready: true, status: 'ready' });
  });

  it('is not ready, with the reason, when the store does not answer in time', async () => {
    const r = new Readiness({ store: { getClusterByName: () => new Promise(() => {}) }, serving: () => 'serving', timeoutMs: 50 });
    expect(await r.check()).toEqual({ ready: false, status: 'store-unavailable', detail: 'the store did not answer within 50 ms' });
  });

  it('is not ready, with the store error, when the store fails', async () => {
    const r = new Readiness({ store: { getClusterByName: () => Promise.reject(new Error('connection refused')) }, serving: () => 'serving' });
    expect(await r.check()).toMatchObject({ ready: false, status: 'store-unavailable', detail: 'connection refused' });
  });

  it('is not ready while starting or draining, without asking the store', async () => {
    let asked = 0;
    const store = { getClusterByName: async () => void asked++ };
    expect(await new Readiness({ store, serving: () => 'draining' }).check()).toEqual({ ready: false, status: 'draining' });
    expect(await new Readiness({ store, serving: () => 'starting' }).check()).toEqual({ ready: false, status: 'starting' });
    expect(asked).toBe(0);
  });
});

describe('metrics listener config', () => {
  it('takes HOST:PORT, a bare port on loopback, or off', () => {
    expect(resolveConfig({ metricsListen: '0.0.0.0:9100' }).metricsListen).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(resolveConfig({ metricsListen: '9100' }).metricsListen).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(resolveConfig({ metricsListen: 'off' }).metricsListen).toBeUndefined();
    expect(() => resolveConfig({ metricsListen: 'nine' })).toThrow(/config\.metricsListen: expected host:port/);
  });

  it('keeps /metrics off the operator listener once a metrics listener is set, unless asked', () => {
    expect(resolveConfig({}).operatorMetrics).toBe(true);
    expect(resolveConfig({ metricsListen: '9100' }).operatorMetrics).toBe(false);
    expect(resolveConfig({ metricsListen: '9100', operatorMetrics: true }).operatorMetrics).toBe(true);
    expect(resolveConfig({ operatorMetrics: false }).operatorMetrics).toBe(false);
  });
});

describe('a server with a metrics listener', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startServer({ metricsListen: '127.0.0.1:0' });
  }, 60_000);
  afterAll(async () => {
    await harness?.stop();
  });

  it('serves /metrics, /livez and /readyz over plain HTTP there', async () => {
    const url = harness.server.context.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await httpGet(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    expect(metrics.body).toContain('hawser_build_info{');
    expect(metrics.body).toMatch(/^hawser_tunnels_connected 0$/m);
    expect(await httpGet(`${url}/livez`)).toMatchObject({ status: 200 });
    const ready = await httpGet(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ready: true, status: 'ready' });
    expect((await httpGet(`${url}/clusters/x/api`)).status).toBe(404);
  });

  it('no longer serves /metrics on the operator listener, but keeps /healthz, /livez and /readyz there', async () => {
    const opts = { ca: harness.ca };
    expect((await httpsJson(`${harness.publicUrl}/metrics`, opts)).status).toBe(404);
    expect(await httpsJson(`${harness.publicUrl}/healthz`, opts)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await httpsJson(`${harness.publicUrl}/livez`, opts)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await httpsJson(`${harness.publicUrl}/readyz`, opts)).toMatchObject({ status: 200, body: { ready: true, status: 'ready' } });
    expect(await httpsJson(`${harness.agentUrl}/readyz`, opts)).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('counts a control-plane audit event in the metrics', async () => {
    await httpsJson(`${harness.publicUrl}/api/v1/clusters`, { ca: harness.ca, method: 'POST', token: harness.adminToken, body: { name: 'metered' } });
    const text = (await httpGet(`${harness.server.context.metricsUrl!}/metrics`)).body;
    expect(text).toContain('hawser_audit_events_total{type="cluster.added",outcome="success"} 1');
    expect(text).toContain('hawser_cluster_connected{cluster="metered"} 0');
  });
});

describe('a server without a metrics listener', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startServer();
  }, 60_000);
  afterAll(async () => {
    await harness?.stop();
  });

  it('serves /metrics on the operator listener, in the Prometheus text format', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      import('node:https').then(({ get: httpsGet }) => {
        httpsGet(`${harness.publicUrl}/metrics`, { ca: harness.ca }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        }).on('error', reject);
      }, reject);
    });
    expect(res.status).toBe(200);
    expect(res.body).toContain('# TYPE hawser_relay_requests_total counter');
    expect(harness.server.context.metricsUrl).toBeUndefined();
  });
});
