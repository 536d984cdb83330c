import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeResponseHead } from '@hawser/contract';
import type { TunnelStream } from '@hawser/protocol';
import { startFleetPair, type FleetPair } from './support/fleet-pair.js';

/**
 * Forwarding between replicas in one process: the forwarding replica's
 * relay -> PeerDialer -> real TLS on 127.0.0.1 -> the owner's PeerListener
 * -> the agent's tunnel (in-memory transport) -> the agent's real Relay ->
 * a recording HTTPS stand-in for the API server.
 */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const PODS = '/clusters/prod/api/v1/namespaces/default/pods';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, token = 'alice'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves once `stream` has delivered its request head (the agent reads it from the OPEN payload). */
function answer(stream: TunnelStream, status: number, headers: [string, string][]): void {
  stream.resume();
  stream.write(encodeResponseHead({ v: 1, status, statusText: 'OK', headers }));
}

async function refusedWith(p: FleetPair): Promise<Answer> {
  const res = await get(p.port, PODS);
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBeDefined();
  expect(res.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_FORWARD_REFUSED');
  expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 503, details: { causes: [{ reason: 'HSR_ERR_RELAY_FORWARD_REFUSED' }] } });
  return res;
}

describe('forwarding a request to the replica that holds the tunnel', () => {
  it('relays a GET through a replica without the tunnel, as the operator, audited once where it was admitted', async () => {
    const p = await startFleetPair(cleanup);
    const res = await get(p.port, PODS);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ method: 'GET', url: '/api/v1/namespaces/default/pods', user: ['hawser:alice'], groups: ['hawser:tier:admin'] });
    const [seen] = await p.upstream.waitFor(1);
    expect(seen!.headers['authorization']).toEqual(['Bearer agent-sa-token']);
    expect(p.audit).toHaveLength(1);
    expect(p.audit[0]).toMatchObject({ status: 200, user: 'alice', clusterId: 'c-1' });
    // A second request rides the same peer session.
    expect((await get(p.port, PODS, 'mallory')).status).toBe(200);
    expect(p.listener.sessionCount).toBe(1);
  });
});
