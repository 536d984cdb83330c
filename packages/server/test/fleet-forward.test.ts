import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeResponseHead } from '@hawser/contract';
import { WireCode, type TunnelStream } from '@hawser/protocol';
import { resolveConfig } from '../src/config.js';
import { getAs as get, startFleetPair, testCa, type Answer, type FleetPair } from './support/fleet-pair.js';

/**
 * Forwarding between replicas in one process: the forwarding replica's
 * relay -> PeerDialer -> real TLS on 127.0.0.1 -> the owner's PeerListener
 * -> the agent's tunnel (in-memory transport) -> the agent's real Relay ->
 * a recording HTTPS stand-in for the API server.
 */
// RSA key generation (the CA, replica certificates) is slow on a loaded 2-core machine.
vi.setConfig({ testTimeout: 60_000 });
beforeAll(() => void testCa(), 120_000);

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const PODS = '/clusters/prod/api/v1/namespaces/default/pods';

/** A fake agent answering on its stream: the response head, then whatever the test writes. */
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

  it('answers 503 + Retry-After when the agent refuses the forwarded stream unprocessed (its tunnel is moving), not 502', async () => {
    const p = await startFleetPair(cleanup, { onStream: (s) => void s.reset(WireCode.REFUSED, 'session is draining') });
    await refusedWith(p);
  });

  it('streams a watch: each event reaches the operator while the watch is still open', async () => {
    const agentStreams: TunnelStream[] = [];
    const p = await startFleetPair(cleanup, {
      onStream: (s) => {
        agentStreams.push(s);
        answer(s, 200, [['content-type', 'application/json']]);
        s.write('{"type":"ADDED","object":{"n":1}}\n');
      },
    });
    const events: string[] = [];
    const second = new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p.port, path: `${PODS}?watch=true`, headers: { authorization: 'Bearer alice' }, agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          events.push(...d.split('\n').filter(Boolean));
          // The first event arrived with the watch still open: now the next one.
          if (events.length === 1) agentStreams[0]!.write('{"type":"MODIFIED","object":{"n":2}}\n');
          if (events.length === 2) agentStreams[0]!.end();
        });
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    await second;
    expect(events.map((e) => (JSON.parse(e) as { type: string }).type)).toEqual(['ADDED', 'MODIFIED']);
    expect(p.audit).toHaveLength(1);
    expect(p.audit[0]).toMatchObject({ verb: 'watch', status: 200 });
  });

  it('relays an exec upgrade: the 101, then bytes both ways through both replicas', async () => {
    const p = await startFleetPair(cleanup);
    const socket = connect(p.port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    let text = '';
    const done = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\n') && !text.includes('ping')) socket.write('ping over two replicas');
        if (text.includes('PING OVER TWO REPLICAS')) resolve();
      });
    });
    socket.write(`GET ${PODS}/p/exec?command=sh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n`);
    await done;
    expect(text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    const [seen] = await p.upstream.waitFor(1);
    expect(seen!.headers['impersonate-user']).toEqual(['hawser:alice']);
  });

  it('carries a 64 MiB body to a slow reader with bounded buffering: the agent is held back, nothing is lost', async () => {
    const TOTAL = 64 * 1024 * 1024;
    const CHUNK = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    const p = await startFleetPair(cleanup, {
      onStream: (s) => {
        answer(s, 200, [['content-type', 'application/octet-stream'], ['content-length', String(TOTAL)]]);
        const pump = (): void => {
          while (sent < TOTAL) {
            sent += CHUNK.length;
            if (!s.write(CHUNK)) return void s.once('drain', pump);
          }
          s.end();
        };
        pump();
      },
    });
    let received = 0;
    let peakInFlight = 0;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p.port, path: `${PODS}/big/log`, headers: { authorization: 'Bearer alice' }, agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
    res.pause();
    // Held back: the agent's writes stop advancing while nobody reads.
    await new Promise<void>((resolve) => {
      let last = -1;
      const check = setInterval(() => {
        if (sent === last) {
          clearInterval(check);
          resolve();
        }
        last = sent;
      }, 100);
    });
    const stalledAt = sent;
    expect(stalledAt).toBeLessThan(TOTAL / 2);
    await new Promise<void>((resolve) => {
      res.on('data', (d: Buffer) => {
        received += d.length;
        peakInFlight = Math.max(peakInFlight, sent - received);
      });
      res.on('end', () => resolve());
      res.resume();
    });
    expect(received).toBe(TOTAL);
    expect(peakInFlight).toBeLessThan(32 * 1024 * 1024);
    console.log(`fleet-forward: agent held back at ${(stalledAt / 1048576).toFixed(1)} MiB ahead of a paused reader; peak in flight ${(peakInFlight / 1048576).toFixed(1)} MiB`);
  });
});

