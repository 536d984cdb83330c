import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HtnError, HtnErrorCode, type TunnelStream } from '@hawser/protocol';
import { getAs, rawExchange, startRelayPair, type Answer, type RawResponse } from './support/relay-pair.js';

/**
 * The relay end to end in one process: ClusterRelay -> tunnel over the
 * in-memory transport -> the agent's real Relay -> a recording HTTPS
 * stand-in for the API server. Raw sockets send what a hostile operator
 * would; the stand-in says which identity each request arrived as.
 */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const PODS = '/clusters/prod/api/v1/namespaces/default/pods';
const REVIEW = '/apis/authentication.k8s.io/v1/selfsubjectreviews';

const get = (port: number, path: string, token = 'mallory'): Promise<Answer> => getAs(port, path, token);

/** The request an attacker hides in a body: an identity in headers the old agent trusted. */
function smuggledRequest(): string {
  return [
    `POST ${REVIEW} HTTP/1.1`,
    'Host: kubernetes',
    'X-Hawser-User: hawser:mallory',
    'X-Hawser-Group: hawser:tier:admin',
    'Impersonate-User: hawser:mallory',
    'Impersonate-Group: hawser:tier:admin',
    'Content-Type: application/json',
    'Content-Length: 2',
    '',
    '{}',
  ].join('\r\n');
}

