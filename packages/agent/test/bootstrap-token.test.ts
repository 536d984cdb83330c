import { describe, expect, it } from 'vitest';
import { readBootstrapToken } from '../src/bootstrap-token.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: unknown) => `${b64({ alg: 'ES256' })}.${b64(claims)}.sig`;
const good = { cid: 'c1', cnm: 'prod', url: 'https://h:8444', cah: `sha256:${'a'.repeat(64)}`, exp: 2_000_000_000 };

describe('reading a bootstrap token', () => {
  it('returns the claims the agent needs to find and pin the server', () => {
    expect(readBootstrapToken(jwt(good))).toMatchObject(good);
  });

  it.each([
    ['not.a-jwt', /not a JWT/],
    ['a.!!!.c', /payload/],
    [jwt({ ...good, cid: undefined }), /cluster id/],
    [jwt({ ...good, url: 'http://h' }), /https server URL/],
    [jwt({ ...good, cah: 'sha256:zz' }), /CA hash/],
  ])('refuses a malformed token with a reason (%s)', (token, message) => {
    expect(() => readBootstrapToken(token)).toThrow(message);
  });
});
