import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, exportJWK, type JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { ServiceAccountJoin } from '../src/registration/service-account-join.js';
import { clusterJoinInput } from '../src/registration/cluster-join.js';
import type { ClusterJoinRecord } from '../src/store/store.js';
import { isServerError } from '../src/index.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const SUBJECT = 'system:serviceaccount:hawser-system:hawser-agent';
const AUDIENCE = 'https://hawser.example:8444';

function issuerKey(kid: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: async () => ({ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }) };
}

async function token(key: ReturnType<typeof issuerKey>, over: Partial<{ iss: string; sub: string; aud: string; exp: number }> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(over.iss ?? ISSUER)
    .setSubject(over.sub ?? SUBJECT)
    .setAudience(over.aud ?? AUDIENCE)
    .setIssuedAt(now - 10)
    .setExpirationTime(over.exp ?? now + 600)
    .sign(key.privateKey);
}

function record(jwks: JSONWebKeySet | null): ClusterJoinRecord {
  return { clusterId: '6b1c3f1e-0000-4000-8000-000000000001', issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, discoveryUrl: null, discoveryCa: null, jwks: jwks as unknown as Record<string, unknown> | null };
}

describe('joining with a ServiceAccount token', () => {
  it('accepts a token of the issuer for the exact ServiceAccount and audience, and names the reason of every refusal', async () => {
    const key = issuerKey('k1');
    const other = issuerKey('k1');
    const join = record({ keys: [await key.jwk()] });
    const verifier = new ServiceAccountJoin();
    expect((await verifier.verify(join, await token(key))).ok).toBe(true);
    const reasons = async (t: string) => {
      const r = await verifier.verify(join, t);
      return r.ok ? 'accepted' : r.reason;
    };
    expect(await reasons(await token(key, { exp: Math.floor(Date.now() / 1000) - 60 }))).toBe('expired');
    expect(await reasons(await token(key, { aud: 'https://elsewhere.example' }))).toBe('wrong-audience');
    expect(await reasons(await token(key, { iss: 'https://other-issuer.example' }))).toBe('wrong-issuer');
    expect(await reasons(await token(key, { sub: 'system:serviceaccount:hawser-system:default' }))).toBe('wrong-service-account');
    expect(await reasons(await token(other))).toBe('bad-signature');
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, sub: SUBJECT, aud: AUDIENCE, exp: 9e9, iat: 1 })).toString('base64url')}.`;
    expect(await reasons(unsigned)).not.toBe('accepted');
    expect(await reasons('x'.repeat(9000))).toBe('malformed');
  });

  it('fetches discovered keys again for an unknown key id (the issuer rotated its key), and caches them otherwise', async () => {
    const first = issuerKey('old');
    const second = issuerKey('new');
    let published: JSONWebKeySet = { keys: [await first.jwk()] };
    let fetches = 0;
    const verifier = new ServiceAccountJoin({ discover: async () => (fetches++, published) });
    expect((await verifier.verify(record(null), await token(first))).ok).toBe(true);
    expect((await verifier.verify(record(null), await token(first))).ok).toBe(true);
    expect(fetches).toBe(1);
    published = { keys: [await second.jwk()] };
    // Within 10 s of the last fetch an unknown kid is refused without hammering the issuer.
    expect((await verifier.verify(record(null), await token(second))).ok).toBe(false);
    expect(fetches).toBe(1);
  });

  it('refuses a join request that would trust private keys, a non-https issuer without a JWKS, or a malformed ServiceAccount', async () => {
    const key = issuerKey('k');
    const jwk = await key.jwk();
    const refused = async (input: Record<string, unknown>) => {
      try {
        await clusterJoinInput(input, AUDIENCE);
        return 'accepted';
      } catch (err) {
        return isServerError(err) ? err.code : String(err);
      }
    };
    expect(await refused({ method: 'kubernetes', issuer: ISSUER, jwks: { keys: [{ ...jwk, d: 'secret' }] } })).toBe('HSR_ERR_JOIN_CONFIG_INVALID');
    expect(await refused({ method: 'kubernetes', issuer: 'http://plain.example' })).toBe('HSR_ERR_JOIN_CONFIG_INVALID');
    expect(await refused({ method: 'kubernetes', issuer: ISSUER, jwks: { keys: [jwk] }, serviceAccount: 'Bad:Name' })).toBe('HSR_ERR_JOIN_CONFIG_INVALID');
    expect(await refused({ method: 'oidc', issuer: ISSUER })).toBe('HSR_ERR_JOIN_CONFIG_INVALID');
    const ok = await clusterJoinInput({ method: 'kubernetes', issuer: ISSUER, jwks: { keys: [jwk] }, serviceAccount: 'team-a:agent' }, AUDIENCE);
    expect(ok).toMatchObject({ subject: 'system:serviceaccount:team-a:agent', audience: AUDIENCE, discoveryUrl: null });
  });
});
