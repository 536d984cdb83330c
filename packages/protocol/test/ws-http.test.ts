import { createHash } from 'node:crypto';
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { HtnErrorCode } from '../src/index.js';
import { patternBytes, until } from './helpers.js';
import { request, startTunnel } from './ws-fixture.js';
import type { TunnelFixture } from './ws-fixture.js';

let fx: TunnelFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function echoHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === '/big') {
    const size = Number(req.headers['x-size']);
    res.writeHead(200, { 'content-length': size });
    res.end(patternBytes(size, 9));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'text/plain', 'x-path': req.url ?? '', 'x-sha': sha(body) });
    res.end(req.method === 'GET' ? `hello ${req.url}` : body);
  });
}

describe('HTTP/1.1 over tunnel streams on a real WebSocket', () => {
  it('serves a GET through an http.Agent on the server and an http.Server on the agent', async () => {
    fx = await startTunnel(echoHandler);
    expect(fx.server.peer?.metadata.clusterUid).toBe('uid-1');
    const res = await request(fx.httpAgent, { path: '/api/v1/namespaces' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello /api/v1/namespaces');
  });

  it('serves 100 concurrent requests, each with its own stream, and cleans them all up', async () => {
    fx = await startTunnel(echoHandler);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => request(fx!.httpAgent, { path: `/r/${i}` })));
    results.forEach((r, i) => expect(r.body.toString()).toBe(`hello /r/${i}`));
    await until(() => fx!.server.streamCount === 0 && fx!.agent.streamCount === 0, 'both ends have closed all 100 streams');
  });

  it('reuses streams with a keep-alive agent', async () => {
    fx = await startTunnel(echoHandler, { keepAlive: true });
    for (let i = 0; i < 5; i++) expect((await request(fx.httpAgent, { path: `/k/${i}` })).status).toBe(200);
    expect(fx.server.streamCount).toBe(1);
  });

  it('carries a 30 MB upload and a 30 MB download intact', async () => {
    fx = await startTunnel(echoHandler);
    const body = patternBytes(30 * 1024 * 1024, 4);
    const up = await request(fx.httpAgent, { method: 'POST', path: '/upload', body });
    expect(up.headers['x-sha']).toBe(sha(body));
    expect(sha(up.body)).toBe(sha(body));
    const down = await request(fx.httpAgent, { path: '/big', headers: { 'x-size': String(30 * 1024 * 1024) } });
    expect(sha(down.body)).toBe(sha(patternBytes(30 * 1024 * 1024, 9)));
  });

  it('runs a WebSocket upgrade inside a tunnel stream end to end', async () => {
    const inner = new WebSocketServer({ noServer: true });
    inner.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(isBinary ? m : `echo:${String(m)}`)));
    fx = await startTunnel((_req, res) => res.end('no'));
    fx.agentHttp.on('upgrade', (req, socket, head) => inner.handleUpgrade(req, socket, head, (ws) => inner.emit('connection', ws, req)));
    const ws = new WebSocket('ws://cluster.invalid/exec', { agent: fx.httpAgent });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const replies: string[] = [];
    const done = new Promise<void>((resolve) => ws.on('message', (m) => {
      replies.push(String(m));
      if (replies.length === 3) resolve();
    }));
    ws.send('a');
    ws.send('b');
    ws.send('c');
    await done;
    expect(replies).toEqual(['echo:a', 'echo:b', 'echo:c']);
    ws.close();
    await new Promise((r) => ws.once('close', r));
    inner.close();
  });

  it('aborts the upstream request when the client goes away', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    fx = await startTunnel((req, res) => {
      res.writeHead(200);
      res.write('partial');
      res.on('close', upstreamClosed);
    });
    const { default: httpMod } = await import('node:http');
    const req = httpMod.request({ agent: fx.httpAgent, host: 'cluster.invalid', path: '/watch' }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => {});
    req.end();
    await closed;
  });

  it('reports HTN_ERR_TRANSPORT when the WebSocket is cut without a goodbye', async () => {
    fx = await startTunnel(echoHandler);
    fx.clientSocket.terminate();
    expect((await fx.server.closed)?.code).toBe(HtnErrorCode.TRANSPORT);
    expect((await fx.agent.closed)?.code).toBe(HtnErrorCode.TRANSPORT);
  });

  it('drains over a real WebSocket: goAway reaches the agent with its retry hint', async () => {
    fx = await startTunnel(echoHandler);
    const goaway = new Promise((r) => fx!.agent.once('goaway', r));
    await fx.server.goAway({ retryAfterMs: 500 });
    expect(await goaway).toMatchObject({ retryAfterMs: 500 });
    expect(await fx.agent.closed).toBeUndefined();
  });
});
