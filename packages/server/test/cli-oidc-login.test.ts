import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { currentIdToken, execCredential } from '../src/cli/oidc-exec-credential.js';
import { LoopbackRedirect } from '../src/cli/oidc-loopback.js';
import { codeChallenge, pkceAttempt } from '../src/cli/oidc-pkce.js';
import { OidcProviderClient } from '../src/cli/oidc-provider-client.js';
import { OidcTokenCache } from '../src/cli/oidc-token-cache.js';
import { runCli } from './support/cli-run.js';
import { httpsJson, startServer, tempDir } from './support/harness.js';

const ISSUER = 'https://idp.example';
const CLIENT = 'hawser-cli';

/** An unsigned JWT with these claims: the CLI decodes, the server verifies signatures. */
function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ iss: ISSUER, aud: CLIENT, sub: 'dana', email: 'dana@example.com', ...claims })}.`;
}
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

/** GET on loopback; resolves with status and body. */
function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('hawser login --oidc: PKCE and the loopback redirect', () => {
  it('derives the S256 code challenge as RFC 7636 appendix B does', () => {
    expect(codeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('sends the challenge of its verifier, a fresh state and nonce, and asks for consent when it wants a refresh token', () => {
    const a = pkceAttempt({ authorizationEndpoint: `${ISSUER}/auth?x=1`, clientId: CLIENT, redirectUri: 'http://127.0.0.1:1234/callback', scopes: ['openid', 'offline_access'] });
    const b = pkceAttempt({ authorizationEndpoint: `${ISSUER}/auth`, clientId: CLIENT, redirectUri: 'http://127.0.0.1:1234/callback', scopes: ['openid'] });
    const q = new URL(a.url).searchParams;
    expect(Object.fromEntries(q)).toMatchObject({
      x: '1',
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: 'http://127.0.0.1:1234/callback',
      scope: 'openid offline_access',
      state: a.state,
      nonce: a.nonce,
      code_challenge: codeChallenge(a.verifier),
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
    expect(a.verifier).toHaveLength(43);
    expect(q.has('code_verifier')).toBe(false);
    expect(new URL(b.url).searchParams.has('prompt')).toBe(false);
    expect(new Set([a.state, b.state, a.nonce, b.nonce, a.verifier, b.verifier]).size).toBe(6);
  });

  it('refuses a redirect whose state this sign-in did not send, and tells the browser why', async () => {
    const loopback = await LoopbackRedirect.listen();
    expect(loopback.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const code = loopback.code('the-real-state', 10_000);
    const refused = expect(code).rejects.toMatchObject({ code: 'HSR_ERR_OIDC_LOGIN_FAILED', message: expect.stringContaining('state this sign-in did not send') });
    const page = await fetchText(`${loopback.redirectUri}?code=stolen&state=forged`);
    expect(page.status).toBe(400);
    expect(page.body).toContain('Sign-in failed');
    await refused;
  });

  it('takes the code of the redirect with its state, and reports a refusal by the provider in its words', async () => {
    const ok = await LoopbackRedirect.listen();
    const code = ok.code('s1', 10_000);
    expect((await fetchText(new URL('/favicon.ico', ok.redirectUri).toString())).status).toBe(404);
    expect((await fetchText(`${ok.redirectUri}?code=c0de&state=s1`)).status).toBe(200);
    await expect(code).resolves.toBe('c0de');

    const denied = await LoopbackRedirect.listen();
    const refused = expect(denied.code('s2', 10_000)).rejects.toThrow('the OpenID provider refused the sign-in: access_denied (user said no)');
    await fetchText(`${denied.redirectUri}?error=access_denied&error_description=user+said+no&state=s2`);
    await refused;
  });

  it('gives up after the timeout with a sentence saying so', async () => {
    const loopback = await LoopbackRedirect.listen();
    await expect(loopback.code('s', 50)).rejects.toMatchObject({ code: 'HSR_ERR_OIDC_LOGIN_FAILED', message: expect.stringContaining('no sign-in arrived') });
  });
});

describe('hawser oidc-token: the ExecCredential and its refresh', () => {
  let provider: Server;
  let tokenEndpoint: string;
  const requests: URLSearchParams[] = [];
  let answer: () => { status: number; body: Record<string, unknown> } = () => ({ status: 500, body: {} });
  const dir = tempDir('hawser-oidc-cache-');

  beforeAll(async () => {
    provider = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        requests.push(new URLSearchParams(body));
        const a = answer();
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    tokenEndpoint = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/token`;
  });
  afterAll(() => {
    provider.close();
    dir.remove();
  });
  afterEach(() => {
    requests.length = 0;
  });

  const cacheOf = (name: string) => new OidcTokenCache(join(dir.path, name), ISSUER, CLIENT);
  const client = new OidcProviderClient(ISSUER, CLIENT);

  it('prints a client.authentication.k8s.io/v1 ExecCredential that expires a minute before the token', () => {
    const exp = inSeconds(3600);
    const out = JSON.parse(execCredential('the-id-token', exp)) as Record<string, unknown>;
    expect(out).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'the-id-token', expirationTimestamp: new Date((exp - 60) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
    });
  });

  it('hands out the cached ID token while it has more than a minute left, without asking the provider', async () => {
    const cache = cacheOf('fresh');
    const idToken = jwt({ exp: inSeconds(600) });
    cache.write({ issuer: ISSUER, clientId: CLIENT, tokenEndpoint, idToken, refreshToken: 'r1' });
    expect(statSync(cache.path).mode & 0o777).toBe(0o600);
    await expect(currentIdToken({ cache, client, issuer: ISSUER, clientId: CLIENT })).resolves.toMatchObject({ idToken });
    expect(requests).toHaveLength(0);
  });

  it('refreshes an ID token near expiry with the refresh token, and caches the new one and the rotated refresh token (0600)', async () => {
    const cache = cacheOf('near');
    cache.write({ issuer: ISSUER, clientId: CLIENT, tokenEndpoint, idToken: jwt({ exp: inSeconds(30) }), refreshToken: 'r1' });
    const next = jwt({ exp: inSeconds(3600) });
    answer = () => ({ status: 200, body: { id_token: next, refresh_token: 'r2', token_type: 'Bearer' } });
    await expect(currentIdToken({ cache, client, issuer: ISSUER, clientId: CLIENT })).resolves.toMatchObject({ idToken: next });
    expect(requests.map((r) => Object.fromEntries(r))).toEqual([{ grant_type: 'refresh_token', refresh_token: 'r1', client_id: CLIENT }]);
    expect(cache.read()).toMatchObject({ idToken: next, refreshToken: 'r2' });
    expect(statSync(cache.path).mode & 0o777).toBe(0o600);
    expect(existsSync(`${cache.path}.lock`)).toBe(false);
  });

  it('refreshes once for parallel kubectl runs that all find the token stale', async () => {
    const cache = cacheOf('parallel');
    cache.write({ issuer: ISSUER, clientId: CLIENT, tokenEndpoint, idToken: jwt({ exp: inSeconds(-5) }), refreshToken: 'r1' });
    const next = jwt({ exp: inSeconds(3600) });
    answer = () => ({ status: 200, body: { id_token: next } });
    const all = await Promise.all([1, 2, 3].map(() => currentIdToken({ cache, client, issuer: ISSUER, clientId: CLIENT })));
    expect(all.map((t) => t.idToken)).toEqual([next, next, next]);
    expect(requests).toHaveLength(1);
    // No rotation: the old refresh token stays.
    expect(cache.read()?.refreshToken).toBe('r1');
  });

  it('asks for a new sign-in when the provider refuses the refresh token, or there is none', async () => {
    const cache = cacheOf('refused');
    cache.write({ issuer: ISSUER, clientId: CLIENT, tokenEndpoint, idToken: jwt({ exp: inSeconds(-5) }), refreshToken: 'revoked' });
    answer = () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
    await expect(currentIdToken({ cache, client, issuer: ISSUER, clientId: CLIENT })).rejects.toMatchObject({
      code: 'HSR_ERR_OIDC_LOGIN_REQUIRED',
      message: expect.stringContaining('invalid_grant (grant request is invalid)'),
    });
    const none = cacheOf('no-refresh');
    none.write({ issuer: ISSUER, clientId: CLIENT, tokenEndpoint, idToken: jwt({ exp: inSeconds(-5) }) });
    await expect(currentIdToken({ cache: none, client, issuer: ISSUER, clientId: CLIENT })).rejects.toThrow('run hawser login --oidc again');
  });

  it('as a command: prints the ExecCredential on stdout, and without a sign-in exits 1 with HSR_ERR_OIDC_LOGIN_REQUIRED', async () => {
    const cache = cacheOf('command');
    const idToken = jwt({ exp: inSeconds(600) });
    cache.write({ issuer: ISSUER, clientId: CLIENT, tokenEndpoint, idToken });
    const ok = await runCli(['oidc-token', `--issuer=${ISSUER}`, `--client-id=${CLIENT}`, `--cache-dir=${join(dir.path, 'command')}`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ kind: 'ExecCredential', status: { token: idToken } });
    const missing = await runCli(['oidc-token', `--issuer=${ISSUER}`, `--client-id=${CLIENT}`], { HAWSER_OIDC_CACHE_DIR: join(dir.path, 'empty') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no sign-in to https:\/\/idp\.example is cached .*run hawser login --oidc again \(HSR_ERR_OIDC_LOGIN_REQUIRED\)/);
    expect((await runCli(['oidc-token'])).code).toBe(2);
    expect(readFileSync(cache.path, 'utf8')).toContain(idToken);
  });
});

