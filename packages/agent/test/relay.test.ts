import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryTransportPair, Session, type TunnelStream } from '@hawser/protocol';
import { Policy } from '../src/policy.js';
import { Relay } from '../src/relay.js';
import { REQUEST_HEAD_CAPABILITY, ResponseHeadReader, encodeRequestHead, type RequestHead, type ResponseHead } from '@hawser/contract';
import { startRecordingUpstream, type RecordingUpstream } from './support/recording-upstream.js';

/**
 * The agent's relay on its own: streams opened by a bare server session
 * with hand-made heads (and hand-made garbage), a real HTTPS upstream on
 * 127.0.0.1 that records what arrives.
 */
interface Setup {
  server: Session;
  upstream: RecordingUpstream;
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(): Promise<Setup> {
  const upstream = await startRecordingUpstream();
  cleanup.push(() => upstream.close());
  const [agentSide, serverSide] = createMemoryTransportPair();
  const agent = new Session(agentSide, { role: 'client', software: 'hawser-agent/test', capabilities: [REQUEST_HEAD_CAPABILITY] });
  const server = new Session(serverSide, { role: 'server', software: 'hawser-server/test' });
  await Promise.all([agent.ready, server.ready]);
  const relay = new Relay({
    target: { url: upstream.url, agent: upstream.agent, authorization: () => 'Bearer agent-sa-token' },
    policy: new Policy({ mode: 'full', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: ['secrets'] }),
    log: pino({ level: 'silent' }),
  });
  agent.on('stream', (s: TunnelStream) => relay.accept(s));
  cleanup.push(() => agent.destroy(), () => server.destroy());
  return { server, upstream };
}

const base: RequestHead = {
  v: 1,
  method: 'GET',
  target: '/api/v1/namespaces/default/pods',
  headers: [['accept', 'application/json']],
  identity: { user: 'hawser:alice', groups: ['hawser:tier:read'] },
  requestId: 'req-1',
  bodyLength: 0,
};

interface Answer {
  head?: ResponseHead;
  body: Buffer;
  reset?: Error;
}

/** Opens one stream with `payload`, sends `body`, reads the answer to its end or reset. */
function exchange(server: Session, payload: Buffer, body?: Buffer): Promise<Answer> {
  const stream = server.openStream(payload);
  const reader = new ResponseHeadReader();
  const answer: Answer = { body: Buffer.alloc(0) };
  return new Promise((resolve) => {
    stream.on('data', (d: Buffer) => {
      if (answer.head) answer.body = Buffer.concat([answer.body, d]);
      else {
        const got = reader.push(d);
        if (got) {
          answer.head = got.head;
          answer.body = got.rest;
        }
      }
    });
    stream.on('error', (err) => {
      answer.reset = err;
      resolve(answer);
    });
    stream.on('end', () => resolve(answer));
    stream.end(body);
  });
}

const header = (a: Answer, name: string): string | undefined => a.head?.headers.find(([n]) => n === name)?.[1];

describe('Relay (agent)', () => {
  it('sends the head as one request with the identity of the head and the agent credential, nothing else', async () => {
    const s = await setup();
    const a = await exchange(s.server, encodeRequestHead(base));
    expect(a.head?.status).toBe(200);
    expect(header(a, 'x-upstream')).toBe('yes');
    const [seen] = await s.upstream.waitFor(1);
    expect(seen).toMatchObject({ method: 'GET', url: '/api/v1/namespaces/default/pods' });
    expect(seen!.headers['impersonate-user']).toEqual(['hawser:alice']);
    expect(seen!.headers['impersonate-group']).toEqual(['hawser:tier:read']);
    expect(seen!.headers['impersonate-extra-hawser.dev%2frequest-id']).toEqual(['req-1']);
    expect(seen!.headers.authorization).toEqual(['Bearer agent-sa-token']);
  });

  // Headers a compromised or buggy server might pass: the agent drops every
  // one of them; only the head's identity reaches the API server.
  const dropped: [string, string][] = [
    ['x-hawser-user', 'hawser:mallory'],
    ['x-hawser-group', 'hawser:tier:admin'],
    ['x-hawser-request-id', 'forged'],
    ['impersonate-user', 'system:admin'],
    ['impersonate-group', 'system:masters'],
    ['impersonate-uid', '0'],
    ['impersonate-extra-scopes', 'all'],
    ['authorization', 'Bearer stolen'],
    ['x-remote-user', 'admin'],
    ['x-remote-group', 'system:masters'],
    ['x-remote-extra-scopes', 'all'],
    ['host', 'evil.example'],
    ['transfer-encoding', 'chunked'],
    ['content-length', '999'],
    ['connection', 'keep-alive, x-keep'],
  ];
  for (const [name, value] of dropped) {
    it(`drops a forwarded "${name}" header and keeps the head's identity`, async () => {
      const s = await setup();
      const a = await exchange(s.server, encodeRequestHead({ ...base, headers: [[name, value], ['accept', 'application/json']] }));
      expect(a.head?.status).toBe(200);
      const [seen] = await s.upstream.waitFor(1);
      expect(seen!.headers[name] ?? []).not.toContain(value);
      expect(seen!.headers['impersonate-user']).toEqual(['hawser:alice']);
      expect(seen!.headers['impersonate-group']).toEqual(['hawser:tier:read']);
      expect(seen!.headers.authorization).toEqual(['Bearer agent-sa-token']);
      expect(seen!.body.length).toBe(0);
    });
  }

  // Streams without a valid head are reset; nothing reaches the API server.
  const invalid: [string, Buffer][] = [
    ['no head at all (an old server speaking HTTP on the stream)', Buffer.alloc(0)],
    ['an HTTP request as the head', Buffer.from('GET /api HTTP/1.1\r\nX-Hawser-User: hawser:mallory\r\n\r\n')],
    ['a head of another version', Buffer.from(JSON.stringify({ ...base, v: 2 }))],
    ['a header value with CR LF', Buffer.from(JSON.stringify({ ...base, headers: [['x-a', 'b\r\nImpersonate-User: system:admin']] }))],
    ['a target with a space', Buffer.from(JSON.stringify({ ...base, target: '/api HTTP/1.1' }))],
    ['groups as a string', Buffer.from(JSON.stringify({ ...base, identity: { user: 'hawser:a', groups: 'hawser:tier:admin' } }))],
  ];
  for (const [what, payload] of invalid) {
    it(`resets a stream with ${what} and sends nothing upstream`, async () => {
      const s = await setup();
      const a = await exchange(s.server, payload, Buffer.from('GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n'));
      expect(a.head).toBeUndefined();
      expect(a.reset?.message).toContain('HAG_ERR_REQUEST_HEAD_INVALID');
      expect(s.upstream.seen).toHaveLength(0);
    });
  }

  it('relays a body that is itself an HTTP request as opaque bytes of the one request', async () => {
    const s = await setup();
    const smuggled = Buffer.from('GET /api/v1/namespaces/default/secrets/x HTTP/1.1\r\nHost: k\r\nX-Hawser-User: hawser:mallory\r\nImpersonate-User: system:admin\r\n\r\n');
    const a = await exchange(s.server, encodeRequestHead({ ...base, method: 'POST', target: '/api/v1/namespaces/default/configmaps', headers: [['content-type', 'application/json']], bodyLength: smuggled.length }), smuggled);
    expect(a.head?.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.upstream.seen).toHaveLength(1);
    expect(s.upstream.seen[0]!.body.equals(smuggled)).toBe(true);
    expect(s.upstream.seen[0]!.headers['content-length']).toEqual([String(smuggled.length)]);
    expect(s.upstream.seen[0]!.headers['impersonate-user']).toEqual(['hawser:alice']);
  });

  it('frames a DELETE body of unknown length as chunked toward the API server', async () => {
    const s = await setup();
    const options = Buffer.from('{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}');
    const head = { ...base, method: 'DELETE', target: '/api/v1/namespaces/default/configmaps/a' };
    delete (head as Partial<RequestHead>).bodyLength;
    const a = await exchange(s.server, encodeRequestHead(head), options);
    expect(a.head?.status).toBe(200);
    const [seen] = await s.upstream.waitFor(1);
    expect(seen!.headers['transfer-encoding']).toEqual(['chunked']);
    expect(seen!.body.equals(options)).toBe(true);
  });

  it('aborts the request and resets the stream when the body is longer than declared', async () => {
    const s = await setup();
    const a = await exchange(s.server, encodeRequestHead({ ...base, method: 'POST', target: '/api/v1/namespaces/default/configmaps', bodyLength: 4 }), Buffer.from('12345678'));
    expect(a.reset?.message).toContain('HAG_ERR_REQUEST_BODY_MISMATCH');
    // Cut before a byte of it left: the API server saw no complete request.
    expect(s.upstream.seen.filter((r) => !r.aborted)).toHaveLength(0);
  });

  it('aborts the request and resets the stream when the body is shorter than declared', async () => {
    const s = await setup();
    const a = await exchange(s.server, encodeRequestHead({ ...base, method: 'POST', target: '/api/v1/namespaces/default/configmaps', bodyLength: 100 }), Buffer.from('1234'));
    expect(a.reset?.message).toContain('HAG_ERR_REQUEST_BODY_MISMATCH');
    expect(s.upstream.seen.filter((r) => !r.aborted)).toHaveLength(0);
  });

  it('answers a policy refusal as a 403 Status with its code, without asking the API server', async () => {
    const s = await setup();
    const a = await exchange(s.server, encodeRequestHead({ ...base, target: '/api/v1/namespaces/default/secrets' }));
    expect(a.head?.status).toBe(403);
    expect(header(a, 'x-hawser-error')).toBe('HAG_ERR_POLICY_DENIED');
    const status = JSON.parse(a.body.toString()) as { kind: string; details: { causes: { reason: string }[] } };
    expect(status.kind).toBe('Status');
    expect(status.details.causes[0]!.reason).toBe('HAG_ERR_POLICY_DENIED');
    // The rule travels as a header too: the server counts refusals by it.
    expect(header(a, 'x-hawser-rule')).toBe(status.details.causes[1]!.reason);
    expect(header(a, 'x-hawser-rule')).toMatch(/^[a-z-]+$/);
    expect(s.upstream.seen).toHaveLength(0);
  });

  it('refuses an identity outside the prefix even when the head is well formed', async () => {
    const s = await setup();
    const a = await exchange(s.server, encodeRequestHead({ ...base, identity: { user: 'system:admin', groups: ['system:masters'] } }));
    expect(a.head?.status).toBe(403);
    expect(s.upstream.seen).toHaveLength(0);
  });

  it('upgrades when the head asks: a 101 head, then raw bytes both ways', async () => {
    const s = await setup();
    const stream = s.server.openStream(encodeRequestHead({ ...base, target: '/api/v1/namespaces/default/pods/p/exec?command=sh', upgrade: 'websocket', headers: [['sec-websocket-key', 'abc']] }));
    const reader = new ResponseHeadReader();
    let head: ResponseHead | undefined;
    let after = '';
    const echoed = new Promise<void>((resolve) => {
      stream.on('data', (d: Buffer) => {
        if (!head) {
          const got = reader.push(d);
          if (!got) return;
          head = got.head;
          after += got.rest.toString();
          stream.write('hello');
        } else after += d.toString();
        if (after.includes('HELLO')) resolve();
      });
    });
    await echoed;
    expect(head?.status).toBe(101);
    expect(head?.headers).toContainEqual(['upgrade', 'websocket']);
    const [seen] = await s.upstream.waitFor(1);
    expect(seen!.headers.upgrade).toEqual(['websocket']);
    expect(seen!.headers['sec-websocket-key']).toEqual(['abc']);
    expect(seen!.headers['impersonate-user']).toEqual(['hawser:alice']);
    stream.destroy();
  });
});
