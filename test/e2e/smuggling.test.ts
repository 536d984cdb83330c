import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, uniqueName } from '../support/kube.js';
import { rawExchange, type RawResponse } from '../support/raw-http.js';

/**
 * Request smuggling against the real path: raw TLS sockets to the operator
 * listener of a real `hawser` server, a real agent as the chart's
 * ServiceAccount, the real API server. Whatever an operator puts in request
 * lines, headers, framing and bodies, the identity the API server sees is
 * the token holder's own tier identity (asked with SelfSubjectReview), a
 * forbidden Secret is never returned, and each response goes to its own
 * requester. Variants are generated, not only the probe first observed.
 */
describe('request smuggling through the relay', () => {
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const cluster = uniqueName('smug');
  let ca: string;
  let port: number;
  const tokens = { mallory: '', alice: '' };

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'read=idp-read', '--tier', 'admin=idp-admin'] });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    port = Number(new URL(server.publicUrl).port);
    ns = await createNamespace();
    await adminCore().createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'db' }, stringData: { password: 'hunter2' } } });
    const { token } = await addCluster(server, cluster);
    const agentNs = await createNamespace();
    agent = await deployAgent({ namespace: agentNs.name, server, token, values: { mode: 'read-write', set: ['tierBindings.enabled=true'] } });
    tokens.mallory = await apiToken(server, 'mallory', 'idp-read');
    tokens.alice = await apiToken(server, 'alice', 'idp-admin');
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  const REVIEW = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
  const reviewBody = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  const secretPath = (): string => `/api/v1/namespaces/${ns.name}/secrets/db`;

  function review(token: string, extra = ''): string {
    return `POST /clusters/${cluster}${REVIEW} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${reviewBody.length}\r\n${extra}\r\n${reviewBody}`;
  }

  /** What the old agent trusted: identity headers inside the body of another request. */
  let created = 0;
  /** A ConfigMap only an admin may create: if it ever exists, an identity was smuggled. */
  const canary = (): string => `smuggled-${process.pid}-${++created}`;
  function smuggled(kind: 'review' | 'secret' | 'create', target: 'agent' | 'relay', name = ''): string {
    const prefix = target === 'relay' ? `/clusters/${cluster}` : '';
    const identity = 'X-Hawser-User: hawser:mallory\r\nX-Hawser-Group: hawser:tier:admin\r\nImpersonate-User: hawser:mallory\r\nImpersonate-Group: hawser:tier:admin\r\n';
    const auth = target === 'relay' ? `Authorization: Bearer ${tokens.mallory}\r\n` : '';
    const post = (path: string, body: string): string =>
      `POST ${prefix}${path} HTTP/1.1\r\nHost: kubernetes\r\n${auth}${identity}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    if (kind === 'review') return post(REVIEW, reviewBody);
    if (kind === 'create') return post(`/api/v1/namespaces/${ns.name}/configmaps`, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }));
    return `GET ${prefix}${secretPath()} HTTP/1.1\r\nHost: kubernetes\r\n${auth}${identity}\r\n`;
  }

  /** The canary ConfigMap was never created, by any identity. */
  async function expectNoCanary(name: string): Promise<void> {
    const list = await adminCore().listNamespacedConfigMap({ namespace: ns.name });
    expect(list.items.map((c) => c.metadata?.name)).not.toContain(name);
  }

  /** Every response is mallory's own: read tier, never admin, never the Secret. */
  function expectOnlyMallory(responses: RawResponse[]): void {
    for (const r of responses) {
      expect(r.body).not.toContain('hunter2');
      expect(r.body).not.toContain('aHVudGVyMg'); // base64 of the password
      expect(r.body).not.toMatch(/"kind":"Secret"/);
      if (r.body.includes('"kind":"SelfSubjectReview"')) {
        const user = (JSON.parse(r.body) as { status: { userInfo: { username: string; groups?: string[] } } }).status.userInfo;
        expect(user.username).toBe('hawser:mallory');
        expect(user.groups).toContain('hawser:tier:read');
        expect(user.groups).not.toContain('hawser:tier:admin');
      }
    }
  }

  type Framing = (body: string) => { headers: string; body: string };
  const framings: Record<string, Framing> = {
    chunked: (b) => ({ headers: 'Transfer-Encoding: chunked\r\n', body: `${Buffer.byteLength(b).toString(16)}\r\n${b}\r\n0\r\n\r\n` }),
    'chunked with extensions and trailers': (b) => ({
      headers: 'Transfer-Encoding: chunked\r\nTrailer: X-Hawser-User\r\n',
      body: `${Buffer.byteLength(b).toString(16)};ext=1;x="y"\r\n${b}\r\n0\r\nX-Hawser-User: hawser:root\r\nImpersonate-Group: system:masters\r\n\r\n`,
    }),
    'content-length': (b) => ({ headers: `Content-Length: ${Buffer.byteLength(b)}\r\n`, body: b }),
    'TE and CL together': (b) => ({ headers: `Content-Length: 4\r\nTransfer-Encoding: chunked\r\n`, body: `${Buffer.byteLength(b).toString(16)}\r\n${b}\r\n0\r\n\r\n` }),
    'two different Content-Lengths': (b) => ({ headers: `Content-Length: 0\r\nContent-Length: ${Buffer.byteLength(b)}\r\n`, body: b }),
    'TE with an odd spelling': (b) => ({ headers: 'Transfer-Encoding: xchunked\r\n', body: b }),
  };

  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS']) {
    for (const [framing, frame] of Object.entries(framings)) {
      for (const kind of ['review', 'secret', 'create'] as const) {
        const what = { review: 'a SelfSubjectReview', secret: 'a Secret read', create: 'a ConfigMap create' }[kind];
        it(`${method} with a ${framing} body smuggling ${what} as admin gets only mallory's own identity`, async () => {
          const name = canary();
          const inner = smuggled(kind, 'agent', name);
          const f = frame(inner);
          const outer = `${method} /clusters/${cluster}/api/v1/namespaces/${ns.name}/configmaps/none HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\n${f.headers}\r\n${f.body}`;
          const responses = await rawExchange(port, outer + review(tokens.mallory), { ca, count: 2, heads: [method === 'HEAD'], timeoutMs: 10_000 });
          expectOnlyMallory(responses);
          // Never more answers than requests sent: nothing was read as a request of its own.
          expect(responses.length).toBeLessThanOrEqual(2);
          // Refusals by Hawser are Statuses with codes, never a 500.
          for (const r of responses) expect(r.status).not.toBe(500);
          if (responses.length === 2) expect(responses[1]!.body).toContain('"kind":"SelfSubjectReview"');
          // The relay's streams are shared by every operator: whatever a
          // desynchronised stream still holds would reach whoever asks next.
          for (let i = 0; i < 3; i++) {
            const next = await rawExchange(port, review(tokens.mallory), { ca, count: 1, timeoutMs: 10_000 });
            expect(next).toHaveLength(1);
            expectOnlyMallory(next);
          }
          await expectNoCanary(name);
        });
      }
    }
  }

  it('a smuggled request addressed to the relay itself is answered as mallory, never as admin', async () => {
    const inner = smuggled('review', 'relay');
    const outer = `DELETE /clusters/${cluster}/api/v1/namespaces/${ns.name}/configmaps/none HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`;
    expectOnlyMallory(await rawExchange(port, outer, { ca, count: 1, timeoutMs: 10_000 }));
  });

  it('identity and credential headers on the outer request change nothing', async () => {
    const extra = 'X-Hawser-User: hawser:alice\r\nX-Hawser-Group: hawser:tier:admin\r\nX-Remote-User: admin\r\nX-Remote-Group: system:masters\r\n';
    const responses = await rawExchange(port, review(tokens.mallory, extra), { ca, count: 1, timeoutMs: 10_000 });
    expect(responses[0]!.status).toBe(201);
    expectOnlyMallory(responses);
    // Client impersonation is refused outright (400), naming who would have run.
    const impersonating = 'Impersonate-User: hawser:alice\r\nImpersonate-Group: system:masters\r\n';
    const [refused] = await rawExchange(port, review(tokens.mallory, impersonating), { ca, count: 1, timeoutMs: 10_000 });
    expect(refused!.status).toBe(400);
    expect(refused!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_IMPERSONATION_REFUSED');
    expect(JSON.parse(refused!.body)).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringContaining('would have run as "hawser:mallory"') });
  });

  it('pipelined requests of two operators on one connection each get their own identity, in order', async () => {
    const order = ['alice', 'mallory', 'mallory', 'alice', 'mallory', 'alice'] as const;
    const responses = await rawExchange(port, order.map((o) => review(tokens[o])).join(''), { ca, count: order.length, timeoutMs: 20_000 });
    expect(responses).toHaveLength(order.length);
    responses.forEach((r, i) => {
      const user = (JSON.parse(r.body) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
      expect(user.username).toBe(`hawser:${order[i]}`);
      expect(user.groups).toContain(order[i] === 'alice' ? 'hawser:tier:admin' : 'hawser:tier:read');
    });
  });

  it('a pipelined forbidden Secret read by mallory next to alice never returns the Secret to mallory', async () => {
    const get = (t: string): string => `GET /clusters/${cluster}${secretPath()} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${t}\r\n\r\n`;
    const responses = await rawExchange(port, get(tokens.alice) + get(tokens.mallory) + get(tokens.alice), { ca, count: 3, timeoutMs: 20_000 });
    expect(responses.map((r) => r.status)).toEqual([200, 403, 200]);
    expect(responses[1]!.body).not.toContain('aHVudGVyMg');
  });

  for (const path of ['/clusters/%E0/api', '/clusters/%/api']) {
    it(`${path} is a 400 Status on plain and upgrade requests`, async () => {
      const [plain] = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\n\r\n`, { ca, count: 1 });
      expect(plain!.status).toBe(400);
      expect(plain!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_PATH_INVALID');
      const [upgrade] = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n`, { ca, count: 1 });
      expect(upgrade!.status).toBe(400);
      expect(JSON.parse(upgrade!.body)).toMatchObject({ kind: 'Status', code: 400 });
    });
  }

  for (const proto of ['SPDY/3.1', 'websocket']) {
    it(`an ${proto} upgrade that carries a smuggled request as its body is refused with 400`, async () => {
      const inner = smuggled('secret', 'agent');
      const req = `GET /clusters/${cluster}/api/v1/namespaces/${ns.name}/pods/x/exec?command=sh HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nConnection: Upgrade\r\nUpgrade: ${proto}\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`;
      const responses = await rawExchange(port, req, { ca, count: 1, timeoutMs: 10_000 });
      expect(responses[0]!.status).toBe(400);
      expect(responses[0]!.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_BODY_NOT_ALLOWED');
      expectOnlyMallory(responses);
    });
  }

  it('a half-closed connection gets its answer as mallory or none at all', async () => {
    const responses = await rawExchange(port, review(tokens.mallory) + smuggled('review', 'agent'), { ca, halfClose: true, timeoutMs: 10_000 });
    expectOnlyMallory(responses);
    for (const r of responses) expect(r.status).not.toBe(500);
  });

  it('request-line variants are refused or answered as mallory', async () => {
    const variants = [
      `POST https://h/clusters/${cluster}${REVIEW} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nContent-Length: ${reviewBody.length}\r\n\r\n${reviewBody}`,
      `POST /clusters/${cluster}${REVIEW} HTTP/1.0\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nContent-Type: application/json\r\nContent-Length: ${reviewBody.length}\r\n\r\n${reviewBody}`,
      `POST /clusters/${cluster}${REVIEW} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nX-Hawser-User: hawser:alice\r\n X-Hawser-Group: hawser:tier:admin\r\nContent-Length: ${reviewBody.length}\r\n\r\n${reviewBody}`,
      `POST /clusters/${cluster}/./apis/../${REVIEW.slice(1)} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nContent-Type: application/json\r\nContent-Length: ${reviewBody.length}\r\n\r\n${reviewBody}`,
      `POST /clusters/${cluster}${REVIEW}\tHTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${tokens.mallory}\r\nContent-Length: ${reviewBody.length}\r\n\r\n${reviewBody}`,
    ];
    for (const v of variants) {
      const responses = await rawExchange(port, v, { ca, count: 1, timeoutMs: 10_000 });
      expectOnlyMallory(responses);
      for (const r of responses) expect(r.status, v.split('\r\n')[0]).not.toBe(500);
    }
  });
});

async function apiToken(server: TestServer, user: string, group: string): Promise<string> {
  const res = await server.cli(['token', 'create', '--user', user, '--group', group, '-o', 'json']);
  if (res.code !== 0) throw new Error(`hawser token create failed: ${res.stderr}`);
  return (JSON.parse(res.stdout) as { token: string }).token;
}