describe('GET /api/v1/operator/oidc', () => {
  it('tells anyone the issuer and the client id to sign in with, and says when there is no provider', async () => {
    const withOidc = await startServer({ oidc: { issuer: 'http://127.0.0.1:1/', audience: 'hawser-cli' } });
    const without = await startServer();
    try {
      const ok = await httpsJson(`${withOidc.publicUrl}/api/v1/operator/oidc`, { ca: withOidc.ca });
      expect(ok).toMatchObject({ status: 200, body: { issuer: 'http://127.0.0.1:1/', clientId: 'hawser-cli', scopes: expect.arrayContaining(['openid', 'offline_access']) } });
      const none = await httpsJson(`${without.publicUrl}/api/v1/operator/oidc`, { ca: without.ca });
      expect(none.status).toBe(404);
      expect(JSON.stringify(none.body)).toContain('HSR_ERR_OIDC_NOT_CONFIGURED');
      const login = await runCli(['login', '--oidc', '--no-browser', '--server', without.publicUrl, '--data-dir', without.dataDir]);
      expect(login.code).toBe(1);
      expect(login.stderr).toContain('(HSR_ERR_OIDC_NOT_CONFIGURED)');
      const stray = await runCli(['login', '--no-browser', '--server', without.publicUrl]);
      expect(stray).toMatchObject({ code: 2, stderr: expect.stringContaining('--no-browser belongs to --oidc sign-in') });
    } finally {
      await withOidc.stop();
      await without.stop();
    }
  }, 120_000);
});
