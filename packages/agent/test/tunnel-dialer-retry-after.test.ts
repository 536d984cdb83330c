import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Reconnector } from '@hawser/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelDialer } from '../src/tunnel-dialer.js';
import type { AgentState } from '../src/state-store.js';
import { issue, type Issued } from './support/test-pki.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };

/** A server whose tunnel upgrade always answers 503 with the given headers (the admission gate in a storm). */
async function busyServer(ca: Issued, headers: string[]): Promise<{ server: Server; url: string; tries: () => number }> {
  const serving = issue({ cn: '127.0.0.1', issuer: ca, serverIps: ['127.0.0.1'] });
  const server = createServer({ cert: serving.cert, key: serving.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true });
  let tries = 0;
  server.on('upgrade', (_req, socket: Duplex) => {
    tries++;
    const body = '{"error":{"code":"HSR_ERR_SERVER_DRAINING","message":"the server is draining"}}';
    socket.end(['HTTP/1.1 503 Service Unavailable', 'Connection: close', 'x-hawser-error: HSR_ERR_SERVER_DRAINING', ...headers, `Content-Length: ${body.length}`, '', body].join('\r\n'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, tries: () => tries };
}

/** The delay the agent's reconnect loop chose after the first refused dial. */
async function firstDelay(url: string, ca: Issued, client: Issued): Promise<{ delay: number; err: Error }> {
  const state: AgentState = { clusterId: 'c1', clusterName: 'one', serverUrl: url, key: client.key, certificate: client.cert, caBundle: [ca.cert], notAfter: new Date(Date.now() + 3600_000).toISOString() } as AgentState;
  const dialer = new TunnelDialer({
    config: { proxy: { noProxy: [] }, mode: 'read-only', chartVersion: undefined },
    facts: () => ({}) as never,
    log: quiet as never,
    onDeregistered: () => undefined,
    onStream: () => undefined,
  });
  const waited = new Promise<{ delay: number; err: Error }>((resolve) => {
    const loop = new Reconnector({
      connect: (signal) => Promise.resolve(dialer.dial(state, signal)),
      backoff: { baseMs: 500, maxMs: 30_000 },
      sleep: () => new Promise(() => undefined),
    });
    loop.once('retry', (err: Error, delay: number) => {
      loop.destroy();
      resolve({ delay, err });
    });
    loop.start();
  });
  return waited;
}

describe('the agent under a server that refuses its tunnel with a retry hint', () => {
  let ca: Issued;
  let client: Issued;
  beforeAll(() => {
    ca = issue({ cn: 'test-ca', ca: true });
    client = issue({ cn: 'c1', issuer: ca, client: true });
  });
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('waits out a 503 with x-hawser-retry-after-ms as said (plus at most a tenth, against retries in step), without backing off', async () => {
    const busy = await busyServer(ca, ['Retry-After: 2', 'x-hawser-retry-after-ms: 1234']);
    servers.push(busy.server);
    const { delay, err } = await firstDelay(busy.url, ca, client);
    expect(err.message).toContain('HSR_ERR_SERVER_DRAINING');
    expect(delay).toBeGreaterThanOrEqual(1234);
    expect(delay).toBeLessThan(1234 * 1.1);
    expect(busy.tries()).toBe(1);
  });

  it('waits out a plain Retry-After in seconds', async () => {
    const busy = await busyServer(ca, ['Retry-After: 7']);
    servers.push(busy.server);
    const { delay } = await firstDelay(busy.url, ca, client);
    expect(delay).toBeGreaterThanOrEqual(7_000);
    expect(delay).toBeLessThan(7_700);
  });

  it('backs off as before when the 503 carries no hint', async () => {
    const busy = await busyServer(ca, []);
    servers.push(busy.server);
    const { delay } = await firstDelay(busy.url, ca, client);
    // The first backoff step: full jitter under the 500 ms base.
    expect(delay).toBeLessThan(500);
  });
});