function chunked(body: string): string {
  return `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
}

/** An ordinary request, to be read (wrongly) as the smuggled one's successor. */
const follow = `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mallory\r\n\r\n`;

function status(r: RawResponse): { code: number; details?: { causes?: { reason: string }[] } } {
  return JSON.parse(r.body) as { code: number; details?: { causes?: { reason: string }[] } };
}

describe('ClusterRelay: identity travels only in the stream head', () => {
  // Every method, both body framings, the probe that was observed and its relatives.
  const variants: { method: string; framing: 'chunked' | 'length' }[] = [];
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'POST', 'PATCH']) for (const framing of ['chunked', 'length'] as const) variants.push({ method, framing });
  for (const { method, framing } of variants) {
    it(`a ${method} whose ${framing} body is an HTTP request with identity headers never changes who the API server sees`, async () => {
      const p = await startRelayPair(cleanup);
      const inner = smuggledRequest();
      const body = framing === 'chunked' ? chunked(inner) : inner;
      const framingHeader = framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${Buffer.byteLength(inner)}`;
      const target = method === 'POST' || method === 'PATCH' ? `/clusters/prod${REVIEW}` : `${PODS}/x`;
      const first = `${method} ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mallory\r\nContent-Type: application/json\r\n${framingHeader}\r\n\r\n${body}`;
      const responses = await rawExchange(p.port, first + follow, { count: 2, heads: [method === 'HEAD'] });

      // The API server saw mallory at read tier, and nothing else, every time.
      for (const seen of p.upstream.seen) {
        expect(seen.headers['impersonate-user']).toEqual(['hawser:mallory']);
        expect(seen.headers['impersonate-group']).toEqual(['hawser:tier:read']);
        expect(seen.headers['x-hawser-user']).toBeUndefined();
        expect(seen.headers['x-hawser-group']).toBeUndefined();
      }
      // Never a request the client did not send.
      expect(p.upstream.seen.filter((r) => r.url === REVIEW && r.method === 'POST').length).toBe(method === 'POST' ? 1 : 0);
      if (['GET', 'HEAD', 'OPTIONS'].includes(method)) {
        // No Kubernetes API takes a body here: refused before any stream
        // opens (Node may then close the connection rather than read on).
        expect(responses[0]!.status).toBe(400);
        expect(responses[0]!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_BODY_NOT_ALLOWED');
        if (method !== 'HEAD') expect(status(responses[0]!).details?.causes?.[0]?.reason).toBe('HSR_ERR_RELAY_BODY_NOT_ALLOWED');
        expect(p.upstream.seen.length).toBe(responses.length - 1);
      } else {
        // The body arrived as opaque bytes of the one request it belongs to.
        expect(responses).toHaveLength(2);
        expect(p.upstream.seen).toHaveLength(2);
        expect(p.upstream.seen[0]!.method).toBe(method);
        expect(p.upstream.seen[0]!.body.toString()).toBe(inner);
        expect(responses[0]!.status).toBe(200);
      }
      const last = responses[responses.length - 1]!;
      if (responses.length === 2) {
        expect(last.status).toBe(200);
        expect(JSON.parse(last.body)).toMatchObject({ method: 'GET', user: ['hawser:mallory'], groups: ['hawser:tier:read'] });
      }
      expect(p.audit).toHaveLength(responses.length);
    });
  }

  it('answers pipelined requests of two operators on one connection each with its own identity, in order', async () => {
    const p = await startRelayPair(cleanup);
    const who = ['alice', 'mallory', 'alice', 'mallory', 'mallory', 'alice'];
    const bytes = who.map((t, i) => `GET ${PODS}?n=${i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\n\r\n`).join('');
    const responses = await rawExchange(p.port, bytes, { count: who.length });
    expect(responses).toHaveLength(who.length);
    responses.forEach((r, i) => {
      const echo = JSON.parse(r.body) as { url: string; user: string[]; groups: string[] };
      expect(echo.url).toBe(`/api/v1/namespaces/default/pods?n=${i}`);
      expect(echo.user).toEqual([`hawser:${who[i]}`]);
      expect(echo.groups).toEqual([who[i] === 'alice' ? 'hawser:tier:admin' : 'hawser:tier:read']);
    });
  });

  it("never carries Hawser's own cookies (the console session) toward a cluster, and keeps the operator's others", async () => {
    const p = await startRelayPair(cleanup);
    const cookies = [
      'theme=dark; __Host-hawser-session=SECRET1; __Host-hawser-oidc=SECRET2;lang=en',
      '__Host-hawser-session=SECRET3',
    ];
    const bytes = cookies.map((c) => `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nCookie: ${c}\r\n\r\n`).join('');
    const responses = await rawExchange(p.port, bytes, { count: cookies.length });
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const seen = await p.upstream.waitFor(2);
    expect(seen[0]!.headers.cookie).toEqual(['theme=dark; lang=en']);
    expect(seen[1]!.headers.cookie).toBeUndefined();
    // And the stream heads the agent got never held them either.
    expect(p.agentStreams.map((s) => s.openPayload.toString('latin1')).join('')).not.toContain('SECRET');
  });

  it('opens a fresh stream for every request and never reuses one', async () => {
    const p = await startRelayPair(cleanup);
    await Promise.all(['alice', 'mallory', 'alice', 'mallory'].map((t) => get(p.port, PODS, t)));
    for (let i = 0; i < 4; i++) await get(p.port, PODS, i % 2 ? 'alice' : 'mallory');
    expect(p.agentStreams).toHaveLength(8);
    expect(new Set(p.agentStreams.map((s) => s.id)).size).toBe(8);
    expect(p.upstream.seen).toHaveLength(8);
  });

  it('refuses a head larger than the stream head limit with 431 before opening a stream', async () => {
    const p = await startRelayPair(cleanup);
    const big = Array.from({ length: 6 }, (_, i) => `X-Big-${i}: ${'a'.repeat(3000)}\r\n`).join('');
    const [r] = await rawExchange(p.port, `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mallory\r\n${big}\r\n`, { count: 1 });
    expect(r!.status).toBe(431);
    expect(r!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_HEAD_TOO_LARGE');
    expect(status(r!)).toMatchObject({ code: 431 });
    expect(p.agentStreams).toHaveLength(0);
  });

  for (const path of ['/clusters/%E0/api', '/clusters/%/api/v1/pods', '/clusters/prod%ZZ', '/clusters//api', '/clusters/prod//evil/api']) {
    it(`answers ${path} with a 400 Status, on plain and upgrade requests`, async () => {
      const p = await startRelayPair(cleanup);
      const [plain] = await rawExchange(p.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mallory\r\n\r\n`, { count: 1 });
      expect(plain!.status).toBe(400);
      expect(plain!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_PATH_INVALID');
      const [upgrade] = await rawExchange(p.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mallory\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, { count: 1 });
      expect(upgrade!.status).toBe(400);
      expect(status(upgrade!).details?.causes?.[0]?.reason).toBe('HSR_ERR_RELAY_PATH_INVALID');
      expect(p.agentStreams).toHaveLength(0);
    });
  }

  it('refuses an upgrade request that carries a body', async () => {
    const p = await startRelayPair(cleanup);
    const [r] = await rawExchange(p.port, `GET ${PODS}/p/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello`, { count: 1 });
    expect(r!.status).toBe(400);
    expect(r!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_BODY_NOT_ALLOWED');
    expect(p.agentStreams).toHaveLength(0);
  });

  it('relays an upgrade: the server writes the 101 itself, then bytes flow raw both ways', async () => {
    const p = await startRelayPair(cleanup);
    const { connect } = await import('node:net');
    const socket = connect(p.port, '127.0.0.1');
    let text = '';
    const done = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\n') && !text.includes('ping')) socket.write('ping');
        if (text.includes('PING')) resolve();
      });
    });
    socket.write(`GET ${PODS}/p/exec?command=sh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nX-Hawser-User: hawser:root\r\n\r\n`);
    await done;
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(text.toLowerCase()).toContain('upgrade: websocket');
    const [seen] = await p.upstream.waitFor(1);
    expect(seen!.headers['impersonate-user']).toEqual(['hawser:alice']);
    expect(seen!.headers['x-hawser-user']).toBeUndefined();
  });

  it('answers 503 with HSR_ERR_AGENT_OUTDATED for an agent that does not read request heads, without opening a stream', async () => {
    const p = await startRelayPair(cleanup, { capable: false });
    const res = await get(p.port, PODS);
    expect(res.status).toBe(503);
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_AGENT_OUTDATED');
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 503 });
    expect(p.agentStreams).toHaveLength(0);
  });

  it('answers 503 with Retry-After, not 502, when the agent refuses the stream unprocessed (its session going away during a drain)', async () => {
    const p = await startRelayPair(cleanup, { onStream: (s: TunnelStream) => s.destroy(new HtnError(HtnErrorCode.STREAM_REFUSED, 'peer is going away')) });
    const res = await get(p.port, PODS);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 503 });
    expect(JSON.parse(res.body).message).toContain('the request was not processed');
  });

  it('answers 504 as a Status when the agent takes a request and never answers, and resets the stream', async () => {
    const p = await startRelayPair(cleanup, { onStream: (s: TunnelStream) => s.resume(), responseTimeoutMs: 300 });
    const started = performance.now();
    const res = await get(p.port, PODS);
    expect(res.status).toBe(504);
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_TIMEOUT');
    const body = JSON.parse(res.body) as { kind: string; code: number; message: string };
    expect(body).toMatchObject({ kind: 'Status', code: 504 });
    expect(body.message).toContain('cluster "prod" did not answer within');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    // The agent's stream is torn down with it: nothing keeps running in the cluster.
    expect(p.agentStreams).toHaveLength(1);
    await new Promise<void>((resolve) => (p.agentStreams[0]!.destroyed ? resolve() : p.agentStreams[0]!.once('close', () => resolve())));
    expect(p.audit).toHaveLength(1);
    expect(p.audit[0]).toMatchObject({ user: 'mallory', cluster: 'prod', verb: 'list', resource: 'pods', status: 504, reason: 'upstream timeout' });
  });

  it('records a request whose client leaves before the answer exactly once, and resets its stream', async () => {
    let arrived!: (s: TunnelStream) => void;
    const stream = new Promise<TunnelStream>((resolve) => (arrived = resolve));
    const p = await startRelayPair(cleanup, { onStream: (s: TunnelStream) => (s.resume(), arrived(s)) });
    const req = request({ host: '127.0.0.1', port: p.port, path: PODS, headers: { authorization: 'Bearer mallory' }, agent: false });
    req.on('error', () => {});
    req.end();
    const agentStream = await stream;
    req.destroy();
    await new Promise<void>((resolve) => (agentStream.destroyed ? resolve() : agentStream.once('close', () => resolve())));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(p.audit).toHaveLength(1);
    expect(p.audit[0]).toMatchObject({ user: 'mallory', status: 499, reason: 'client closed the connection before the response ended' });
  });

  it('answers 404 for an unknown cluster without opening a stream', async () => {
    const p = await startRelayPair(cleanup);
    const res = await get(p.port, '/clusters/nope/api/v1/pods');
    expect(res.status).toBe(404);
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_CLUSTER_NOT_FOUND');
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 404, message: 'cluster "nope" is not registered with Hawser' });
    expect(p.agentStreams).toHaveLength(0);
    expect(p.audit[0]).toMatchObject({ status: 404, cluster: 'nope' });
  });

  it('answers 400 for a target two HTTP stacks could read differently, without opening a stream, and audits what the API server would read', async () => {
    const s = await startRelayPair(cleanup);
    for (const target of ['/api/v1/namespaces/a/pods/p%2Fexec?command=id', '/api/v1//pods', '/api/v1/namespaces/a/pods/p/exec/..', '/api/v1/pods?watch=0&watch=1']) {
      // As given: a URL object would resolve the dot segments client-side.
      const res = await get(s.port, `/clusters/prod${target}`);
      expect(res.status, target).toBe(400);
      expect(res.headers['x-hawser-error'], target).toBe('HSR_ERR_RELAY_TARGET_AMBIGUOUS');
      expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 400, message: expect.stringContaining('Hawser refused this request target') as unknown });
    }
    expect(s.agentStreams).toHaveLength(0);
    expect(s.audit).toHaveLength(4);
    expect(s.audit[0]).toMatchObject({ status: 400, verb: 'get', resource: 'pods', name: 'p', subresource: 'exec', reason: expect.stringContaining('encoded "/"') as unknown });
  });
});
