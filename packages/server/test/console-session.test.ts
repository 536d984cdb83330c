import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizationConfig } from '../src/auth/authorization.js';
import { OperatorStreams, apiTokenCredential } from '../src/auth/operator-streams.js';
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

  it('a safe request with the cookie is the operator, with the session under the API token as credential', async () => {
    const { cookie } = await signIn();
    const { identity } = await sessions.identify({ method: 'GET', headers: { cookie, host: HOST } });
    expect(identity).toMatchObject({ username: 'carol', groups: ['idp-read'] });
    expect(identity.credentialId).toMatch(/^api-token:tok-1\|console:[0-9a-f]{32}$/);
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

  describe('with a tier policy', () => {
    const tiers = (admin: string[], read: string[]): AuthorizationConfig => ({
      mode: 'tier',
      prefix: 'hawser:',
      tierGroups: { read, triage: [], write: [], maintain: [], admin },
    });
    let config: AuthorizationConfig;
    let streams: OperatorStreams;
    let policed: ConsoleSessions;
    const ended: string[] = [];

    beforeAll(async () => {
      config = tiers(['sre'], ['idp-read']);
      streams = new OperatorStreams();
      policed = new ConsoleSessions(store, undefined, { authorization: () => config, streams, onEnded: (user, reason) => ended.push(`${user}: ${reason}`) }, 3_600_000);
      await store.insertApiToken({ id: 'tok-2', hash: 'h2', user: 'erin', groups: ['sre'], expiresAt: null });
    });
    afterAll(() => policed.close());

    async function signInErin(): Promise<{ cookie: string; csrf: string }> {
      const created = await policed.create({ username: 'erin', groups: ['sre'], via: 'api-token', credentialId: apiTokenCredential('tok-2') }, { apiTokenId: 'tok-2' });
      return { cookie: created.setCookie.split(';')[0]!, csrf: created.csrf };
    }

    /** A live relayed request of the session, tracked as the relay does; resolves with the reason it ended. */
    async function liveRequest(cookie: string): Promise<{ ended: Promise<string> }> {
      const { identity } = await policed.identify({ method: 'GET', headers: { cookie, host: HOST } });
      let done!: (reason: string) => void;
      const ended = new Promise<string>((resolve) => (done = resolve));
      streams.track(identity.credentialId, done);
      return { ended };
    }

    it('refuses to start a session for an operator in no tier', async () => {
      await expect(policed.create({ username: 'mallory', groups: ['nobody'], via: 'oidc', credentialId: 'oidc:https://idp#m' })).rejects.toThrow(
        /no access to clusters: user "mallory" is in no group that maps to a Hawser tier/,
      );
    });

    it('signing out ends the live requests of that session only, not those of the token elsewhere', async () => {
      const a = await signInErin();
      const b = await signInErin();
      const reqA = await liveRequest(a.cookie);
      await liveRequest(b.cookie);
      let kubectlEnded = false;
      const untrack = streams.track(apiTokenCredential('tok-2'), () => (kubectlEnded = true));
      expect(await policed.end({ headers: { cookie: a.cookie } })).toBe(true);
      await expect(reqA.ended).resolves.toBe('signed out');
      expect(streams.count()).toBe(2);
      expect(kubectlEnded).toBe(false);
      untrack();
    });

    it('revoking the API token ends its sessions\' live requests with its own', async () => {
      await store.insertApiToken({ id: 'tok-3', hash: 'h3', user: 'erin', groups: ['sre'], expiresAt: null });
      const created = await policed.create({ username: 'erin', groups: ['sre'], via: 'api-token', credentialId: apiTokenCredential('tok-3') }, { apiTokenId: 'tok-3' });
      const req = await liveRequest(created.setCookie.split(';')[0]!);
      await store.revokeApiToken('tok-3');
      expect(streams.endAll(apiTokenCredential('tok-3'), 'API token revoked')).toBe(1);
      await expect(req.ended).resolves.toBe('API token revoked');
    });

    it('ends the session and its live requests when its groups no longer map to a tier', async () => {
      const s = await signInErin();
      const req = await liveRequest(s.cookie);
      config = tiers(['platform'], ['idp-read']);
      try {
        // The periodic re-check ends the live request without waiting for a new one.
        await policed.recheck();
        await expect(req.ended).resolves.toMatch(/^tier lost: user "erin" is in no group that maps to a Hawser tier/);
        await expect(policed.identify({ method: 'GET', headers: { cookie: s.cookie, host: HOST } })).rejects.toThrow(/unknown, ended/);
        expect(ended.some((line) => line.startsWith('erin: tier lost'))).toBe(true);
      } finally {
        config = tiers(['sre'], ['idp-read']);
      }
    });

    it("ends the session's live requests when its tier changes, and uses the token's groups as they are now", async () => {
      const s = await signInErin();
      const req = await liveRequest(s.cookie);
      config = tiers([], ['sre']);
      try {
        const { identity } = await policed.identify({ method: 'GET', headers: { cookie: s.cookie, host: HOST } });
        expect(identity.groups).toEqual(['sre']);
        await expect(req.ended).resolves.toBe('tier changed from admin to read');
      } finally {
        config = tiers(['sre'], ['idp-read']);
      }
    });

    it('a re-check ends the live requests of a session ended on another replica', async () => {
      const s = await signInErin();
      const req = await liveRequest(s.cookie);
      // Another replica's sign-out: the row goes, this replica's ConsoleSessions does not hear of it.
      await new ConsoleSessions(store).end({ headers: { cookie: s.cookie } });
      await policed.recheck();
      await expect(req.ended).resolves.toBe('console session ended');
    });
  });
});
