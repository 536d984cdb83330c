import { request as httpsRequest } from 'node:https';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeResponseHead } from '@hawser/contract';
import type { TunnelStream } from '@hawser/protocol';
import { startRelayPair, type RelayPair } from './support/relay-pair.js';

/**
 * The operator listener over HTTP/2 (relay-listener.ts): ALPN h2 and
 * http/1.1 on one port, many relayed requests multiplexed over one
 * session, each on its own tunnel stream, and the same port still serving
 * HTTP/1.1 and its upgrades (exec, attach, port-forward).
 */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const WATCH = '/clusters/prod/api/v1/namespaces/default/pods?watch=1';
const PODS = '/clusters/prod/api/v1/namespaces/default/pods';
/** Fields RFC 9113 8.2.2 forbids in an HTTP/2 response. */
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

function session(p: RelayPair): ClientHttp2Session {
  const s = connect(`https://127.0.0.1:${p.port}`, { ca: p.ca });
  s.on('error', () => {});
  cleanup.push(() => s.destroy());
  return s;
}

/** An agent that answers every stream as a JSON watch with one ADDED event and keeps it open. */
function watchingAgent(stream: TunnelStream): void {
  stream.resume();
  stream.write(
    encodeResponseHead({
      v: 1,
      status: 200,
      statusText: 'OK',
      headers: [
        ['content-type', 'application/json'],
        ['transfer-encoding', 'chunked'],
        ['connection', 'keep-alive'],
        ['keep-alive', 'timeout=5'],
      ],
    }),
  );
  stream.write(`${JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', metadata: { name: `p${stream.id}` } } })}\n`);
}

interface OpenWatch {
  stream: ClientHttp2Stream;
  headers: IncomingHttpHeaders;
  /** Lines received so far. */
  lines: string[];
  /** Resolves once the response body ended (or the stream closed). */
  ended: Promise<void>;
  /** Resolves when `n` lines have arrived. */
  lineCount(n: number): Promise<void>;
}

function openWatch(s: ClientHttp2Session, path = WATCH): Promise<OpenWatch> {
  return new Promise((resolve, reject) => {
    const stream = s.request({ ':path': path, authorization: 'Bearer mallory' }, { endStream: true });
    stream.setEncoding('utf8');
    const lines: string[] = [];
    const waiters: (() => void)[] = [];
    let buf = '';
    stream.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      for (const w of waiters.splice(0)) w();
    });
    stream.on('error', () => {});
    const ended = new Promise<void>((r) => stream.once('close', () => r()));
    stream.once('response', (headers) => {
      resolve({
        stream,
        headers,
        lines,
        ended,
        lineCount: (n) =>
          new Promise((r) => {
            const check = (): void => (lines.length >= n ? r() : void waiters.push(check));
            check();
          }),
      });
    });
    stream.once('close', () => reject(new Error('stream closed before a response')));
  });
}

function closed(s: TunnelStream): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
}

