import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSessions, CSRF_HEADER, SESSION_COOKIE, sessionIdFrom } from '../src/console/console-session.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';

const HOST = '127.0.0.1:8443';

describe('console sessions', () => {
  let store: Store;
  let sessions: ConsoleSessions;

  beforeAll(async () => {
    store = await openStore({ databaseUrl: undefined, dataDir: mkdtempSync(join(tmpdir(), 'hawser-console-')) });
    sessions = new ConsoleSessions(store);
    await store.insertApiToken({ id: 'tok-1', hash: 'h1', user: 'carol', groups: ['idp-read'], expiresAt: null });
  }, 60_000);
  afterAll(() => store.close());

  async function signIn(): Promise<{ cookie: string; csrf: string }> {
    const created = await sessions.create({ username: 'carol', groups: ['idp-read'], via: 'api-token', credentialId: 'api-token:tok-1' }, { apiTokenId: 'tok-1' });
    expect(created.setCookie).toMatch(/^__Host-hawser-session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    return { cookie: created.setCookie.split(';')[0]!, csrf: created.csrf };
  }

  it('reads the session id from a Cookie header among others, and nothing from a look-alike name', () => {
    expect(sessionIdFrom(`a=1; ${SESSION_COOKIE}=abc; b=2`)).toBe('abc');
    expect(sessionIdFrom(`x${SESSION_COOKIE}=abc`)).toBeUndefined();
    expect(sessionIdFrom(undefined)).toBeUndefined();
  });

  it('a safe request with the cookie is the operator, with the API token as credential', async () => {
    const { cookie } = await signIn();
    const { identity } = await sessions.identify({ method: 'GET', headers: { cookie, host: HOST } });
    expect(identity).toMatchObject({ username: 'carol', groups: ['idp-read'], credentialId: 'api-token:tok-1' });
  });

  it('an unsafe request needs the CSRF token of its own session', async () => {
    const a = await signIn();
    const b = await signIn();
    await expect(sessions.identify({ method: 'POST', headers: { cookie: a.cookie, host: HOST } })).rejects.toThrow(/CSRF/);
    await expect(sessions.identify({ method: 'DELETE', headers: { cookie: a.cookie, host: HOST, [CSRF_HEADER]: b.csrf } })).rejects.toThrow(/CSRF/);
    await expect(sessions.identify({ method: 'POST', headers: { cookie: a.cookie, host: HOST, [CSRF_HEADER]: a.csrf } })).resolves.toBeDefined();
  });

  it('a request from another origin is refused even when it is safe and carries the cookie', async () => {
    const { cookie } = await signIn();
    await expect(sessions.identify({ method: 'GET', headers: { cookie, host: HOST, origin: 'https://127.0.0.1:9999' } })).rejects.toThrow(/cross-origin/);
    await expect(sessions.identify({ method: 'GET', headers: { cookie, host: HOST, origin: `https://${HOST}` } })).resolves.toBeDefined();
  });

  it('a connection upgrade (an exec WebSocket) with the cookie must come from the console\'s own origin, and say so', async () => {
    const { cookie } = await signIn();
    const ws = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': 'v5.channel.k8s.io' };
    await expect(sessions.identify({ method: 'GET', headers: { ...ws, cookie, host: HOST, origin: 'https://127.0.0.1:9999' } })).rejects.toThrow(/cross-origin/);
    await expect(sessions.identify({ method: 'GET', headers: { ...ws, cookie, host: HOST } })).rejects.toThrow(/no Origin header/);
    await expect(sessions.identify({ method: 'GET', headers: { ...ws, cookie, host: HOST, origin: `https://${HOST}` } })).resolves.toBeDefined();
  });

  it('ends with sign-out, and with the API token it was made from', async () => {
    const s1 = await signIn();
    expect(await sessions.end({ headers: { cookie: s1.cookie } })).toBe(true);
    await expect(sessions.identify({ method: 'GET', headers: { cookie: s1.cookie, host: HOST } })).rejects.toThrow(/unknown, ended/);
    const s2 = await signIn();
    expect(await store.revokeApiToken('tok-1')).toBe(true);
    await expect(sessions.identify({ method: 'GET', headers: { cookie: s2.cookie, host: HOST } })).rejects.toThrow(/unknown, ended/);
  });
});
