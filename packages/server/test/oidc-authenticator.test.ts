import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcAuthenticator } from '../src/auth/oidc-authenticator.js';

/** A minimal OIDC issuer on loopback: discovery document and a JWKS whose keys a test can rotate. */
describe('OIDC ID tokens', () => {
  let server: Server;
  let issuer: string;
  let jwks: { keys: JWK[] };
  let jwksFetches = 0;
  let key1: Awaited<ReturnType<typeof generateKeyPair>>;
  let key2: Awaited<ReturnType<typeof generateKeyPair>>;

  beforeAll(async () => {
    key1 = await generateKeyPair('ES256');
    key2 = await generateKeyPair('RS256');
    jwks = { keys: [{ ...(await exportJWK(key1.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') {
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      } else if (req.url === '/jwks') {
        jwksFetches++;
        res.end(JSON.stringify(jwks));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const auth = () => new OidcAuthenticator({ issuer, audience: 'hawser', usernameClaim: 'email', groupsClaim: 'groups', clockSkewSeconds: 60, jwksCooldownMs: 0 });
  const sign = (claims: Record<string, unknown>, key = key1, kid = 'k1', alg = 'ES256') =>
    new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuer(issuer).setAudience('hawser').setIssuedAt().setExpirationTime('5m').sign(key.privateKey);

  it('accepts a valid token and reads the user and groups claims', async () => {
    const id = await auth().verify(await sign({ email: 'alice@example.com', groups: ['sre', 42, 'dev'] }));
    expect(id).toEqual({ username: 'alice@example.com', groups: ['sre', 'dev'], via: 'oidc', credentialId: `oidc:${issuer}#name:alice@example.com` });
    // The credential is the subject when there is one: what a revocation ends (operator-streams.ts).
    const withSub = await auth().verify(await sign({ sub: 'u-123', email: 'alice@example.com' }));
    expect(withSub.credentialId).toBe(`oidc:${issuer}#u-123`);
  });

  it('refuses a wrong audience, a wrong issuer, an expired token and a missing user claim', async () => {
    const a = auth();
    await expect(a.verify(await new SignJWT({ email: 'a' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience('other').setExpirationTime('5m').sign(key1.privateKey))).rejects.toThrow(/aud/);
    await expect(a.verify(await new SignJWT({ email: 'a' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://evil').setAudience('hawser').setExpirationTime('5m').sign(key1.privateKey))).rejects.toThrow(/iss/);
    const past = Math.floor(Date.now() / 1000) - 3600;
    await expect(a.verify(await new SignJWT({ email: 'a' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience('hawser').setExpirationTime(past).sign(key1.privateKey))).rejects.toThrow(/exp/);
    await expect(a.verify(await sign({ sub: 'x' }))).rejects.toThrow(/"email" claim/);
  });

  it('refuses alg none and an HMAC token signed with the public key (algorithm confusion)', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = { email: 'mallory', iss: issuer, aud: 'hawser', exp: Math.floor(Date.now() / 1000) + 300 };
    const none = `${b64({ alg: 'none', kid: 'k1' })}.${b64(payload)}.`;
    await expect(auth().verify(none)).rejects.toThrow();
    const pub = JSON.stringify(jwks.keys[0]);
    const hs = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(pub));
    await expect(auth().verify(hs)).rejects.toThrow(/alg/);
  });

  it('refetches the key set when a token names a key id it has not seen (key rotation)', async () => {
    const a = auth();
    await a.verify(await sign({ email: 'a' }));
    const before = jwksFetches;
    jwks.keys.push({ ...(await exportJWK(key2.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' });
    const id = await a.verify(await sign({ email: 'b' }, key2, 'k2', 'RS256'));
    expect(id.username).toBe('b');
    expect(jwksFetches).toBe(before + 1);
    // Known keys are served from the cache.
    await a.verify(await sign({ email: 'c' }));
    expect(jwksFetches).toBe(before + 1);
  });
});
