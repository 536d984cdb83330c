import { createServer as createHttpsServer, Agent as HttpsAgent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { apiServerProbe } from '../src/api-server-probe.js';
import { HealthServer } from '../src/health-server.js';
import { serverPki } from './support/test-pki.js';

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('agent health endpoints', () => {
  const toClose: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const c of toClose.splice(0)) await c.close();
  });

  async function started(health: HealthServer): Promise<number> {
    toClose.push(health);
    return (await health.listen('127.0.0.1', 0)).port;
  }

  it('answers /livez and /healthz from the process alone, whatever the tunnel and the API server', async () => {
    const health = new HealthServer();
    health.checkApiServer(async () => ({ reachable: false, detail: 'down' }));
    const port = await started(health);
    expect(await get(port, '/livez')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
  });

  it('is ready only when the tunnel is up and the API server answers', async () => {
    let reachable = true;
    const health = new HealthServer({ apiServerCacheMs: 0 });
    health.checkApiServer(async () => (reachable ? { reachable: true } : { reachable: false, detail: 'cannot reach the API server at https://127.0.0.1:1: connect ECONNREFUSED' }));
    const port = await started(health);
    expect((await get(port, '/readyz')).status).toBe(503);
    health.set({ ready: true, status: 'connected' });
    const ok = await get(port, '/readyz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ ready: true, status: 'connected', apiServer: { reachable: true } });
    reachable = false;
    const down = await get(port, '/readyz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ ready: false, status: 'connected', detail: expect.stringContaining('cannot reach the API server'), apiServer: { reachable: false } });
  });

  it('asks the API server at most once per cache period, and once for concurrent probes', async () => {
    let now = 0;
    let calls = 0;
    const health = new HealthServer({ apiServerCacheMs: 5000, now: () => now });
    health.checkApiServer(async () => {
      calls++;
      await new Promise((r) => setImmediate(r));
      return { reachable: true };
    });
    health.set({ ready: true, status: 'connected' });
    await Promise.all([health.readiness(), health.readiness(), health.readiness()]);
    expect(calls).toBe(1);
    now = 4999;
    await health.readiness();
    expect(calls).toBe(1);
    now = 5000;
    await health.readiness();
    expect(calls).toBe(2);
  });
});

describe('the API server probe', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  it('sends an authenticated GET /version and reads 200 as reachable, 401 as a refused token', async () => {
    const { ca, serving } = serverPki();
    const cert = serving.cert;
    const key = serving.key;
    const seen: (string | undefined)[] = [];
    let status = 200;
    server = createHttpsServer({ cert, key }, (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"gitVersion":"v1.36.0"}');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const probe = apiServerProbe({ url, agent: new HttpsAgent({ ca: ca.cert }), authorization: () => 'Bearer sa-token' });
    expect(await probe()).toEqual({ reachable: true });
    expect(seen).toEqual(['GET /version Bearer sa-token']);
    status = 401;
    expect(await probe()).toEqual({ reachable: false, detail: expect.stringContaining('no longer accepts the agent\'s ServiceAccount token') });
  });

  it('says the API server cannot be reached when nothing listens', async () => {
    const probe = apiServerProbe({ url: new URL('https://127.0.0.1:1'), agent: new HttpsAgent(), authorization: () => undefined }, 1000);
    expect(await probe()).toEqual({ reachable: false, detail: expect.stringMatching(/^cannot reach the API server at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/) });
  });
});
