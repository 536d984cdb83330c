import { describe, expect, it } from 'vitest';
import {
  MAX_REQUEST_HEAD_BYTES,
  ResponseHeadReader,
  StreamHeadError,
  decodeRequestHead,
  encodeRequestHead,
  encodeResponseHead,
  isForwardableRequestHeader,
  type RequestHead,
} from '../src/stream-head.js';
import { forwardableCookie } from '../src/relay-headers.js';

const head: RequestHead = {
  v: 1,
  method: 'GET',
  target: '/api/v1/namespaces/default/pods?watch=1&labelSelector=a%3Db',
  headers: [
    ['accept', 'application/json'],
    ['accept', 'application/yaml'],
    ['user-agent', 'kubectl/v1.36'],
  ],
  identity: { user: 'hawser:alice', groups: ['hawser:tier:read'], extra: { scopes: ['a', 'b'] } },
  requestId: '0b6f2c1e-6a51-4c2a-9d43-6e0c5d1f2a9b',
  bodyLength: 0,
};

const raw = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

describe('stream heads', () => {
  it('round-trips a request head, repeated headers and identity included', () => {
    expect(decodeRequestHead(encodeRequestHead(head))).toEqual(head);
    const shared: RequestHead = { ...head, identity: null, bodyLength: undefined, upgrade: 'SPDY/3.1' };
    delete shared.bodyLength;
    expect(decodeRequestHead(encodeRequestHead(shared))).toEqual(shared);
  });

  it('round-trips a response head split across chunks, with the body bytes that follow', () => {
    const bytes = Buffer.concat([encodeResponseHead({ v: 1, status: 200, statusText: 'OK', headers: [['content-type', 'application/json']] }), Buffer.from('{"a":1}')]);
    const reader = new ResponseHeadReader();
    let got: ReturnType<ResponseHeadReader['push']>;
    for (let i = 0; i < bytes.length && !got; i += 3) got = reader.push(bytes.subarray(i, i + 3));
    expect(got?.head).toEqual({ v: 1, status: 200, statusText: 'OK', headers: [['content-type', 'application/json']] });
    expect(got?.rest.length).toBeLessThanOrEqual(7);
  });

  const hostile: [string, unknown, RegExp][] = [
    ['another version', { ...head, v: 2 }, /version 2 is not supported/],
    ['no version', { ...head, v: undefined }, /version/],
    ['an unknown field', { ...head, admin: true }, /unknown field "admin"/],
    ['a method with a space', { ...head, method: 'GET /x' }, /method/],
    ['a target without a leading slash', { ...head, target: 'http://evil/api' }, /target/],
    ['a target with a space', { ...head, target: '/api HTTP/1.1' }, /target/],
    ['a target with CR LF', { ...head, target: '/api\r\nX-Hawser-User: x' }, /target/],
    ['a target with non-ASCII', { ...head, target: '/api/é' }, /target/],
    ['a header name with a colon', { ...head, headers: [['x-a:b', 'v']] }, /name/],
    ['a header name with a space', { ...head, headers: [['x a', 'v']] }, /name/],
    ['an empty header name', { ...head, headers: [['', 'v']] }, /name/],
    ['a header value with CR LF', { ...head, headers: [['x-a', 'v\r\nimpersonate-user: root']] }, /value/],
    ['a header value with LF', { ...head, headers: [['x-a', 'v\nx']] }, /value/],
    ['a header value with NUL', { ...head, headers: [['x-a', 'v\u0000']] }, /value/],
    ['a header value beyond latin-1', { ...head, headers: [['x-a', 'v\u0100']] }, /value/],
    ['a header that is not a pair', { ...head, headers: [['x-a']] }, /pair/],
    ['headers that are an object', { ...head, headers: { 'x-a': 'v' } }, /pairs/],
    ['a numeric header value', { ...head, headers: [['x-a', 1]] }, /string/],
    ['a user with CR LF', { ...head, identity: { user: 'hawser:a\r\nx: y', groups: [] } }, /identity\.user/],
    ['an empty user', { ...head, identity: { user: '', groups: [] } }, /identity\.user/],
    ['groups that are a string', { ...head, identity: { user: 'hawser:a', groups: 'hawser:tier:admin' } }, /groups/],
    ['a group with NUL', { ...head, identity: { user: 'hawser:a', groups: ['hawser:tier:read\u0000'] } }, /groups\[0\]/],
    ['an identity with an unknown field', { ...head, identity: { user: 'hawser:a', groups: [], admin: true } }, /unknown field/],
    ['an identity that is a string', { ...head, identity: 'hawser:a' }, /identity/],
    ['extra that is an array', { ...head, identity: { user: 'hawser:a', groups: [], extra: ['x'] } }, /extra/],
    ['a request id with spaces', { ...head, requestId: 'a b' }, /requestId/],
    ['a negative body length', { ...head, bodyLength: -1 }, /bodyLength/],
    ['a fractional body length', { ...head, bodyLength: 1.5 }, /bodyLength/],
    ['a body length as a string', { ...head, bodyLength: '10' }, /bodyLength/],
    ['an upgrade flag with CR LF', { ...head, upgrade: 'websocket\r\nx: y' }, /upgrade/],
    ['a head that is an array', [head], /must be an object/],
    ['a head that is null', null, /must be an object/],
  ];
  for (const [what, value, error] of hostile) {
    it(`refuses a request head with ${what}`, () => {
      expect(() => decodeRequestHead(raw(value))).toThrow(StreamHeadError);
      expect(() => decodeRequestHead(raw(value))).toThrow(error);
    });
  }

  it('refuses bytes that are not UTF-8 JSON, an empty payload and an HTTP request line', () => {
    expect(() => decodeRequestHead(Buffer.from('{"v":1,'))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeRequestHead(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeRequestHead(Buffer.alloc(0))).toThrow(/missing/);
    expect(() => decodeRequestHead(Buffer.from('GET /api HTTP/1.1\r\nX-Hawser-User: x\r\n\r\n'))).toThrow(/not UTF-8 JSON/);
  });

  it('refuses a head above the size limit on both ends, flagged as too large', () => {
    const big: RequestHead = { ...head, headers: Array.from({ length: 8 }, (_, i): [string, string] => [`x-big-${i}`, 'a'.repeat(4000)]) };
    let err: unknown;
    try {
      encodeRequestHead(big);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StreamHeadError);
    expect((err as StreamHeadError).tooLarge).toBe(true);
    expect(() => decodeRequestHead(raw(big))).toThrow(new RegExp(`more than the ${MAX_REQUEST_HEAD_BYTES}`));
  });

  it('keeps a "__proto__" extra key a key, never a prototype', () => {
    const decoded = decodeRequestHead(Buffer.from('{"v":1,"method":"GET","target":"/","headers":[],"requestId":"r","identity":{"user":"hawser:a","groups":[],"extra":{"__proto__":["x"]}}}'));
    expect(Object.getPrototypeOf(decoded.identity!.extra)).toBeNull();
    expect(decoded.identity!.extra!['__proto__']).toEqual(['x']);
  });

  it('refuses a response head that declares more than its limit, a bad status and CR LF in a value', () => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(0xffffffff);
    expect(() => new ResponseHeadReader().push(prefix)).toThrow(/declares/);
    const frame = (value: unknown): Buffer => {
      const json = raw(value);
      const p = Buffer.alloc(4);
      p.writeUInt32BE(json.length);
      return Buffer.concat([p, json]);
    };
    expect(() => new ResponseHeadReader().push(frame({ v: 1, status: 99, statusText: '', headers: [] }))).toThrow(/status/);
    expect(() => new ResponseHeadReader().push(frame({ v: 1, status: 200, statusText: '', headers: [['set-cookie', 'a\r\nb']] }))).toThrow(/value/);
    expect(() => new ResponseHeadReader().push(frame({ v: 1, status: 200, statusText: 'OK\r\n', headers: [] }))).toThrow(/statusText/);
  });

  it('forwards only headers that carry neither framing, credentials nor identity', () => {
    for (const name of ['authorization', 'Authorization', 'impersonate-user', 'Impersonate-Extra-Scopes', 'x-hawser-user', 'X-Hawser-Group', 'x-remote-user', 'x-remote-extra-a', 'host', 'transfer-encoding', 'content-length', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-authorization', 'expect']) {
      expect(isForwardableRequestHeader(name), name).toBe(false);
    }
    for (const name of ['accept', 'content-type', 'user-agent', 'x-stream-protocol-version', 'sec-websocket-key', 'audit-id']) {
      expect(isForwardableRequestHeader(name), name).toBe(true);
    }
  });
});

describe('forwardableCookie', () => {
  it("drops Hawser's own cookies and keeps the others in order", () => {
    expect(forwardableCookie('a=1; __Host-hawser-session=s;b=2 ; __Host-hawser-oidc=x')).toBe('a=1; b=2');
    expect(forwardableCookie('__Host-hawser-session=s')).toBeUndefined();
    expect(forwardableCookie('  ')).toBeUndefined();
    expect(forwardableCookie('hawser-session=s')).toBe('hawser-session=s');
  });
});