describe('an owner that will not serve a forwarded request', () => {
  it('answers 503 with Retry-After when the owner no longer holds the lease (fencing), without reaching the agent', async () => {
    const p = await startFleetPair(cleanup);
    // Another replica took the tunnel over; the forwarder's cache has not heard yet.
    p.ownerView.set('c-1', 'r-other', 'https://127.0.0.1:1', 8);
    const res = await refusedWith(p);
    expect(res.body).toContain('no longer holds the tunnel');
    expect(p.agentStreams).toHaveLength(0);
    expect(p.audit).toHaveLength(1);
    expect(p.audit[0]).toMatchObject({ status: 503, code: 'HSR_ERR_RELAY_FORWARD_REFUSED' });
  });

  it('refuses a forward that expects a newer epoch than the owner holds', async () => {
    const p = await startFleetPair(cleanup);
    p.frontView.set('c-1', 'r-owner', p.peerUrl, 9);
    await refusedWith(p);
    expect(p.agentStreams).toHaveLength(0);
  });

  it("tells 'agent gone' apart from 'not the owner' when the owner holds the lease but lost the tunnel", async () => {
    const p = await startFleetPair(cleanup);
    p.agentPresent.value = false;
    const res = await refusedWith(p);
    expect(res.body).toContain("the agent's tunnel on the owning replica is gone");
  });

  it('answers 503 (never a 500) when the lease names a replica without a usable peer URL', async () => {
    const p = await startFleetPair(cleanup);
    for (const url of ['', 'not a url']) {
      p.frontView.set('c-1', 'r-elsewhere', url, 9);
      const res = await get(p.port, PODS);
      expect(res.status).toBe(503);
      expect(res.headers['x-hawser-error']).toBe('HSR_ERR_CLUSTER_NOT_CONNECTED');
    }
    expect(p.agentStreams).toHaveLength(0);
  });

  it("ends a forwarded watch cleanly with an ERROR event saying the tunnel was lost when the agent's tunnel dies on the owner", async () => {
    const p = await startFleetPair(cleanup, {
      onStream: (s) => {
        answer(s, 200, [['content-type', 'application/json']]);
        s.write('{"type":"ADDED","object":{"n":1}}\n');
      },
    });
    const lines: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p.port, path: `${PODS}?watch=true`, headers: { authorization: 'Bearer alice' }, agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          lines.push(...d.split('\n').filter(Boolean));
          // The watch is live on both replicas: now the agent's tunnel on the owner goes.
          if (lines.length === 1) p.agentTunnel.destroy(new Error('agent lost'));
        });
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    expect(lines).toHaveLength(2);
    const error = JSON.parse(lines[1]!) as { type: string; object: { message: string } };
    expect(error.type).toBe('ERROR');
    expect(error.object.message).toContain('was lost');
  });

  it("cancels the agent's stream when the operator leaves a forwarded watch", async () => {
    let agentStream: TunnelStream | undefined;
    const p = await startFleetPair(cleanup, {
      onStream: (s) => {
        agentStream = s;
        answer(s, 200, [['content-type', 'application/json']]);
        s.write('{"type":"ADDED","object":{"n":1}}\n');
      },
    });
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p.port, path: `${PODS}?watch=true`, headers: { authorization: 'Bearer alice' }, agent: false }, (res) => {
        res.once('data', () => {
          agentStream!.once('close', () => resolve());
          req.destroy();
        });
      });
      req.on('error', () => undefined);
      req.end();
      req.once('error', reject);
    });
    expect(agentStream!.destroyed).toBe(true);
    expect(p.audit[0]).toMatchObject({ verb: 'watch', status: 200 });
  });
});

describe('the peer listener configuration', () => {
  it('is off on the embedded store, on at 127.0.0.1:8445 with PostgreSQL, and validated once', () => {
    expect(resolveConfig({}).peerListen).toBeUndefined();
    expect(resolveConfig({ databaseUrl: 'postgres://h/db' }).peerListen).toEqual({ host: '127.0.0.1', port: 8445 });
    expect(resolveConfig({ databaseUrl: 'postgres://h/db', peerListen: 'off' }).peerListen).toBeUndefined();
    expect(resolveConfig({ databaseUrl: 'postgres://h/db', peerListen: '0.0.0.0:9445', peerAdvertise: 'https://r-0.peers:9445/' })).toMatchObject({
      peerListen: { host: '0.0.0.0', port: 9445 },
      peerAdvertise: 'https://r-0.peers:9445',
    });
    expect(() => resolveConfig({ peerListen: 'nonsense' })).toThrow(/config\.peerListen/);
    expect(() => resolveConfig({ databaseUrl: 'postgres://h/db', peerAdvertise: 'http://r-0:8445' })).toThrow(/config\.peerAdvertise/);
    expect(() => resolveConfig({ peerAdvertise: 'https://r-0:8445' })).toThrow(/config\.peerAdvertise/);
  });
});