describe('the operator listener over HTTP/2', () => {
  it('carries 100 concurrent watches over one connection, each on its own tunnel stream, without connection-specific headers', async () => {
    const p = await startRelayPair(cleanup, { http2: true, onStream: watchingAgent });
    const s = session(p);
    const watches = await Promise.all(Array.from({ length: 100 }, () => openWatch(s)));
    await Promise.all(watches.map((w) => w.lineCount(1)));
    expect(p.connections!()).toBe(1);
    expect(p.agentStreams).toHaveLength(100);
    for (const w of watches) {
      expect(w.headers[':status']).toBe(200);
      expect(w.headers['content-type']).toBe('application/json');
      for (const name of CONNECTION_SPECIFIC) expect(w.headers[name], name).toBeUndefined();
      expect(JSON.parse(w.lines[0]!)).toMatchObject({ type: 'ADDED' });
    }
    // A hundred streams on a shared 2-core machine: more than the default 5 s.
  }, 30_000);

  it('resets the tunnel stream of a watch whose HTTP/2 stream the client cancels, and only that one', async () => {
    const p = await startRelayPair(cleanup, { http2: true, onStream: watchingAgent });
    const s = session(p);
    const [a, b] = await Promise.all([openWatch(s), openWatch(s)]);
    await Promise.all([a!.lineCount(1), b!.lineCount(1)]);
    a!.stream.close(constants.NGHTTP2_CANCEL);
    await closed(p.agentStreams[0]!);
    expect(p.agentStreams[1]!.destroyed).toBe(false);
    expect(p.audit).toHaveLength(1);
    expect(p.audit[0]).toMatchObject({ user: 'mallory', verb: 'watch', status: 200, reason: 'client closed the connection before the response ended' });
    // The session and the other watch go on.
    expect(s.closed).toBe(false);
    expect(b!.stream.closed).toBe(false);
  });

  it('ends a watch whose tunnel stream the agent resets with an in-stream ERROR event, over HTTP/2', async () => {
    const p = await startRelayPair(cleanup, { http2: true, onStream: watchingAgent });
    const s = session(p);
    const w = await openWatch(s);
    await w.lineCount(1);
    p.agentStreams[0]!.destroy(new Error('agent reset'));
    await w.ended;
    expect(w.lines).toHaveLength(2);
    const error = JSON.parse(w.lines[1]!) as { type: string; object: { kind: string; code: number; message: string } };
    expect(error).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 503 } });
    expect(error.object.message).toContain('cluster "prod"');
    expect(w.stream.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
  });

  it('relays a GET and a POST of unknown length through the real agent, with no HTTP/2 pseudo-header reaching the API server', async () => {
    const p = await startRelayPair(cleanup, { http2: true });
    const s = session(p);
    const got = await exchange(s, { ':path': PODS, authorization: 'Bearer alice' });
    expect(got.headers[':status']).toBe(200);
    expect(got.headers['x-upstream']).toBe('yes');
    expect(JSON.parse(got.body)).toMatchObject({ method: 'GET', url: '/api/v1/namespaces/default/pods', user: ['hawser:alice'] });
    // A body with no Content-Length: DATA frames until END_STREAM.
    const body = Buffer.alloc(100_000, 'x');
    const posted = await exchange(s, { ':path': PODS, ':method': 'POST', authorization: 'Bearer alice', 'content-type': 'application/json' }, [body.subarray(0, 40_000), body.subarray(40_000)]);
    expect(posted.headers[':status']).toBe(200);
    expect(JSON.parse(posted.body)).toMatchObject({ method: 'POST', bodyBytes: 100_000 });
    const seen = await p.upstream.waitFor(2);
    for (const r of seen) expect(r.rawNames.filter((n) => n.startsWith(':'))).toEqual([]);
    expect(seen[1]!.body.equals(body)).toBe(true);
  });

  it('relays a GET whose HEADERS frame did not end the stream as a GET without a body', async () => {
    const p = await startRelayPair(cleanup, { http2: true });
    const s = session(p);
    const got = await exchange(s, { ':path': PODS, authorization: 'Bearer alice' }, [], false);
    expect(got.headers[':status']).toBe(200);
    expect(JSON.parse(got.body)).toMatchObject({ method: 'GET', bodyBytes: 0 });
  });

  it('still serves HTTP/1.1 and its upgrades on the same port', async () => {
    const p = await startRelayPair(cleanup, { http2: true });
    const plain = await new Promise<{ status: number; version: string; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: p.port, path: PODS, ca: p.ca, headers: { authorization: 'Bearer alice' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(plain).toMatchObject({ status: 200, version: '1.1' });
    expect(JSON.parse(plain.body)).toMatchObject({ method: 'GET' });
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1',
        port: p.port,
        path: '/clusters/prod/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true',
        method: 'POST',
        ca: p.ca,
        agent: false,
        headers: { authorization: 'Bearer alice', connection: 'Upgrade', upgrade: 'websocket' },
      });
      req.on('upgrade', (res, socket) => {
        expect(res.statusCode).toBe(101);
        socket.once('data', (d: Buffer) => {
          resolve(d.toString());
          socket.destroy();
        });
        socket.write('hello');
      });
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(echoed).toBe('HELLO');
  });
});

function exchange(s: ClientHttp2Session, headers: Record<string, string>, body: Buffer[] = [], endStream = body.length === 0): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = s.request(headers, { endStream });
    let got: IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (got = h));
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => resolve({ headers: got, body: text }));
    stream.on('error', reject);
    if (!endStream) {
      for (const b of body) stream.write(b);
      stream.end();
    }
  });
}
