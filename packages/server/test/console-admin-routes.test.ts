import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsJson, startServer, type Harness } from './support/harness.js';

interface Reply<T> {
  status: number;
  body: T;
}

/** A console call: the session cookie, and the CSRF header and Origin on unsafe ones, as the browser sends them. */
function consoleCall<T = Record<string, unknown>>(
  h: Harness,
  path: string,
  opts: { method?: string; body?: unknown; cookie?: string; csrf?: string; origin?: string } = {},
): Promise<Reply<T>> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${h.publicUrl}${path}`,
      {
        method: opts.method ?? 'GET',
        ca: h.ca,
        agent: false,
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(opts.cookie ? { cookie: opts.cookie } : {}),
          ...(opts.csrf ? { 'x-hawser-csrf': opts.csrf } : {}),
          ...(opts.origin ? { origin: opts.origin } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const setCookie = res.headers['set-cookie']?.[0]?.split(';')[0];
          const body = (text ? JSON.parse(text) : {}) as T;
          resolve({ status: res.statusCode ?? 0, body: setCookie ? ({ ...body, cookie: setCookie } as T) : body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('console admin routes', () => {
  let h: Harness;
  let admin: { cookie: string; csrf: string };
  let reader: { cookie: string; csrf: string };

  async function operatorToken(user: string, groups: string[]): Promise<{ token: string; id: string }> {
    const res = await httpsJson<{ token: string; id: string }>(`${h.publicUrl}/api/v1/tokens`, { method: 'POST', body: { user, groups }, ca: h.ca, token: h.adminToken });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function signIn(token: string): Promise<{ cookie: string; csrf: string }> {
    const res = await consoleCall<{ cookie: string; csrf: string }>(h, '/console/v1/session', { method: 'POST', body: { token } });
    expect(res.status).toBe(200);
    return res.body;
  }

  beforeAll(async () => {
    h = await startServer({ tierGroups: { read: ['devs'], admin: ['sre'] } });
    admin = await signIn((await operatorToken('ana', ['sre'])).token);
    reader = await signIn((await operatorToken('bob', ['devs'])).token);
  }, 60_000);
  afterAll(async () => h?.stop());

  const origin = () => h.publicUrl;

  it('tells the console whether to show the admin link', async () => {
    expect((await consoleCall(h, '/console/v1/admin/access', admin)).body).toEqual({ admin: true, tier: 'admin' });
    expect((await consoleCall(h, '/console/v1/admin/access', reader)).body).toEqual({ admin: false, tier: 'read' });
    expect((await consoleCall(h, '/console/v1/admin/access')).status).toBe(401);
  });

  it('refuses an operator below the admin tier with a sentence, and changes nothing', async () => {
    const res = await consoleCall<{ message: string; reason: string; code: number }>(h, '/console/v1/admin/tokens', reader);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ kind: 'Status', code: 403 });
    expect(res.body.message).toContain('the admin pages are for operators of the admin tier; bob is of the read tier');
    const post = await consoleCall(h, '/console/v1/admin/clusters', { ...reader, origin: origin(), method: 'POST', body: { name: 'nope' } });
    expect(post.status).toBe(403);
    expect((await httpsJson<{ clusters: unknown[] }>(`${h.publicUrl}/api/v1/clusters`, { ca: h.ca, token: h.adminToken })).body.clusters).toEqual([]);
  });

  it('registers a cluster with its helm line, and audits it with the operator as actor', async () => {
    const res = await consoleCall<{ bootstrap: { helm: string }; cluster: { name: string; labels: Record<string, string> } }>(h, '/console/v1/admin/clusters', {
      ...admin,
      origin: origin(),
      method: 'POST',
      body: { name: 'prod-eu', labels: { env: 'prod' }, tokenTtl: '30m' },
    });
    expect(res.status).toBe(201);
    expect(res.body.cluster).toMatchObject({ name: 'prod-eu', labels: { env: 'prod' } });
    expect(res.body.bootstrap.helm).toMatch(/^helm install hawser-agent /);
    const audit = await consoleCall<{ events: { type: string; actor: string }[] }>(h, '/console/v1/admin/audit?type=cluster.added&user=ana', admin);
    expect(audit.body.events.map((e) => [e.type, e.actor])).toEqual([['cluster.added', 'ana']]);
  });

  it('needs the CSRF token and the own origin on every state-changing call', async () => {
    const noCsrf = await consoleCall(h, '/console/v1/admin/clusters', { cookie: admin.cookie, origin: origin(), method: 'POST', body: { name: 'x1' } });
    expect(noCsrf.status).toBe(401);
    const otherOrigin = await consoleCall(h, '/console/v1/admin/clusters', { ...admin, origin: 'https://evil.example', method: 'POST', body: { name: 'x2' } });
    expect(otherOrigin.status).toBe(401);
  });

  it('deregisters only when the typed name matches', async () => {
    const wrong = await consoleCall<{ message: string }>(h, '/console/v1/admin/clusters/prod-eu?confirm=prod', { ...admin, origin: origin(), method: 'DELETE' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toContain("type the cluster's name, prod-eu, to deregister it");
    const ok = await consoleCall<{ cluster: { registration: string } }>(h, '/console/v1/admin/clusters/prod-eu?confirm=prod-eu', { ...admin, origin: origin(), method: 'DELETE' });
    expect(ok.status).toBe(200);
    expect(ok.body.cluster.registration).toBe('deregistered');
  });

  it('creates a token whose secret is shown once, lists it without it, and revoking it ends the sessions made from it', async () => {
    const created = await consoleCall<{ token: string; id: string }>(h, '/console/v1/admin/tokens', {
      ...admin,
      origin: origin(),
      method: 'POST',
      body: { user: 'carol', groups: ['devs'], ttl: '1d' },
    });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^\S{20,}$/);
    const list = await consoleCall<{ tokens: { id: string; user: string }[] }>(h, '/console/v1/admin/tokens', admin);
    expect(list.body.tokens.find((t) => t.id === created.body.id)).toMatchObject({ user: 'carol' });
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    const carol = await signIn(created.body.token);
    expect((await consoleCall(h, '/console/v1/session', carol)).status).toBe(200);
    const revoked = await consoleCall(h, `/console/v1/admin/tokens/${created.body.id}`, { ...admin, origin: origin(), method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect((await consoleCall(h, '/console/v1/session', carol)).status).toBe(401);
    const audit = await consoleCall<{ events: { type: string; actor: string }[] }>(h, '/console/v1/admin/audit?type=api-token.revoked', admin);
    expect(audit.body.events.map((e) => e.actor)).toEqual(['ana']);
  });

  it('filters the audit log by status and pages to older events', async () => {
    const failures = await consoleCall<{ events: unknown[] }>(h, '/console/v1/admin/audit?status=failure', admin);
    expect(failures.status).toBe(200);
    const page = await consoleCall<{ events: { time: string }[]; truncated: boolean }>(h, '/console/v1/admin/audit?limit=1', admin);
    expect(page.body.events).toHaveLength(1);
    expect(page.body.truncated).toBe(true);
    const older = await consoleCall<{ events: { time: string }[] }>(h, `/console/v1/admin/audit?limit=1&until=${encodeURIComponent(page.body.events[0]!.time)}`, admin);
    expect(new Date(older.body.events[0]!.time).getTime()).toBeLessThan(new Date(page.body.events[0]!.time).getTime());
    const bad = await consoleCall<{ message: string }>(h, '/console/v1/admin/audit?status=maybe', admin);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('status: expected success, failure or an HTTP status');
  });
});
