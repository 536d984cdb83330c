import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Policy } from '@hawser/agent';
import { classifyRequest, parseRequestInfo, type RequestInfo } from '@hawser/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditEvent } from '../support/audit-log.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

/**
 * The agent's reading of a request against the real API server's, as the
 * oracle: a seeded corpus of (method, target) pairs goes operator -> hawser
 * server -> tunnel -> agent (as the chart's ServiceAccount) -> kube-apiserver,
 * byte for byte as generated. Whatever the agent forwarded must appear in the
 * API server's audit log with exactly the verb and object the agent decided
 * on; whatever Hawser refused must never appear there.
 *
 * HAWSER_DIFF_SEED and HAWSER_DIFF_SIZE reproduce or widen a run.
 */
const SEED = Number(process.env.HAWSER_DIFF_SEED ?? 15);
const SIZE = Number(process.env.HAWSER_DIFF_SIZE ?? 2000);
/** How many of the corpus's writes also go through a read-write agent. */
const WRITE_SLICE = 400;
const CONCURRENCY = 4;
const REQUEST_ID_EXTRA = 'hawser.dev/request-id';

interface Case {
  method: string;
  target: string;
}

type Outcome = 'gate' | 'policy' | 'http-400' | 'forwarded' | 'unaudited-by-hawser';

interface Result {
  case: Case;
  status: number;
  outcome: Outcome;
  requestId: string | undefined;
}

describe('the agent reads request targets as kube-apiserver does', () => {
  let server: TestServer;
  let ca: string;
  let token: string;
  let audit: AuditLog;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const agents: TestAgent[] = [];
  const clusters = { 'read-only': uniqueName('diff-ro'), 'read-write': uniqueName('diff-rw') };

  beforeAll(async () => {
    // An external cluster (HAWSER_E2E_KUBECONFIG) can name its audit log here.
    const auditPath = testCluster().auditLog ?? process.env.HAWSER_E2E_AUDIT_LOG;
    if (!auditPath) throw new Error('this test needs the test control plane (its audit log is the oracle)');
    audit = await new AuditLog(auditPath).open();
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    ns = await createNamespace();
    // No RBAC for the operator in the cluster: the API server audits every
    // request it receives, then refuses it, so even writes change nothing.
    for (const mode of ['read-only', 'read-write'] as const) {
      const { token: bootstrap } = await addCluster(server, clusters[mode]);
      const agentNs = await createNamespace();
      agents.push(await deployAgent({ namespace: agentNs.name, server, token: bootstrap, values: { mode } }));
    }
    const res = await server.cli(['token', 'create', '--user', uniqueName('differ'), '--group', 'idp-admin', '-o', 'json']);
    if (res.code !== 0) throw new Error(`hawser token create failed: ${res.stderr}`);
    token = (JSON.parse(res.stdout) as { token: string }).token;
    for (const agent of agents) await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  }, 180_000);

  afterAll(async () => {
    for (const agent of agents) await agent.remove();
    await server?.remove();
    await ns?.remove();
    await audit?.close();
  });

  /** Codes of the refusals that read the target before any policy: the server's route and gate, the agent's gate. */
  const GATE_CODES = /^(HSR_ERR_RELAY_PATH_INVALID|HSR_ERR_RELAY_TARGET_AMBIGUOUS|HAG_ERR_REQUEST_AMBIGUOUS)$/;

  async function send(cluster: string, c: Case): Promise<Result> {
    const res = await rawRequest(server.publicUrl, ca, token, c.method, `/clusters/${cluster}${c.target}`);
    let outcome: Outcome = GATE_CODES.test(res.error) || /HAG_ERR_REQUEST_AMBIGUOUS|refused this request target/.test(res.body)
      ? 'gate'
      : res.error === 'HAG_ERR_POLICY_DENIED' || /hawser-agent policy refused/.test(res.body)
        ? 'policy'
        : // The server's own HTTP parser (fastify's clientError answer, e.g.
          // for a raw non-ASCII byte): the request never reached the relay.
          res.status === 400 && res.body.includes('"message":"Client Error"')
          ? 'http-400'
          : 'forwarded';
    let requestId: string | undefined;
    if (outcome !== 'http-400') {
      // Hawser's own audit line carries the request id the agent passes to
      // the API server as the impersonated user's extra.
      const path = c.target.split('?')[0];
      const line = await server.process
        .waitForLog((e) => {
          const a = e.audit as { requestId?: string; details?: { cluster?: string; path?: string } } | undefined;
          return e.msg === 'audit request.relayed' && a?.details?.cluster === cluster && a.details.path === path && !seenIds.has(a.requestId!);
        }, 5_000)
        .catch(() => undefined);
      if (!line) {
        // Hawser answered without auditing (the old classifier threw on
        // some targets): counted, and must never happen.
        process.stdout.write(`no Hawser audit line for ${c.method} ${JSON.stringify(c.target)} (answered ${res.status}: ${res.body.slice(0, 200)})\n`);
        return { case: c, status: res.status, outcome: 'unaudited-by-hawser', requestId: undefined };
      }
      const audited = line.audit as { requestId: string; reason: string | null };
      requestId = audited.requestId;
      seenIds.add(requestId);
      // A HEAD answer has no body to read the refusal from: the server's
      // audit line names its own refusal, the agent's log names the agent's.
      if (/HAG_ERR_REQUEST_AMBIGUOUS|HSR_ERR_RELAY_TARGET_AMBIGUOUS/.test(audited.reason ?? '')) outcome = 'gate';
      else if (c.method === 'HEAD' && (res.status === 400 || res.status === 403)) {
        const agent = agents[cluster === clusters['read-only'] ? 0 : 1]!;
        const refusal = await agent.process.waitForLog((e) => e.requestId === requestId, 300).catch(() => undefined);
        if (refusal?.code === 'HAG_ERR_POLICY_DENIED') outcome = 'policy';
        if (refusal?.code === 'HAG_ERR_REQUEST_AMBIGUOUS') outcome = 'gate';
      }
    }
    return { case: c, status: res.status, outcome, requestId };
  }
  const seenIds = new Set<string>();

  async function run(cluster: string, cases: Case[]): Promise<Result[]> {
    const results: Result[] = new Array<Result>(cases.length);
    // A few requests at a time, never two with the same path at once: the
    // Hawser audit line is found by cluster and path.
    const pending = cases.map((_, i) => i);
    const busy = new Set<string>();
    const inFlight = new Set<Promise<void>>();
    const pathOf = (i: number) => cases[i]!.target.split('?')[0]!;
    const worker = async (): Promise<void> => {
      while (pending.length) {
        const k = pending.findIndex((i) => !busy.has(pathOf(i)));
        if (k < 0) {
          await Promise.race(inFlight);
          continue;
        }
        const i = pending.splice(k, 1)[0]!;
        busy.add(pathOf(i));
        const p = send(cluster, cases[i]!).then((r) => {
          results[i] = r;
        });
        inFlight.add(p);
        await p.finally(() => {
          inFlight.delete(p);
          busy.delete(pathOf(i));
        });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    // A last plain request, seen in the audit log: everything sent before
    // it has been written by then (blocking audit mode).
    const sentinel = await send(cluster, { method: 'GET', target: `/api/v1/namespaces/${ns.name}/configmaps` });
    await audit.waitFor((e) => e.impersonatedUser?.extra?.[REQUEST_ID_EXTRA]?.[0] === sentinel.requestId);
    return results;
  }

  function judge(results: Result[], label: string, agent: TestAgent): Record<string, number> {
    const audited = new Map<string, AuditEvent>();
    // Impersonation the API server refused leaves an event without the
    // impersonated user (so without the request id): those are matched by
    // the agent's ServiceAccount and the request URI, first unused first.
    const unimpersonated = new Map<string, AuditEvent[]>();
    for (const e of audit.events) {
      const id = e.impersonatedUser?.extra?.[REQUEST_ID_EXTRA]?.[0];
      if (id) audited.set(id, e);
      else if (!e.impersonatedUser && e.user.username.startsWith(`system:serviceaccount:${agent.namespace}:`) && e.stage === 'ResponseComplete' && e.responseStatus?.code === 403) {
        unimpersonated.set(e.requestURI, [...(unimpersonated.get(e.requestURI) ?? []), e]);
      }
    }
    const counts: Record<string, number> = { total: results.length, 'unaudited-by-hawser': 0, gate: 0, policy: 0, 'http-400': 0, forwarded: 0, agree: 0, disagree: 0, 'forwarded-not-audited': 0, 'refused-but-audited': 0, 'forwarded-though-gate-refuses': 0, 'disagree-past-policy': 0 };
    const ceiling = new Policy({ mode: 'read-only', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: ['secrets'] });
    const operator = { user: 'hawser:differ', groups: ['hawser:tier:admin'] };
    const examples: string[] = [];
    for (const r of results) {
      counts[r.outcome]!++;
      if (r.outcome !== 'forwarded') {
        if (r.requestId && audited.has(r.requestId)) {
          counts['refused-but-audited']!++;
          examples.push(`refused (${r.outcome}) but audited: ${r.case.method} ${r.case.target}`);
        }
        continue;
      }
      if (!classifyRequest(r.case.method, r.case.target).ok) counts['forwarded-though-gate-refuses']!++;
      const event = (r.requestId ? audited.get(r.requestId) : undefined) ?? unimpersonated.get(r.case.target)?.shift();
      if (!event) {
        counts['forwarded-not-audited']!++;
        if (examples.filter((e) => e.startsWith('forwarded')).length < 10) examples.push(`forwarded, no audit event (${r.status}): ${r.case.method} ${r.case.target}`);
        continue;
      }
      const mine = parseRequestInfo(r.case.method, r.case.target);
      const theirs = apiServerReading(event);
      if (sameReading(mine, theirs)) counts.agree!++;
      else {
        counts.disagree!++;
        // The dangerous kind: the agent's policy (read-only, secrets denied)
        // would have refused what the API server actually read.
        if (ceiling.decide(mine, operator).allowed && !ceiling.decide(theirs, operator).allowed) counts['disagree-past-policy']!++;
        if (examples.length < 40) examples.push(`${r.case.method} ${r.case.target}\n    agent:      ${show(mine)}\n    apiserver:  ${show(theirs)}`);
      }
    }
    process.stdout.write(`request differential (${label}): seed ${SEED}, ${JSON.stringify(counts)}\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
    return counts;
  }

  it(`reads ${SIZE} generated targets exactly as the API server does, and refused ones never reach it`, async () => {
    const corpus = generateCorpus(SEED, SIZE, ns.name);
    const started = Date.now();
    const results = await run(clusters['read-only'], corpus);
    const counts = judge(results, `read-only agent, ${corpus.length} targets, ${Math.round((Date.now() - started) / 1000)} s`, agents[0]!);
    expect(counts.disagree).toBe(0);
    expect(counts['unaudited-by-hawser']).toBe(0);
    expect(counts['refused-but-audited']).toBe(0);
    expect(counts['forwarded-not-audited']).toBe(0);
    expect(counts['forwarded-though-gate-refuses']).toBe(0);
    // Writes never pass a read-only agent.
    expect(results.filter((r) => r.outcome === 'forwarded' && !['GET', 'HEAD'].includes(r.case.method))).toEqual([]);
    expect(counts.forwarded).toBeGreaterThan(SIZE / 4);
  }, 240_000);

  it('reads writes exactly as the API server does through a read-write agent', async () => {
    const writes = generateCorpus(SEED + 1, SIZE, ns.name)
      .filter((c) => c.method !== 'GET' && c.method !== 'HEAD')
      .slice(0, WRITE_SLICE);
    const results = await run(clusters['read-write'], writes);
    const counts = judge(results, `read-write agent, ${writes.length} writes`, agents[1]!);
    expect(counts.disagree).toBe(0);
    expect(counts['unaudited-by-hawser']).toBe(0);
    expect(counts['refused-but-audited']).toBe(0);
    expect(counts['forwarded-not-audited']).toBe(0);
    expect(counts['forwarded-though-gate-refuses']).toBe(0);
    expect(counts.forwarded).toBeGreaterThan(WRITE_SLICE / 4);
  }, 120_000);
});

function apiServerReading(e: AuditEvent): RequestInfo {
  const o = e.objectRef;
  return {
    isResourceRequest: o !== undefined,
    verb: e.verb,
    apiGroup: o?.apiGroup ?? '',
    apiVersion: o?.apiVersion ?? '',
    namespace: o?.namespace ?? '',
    resource: o?.resource ?? '',
    subresource: o?.subresource ?? '',
    name: o?.name ?? '',
  };
}

function sameReading(a: RequestInfo, b: RequestInfo): boolean {
  return (Object.keys(b) as (keyof RequestInfo)[]).every((k) => a[k] === b[k]);
}

function show(i: RequestInfo): string {
  return i.isResourceRequest ? `${i.verb} ${i.apiGroup}/${i.apiVersion} ns=${i.namespace} ${i.resource}/${i.name}/${i.subresource}` : `${i.verb} (non-resource)`;
}

/** mulberry32: a small seeded generator, so a corpus is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Plain Kubernetes paths of every shape (core and group APIs, CRD-like
 * groups, cluster-scoped and namespaced, subresources, proxy paths,
 * exec/attach/portforward, namespace status/finalize, the /watch/ and
 * /proxy/ prefixes, non-resource URLs, odd watch values), about half of
 * them then mutated in the ways HTTP stacks disagree about.
 */
function generateCorpus(seed: number, size: number, namespace: string): Case[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const groups = ['/api/v1', '/apis/apps/v1', '/apis/batch/v1', '/apis/rbac.authorization.k8s.io/v1', '/apis/stable.example.com/v1', '/apis/authorization.k8s.io/v1'];
  const namespaced = ['pods', 'secrets', 'configmaps', 'services', 'deployments', 'jobs', 'roles', 'crontabs', 'serviceaccounts', 'events'];
  const clusterScoped = ['nodes', 'namespaces', 'clusterroles', 'persistentvolumes', 'selfsubjectaccessreviews'];
  const names = ['web', 'db', 'n1', 'a.b', 'x-1', 'default', 'status', 'exec', 'watch', 'proxy', 'namespaces', 'web:8080', 'https:web:443'];
  const subresources = ['status', 'log', 'exec', 'attach', 'portforward', 'proxy', 'scale', 'binding', 'eviction', 'ephemeralcontainers', 'token', 'finalize'];
  const nonResource = ['/version', '/healthz', '/livez', '/readyz', '/api', '/apis', '/apis/apps', '/api/v1', '/apis/apps/v1', '/.well-known/openid-configuration', '/metrics', '/logs/x', '/', '/openid/v1/jwks', '/healthz/ping'];
  const watchValues = ['true', '1', '0', 'false', 'FALSE', 'False', 'fAlSe', 'no', 'yes', '', '%66alse', 'f%61lse', '+false', 'false+', '0+', 't', '00', 'FALS%45', 'off'];
  const queryExtras = ['limit=5', 'limit=x', 'limit=', 'fieldSelector=metadata.name%3Dweb', 'fieldSelector=metadata.name%3D%3Dweb,spec.nodeName%3Dn', 'fieldSelector=metadata.name!%3Dweb', 'labelSelector=a%3Db', 'resourceVersion=0', 'timeoutSeconds=1', 'command=id', 'container=c', 'pretty=true', 'dryRun=All'];

  const plain = (): Case => {
    const r = rnd();
    const method = r < 0.62 ? 'GET' : r < 0.67 ? 'HEAD' : pick(['POST', 'PUT', 'PATCH', 'DELETE']);
    if (chance(0.1)) return { method, target: pick(nonResource) };
    const parts: string[] = [pick(groups)];
    if (chance(0.08)) parts.push(pick(['watch', 'proxy']));
    const shape = rnd();
    if (shape < 0.55) {
      parts.push('namespaces', pick([namespace, 'default', 'kube-system']), pick(namespaced));
      if (chance(0.6)) parts.push(pick(names));
    } else if (shape < 0.7) {
      parts.push('namespaces');
      if (chance(0.8)) parts.push(pick([namespace, 'default', 'status']));
      if (chance(0.5)) parts.push(pick(['status', 'finalize', 'pods', 'secrets']));
    } else {
      parts.push(pick(clusterScoped));
      if (chance(0.6)) parts.push(pick(names));
    }
    if (parts.length >= 3 && chance(0.35)) {
      const sub = pick(subresources);
      parts.push(sub);
      if (sub === 'proxy' && chance(0.6)) parts.push(pick(['x', 'configz', 'metrics', 'a/b']));
    }
    let target = parts.join('/');
    if (chance(0.45)) {
      const q: string[] = [];
      if (chance(0.6)) q.push(chance(0.15) ? 'watch' : `watch=${pick(watchValues)}`);
      if (chance(0.5)) q.push(pick(queryExtras));
      if (chance(0.2)) q.push(pick(queryExtras));
      if (q.length) target += `?${q.join('&')}`;
    }
    return { method, target };
  };

  const encodeOne = (s: string): string => {
    const idx = [...s].map((ch, i) => (/[a-z0-9.]/.test(ch) ? i : -1)).filter((i) => i >= 0);
    if (!idx.length) return s;
    const i = pick(idx);
    const hex = s.charCodeAt(i).toString(16).padStart(2, '0');
    return s.slice(0, i) + '%' + (chance(0.5) ? hex.toUpperCase() : hex.toLowerCase()) + s.slice(i + 1);
  };

  const mutations: ((path: string, query: string) => [string, string])[] = [
    (p, q) => [encodeOne(p), q],
    (p, q) => [encodeOne(encodeOne(p)), q],
    (p, q) => [replaceSlash(p, pick(['%2F', '%2f'])), q],
    (p, q) => [replaceSlash(p, pick(['%5C', '%5c', '\\'])), q],
    (p, q) => [replaceSlash(p, '//'), q],
    (p, q) => [`${p}/${pick(['..', '.', '%2E%2E', '%2e%2e', '.%2E', '%2e', '%2E.'])}`, q],
    (p, q) => [insertSegment(p, pick(['..', '.', '%2e%2e', '%2E'])), q],
    (p, q) => [`${p}/`, q],
    (p, q) => [`${p};${pick(['x=1', 'watch=true', ''])}`, q],
    (p, q) => [`${p}#${pick(['', 'x', '/exec'])}`, q],
    (p, q) => [`${p}${pick(['%00', '%0a', '%0D', '%7f', '%20'])}`, q],
    (p, q) => [`${p}${pick(['%zz', '%2', '%', '%u002F', '%g0'])}`, q],
    (p, q) => [`${p}${pick(['%C0%AF', '%E0%80%AF', '%ff', '%C3%A9', '%252F', '%3F', '%23', '\u00e9'])}`, q],
    (p, q) => [p, `${q ? `${q}&` : ''}watch=${pick(['true', 'false'])}&watch=${pick(['true', 'false'])}`],
    (p, q) => [p, `${q ? `${q};` : ''}watch=${pick(['true', 'false'])}`],
    (p, q) => [p, `${q ? `${q}&` : ''}${pick(['w%61tch=false', 'watch=%zz', 'watch=fal%C5%BFe', 'a=%0a', 'watch=%00'])}`],
  ];

  const corpus: Case[] = [];
  while (corpus.length < size) {
    const c = plain();
    if (chance(0.5)) {
      const q = c.target.indexOf('?');
      let path = q < 0 ? c.target : c.target.slice(0, q);
      let query = q < 0 ? '' : c.target.slice(q + 1);
      const n = chance(0.7) ? 1 : 2;
      for (let i = 0; i < n; i++) [path, query] = pick(mutations)(path, query);
      c.target = query ? `${path}?${query}` : path;
    }
    corpus.push(c);
  }
  return corpus;

  function replaceSlash(p: string, by: string): string {
    const slashes = [...p].map((ch, i) => (ch === '/' && i > 0 ? i : -1)).filter((i) => i >= 0);
    if (!slashes.length) return p + by;
    const i = pick(slashes);
    return p.slice(0, i) + by + p.slice(i + 1);
  }
  function insertSegment(p: string, seg: string): string {
    const slashes = [...p].map((ch, i) => (ch === '/' && i > 0 ? i : -1)).filter((i) => i >= 0);
    if (!slashes.length) return `${p}/${seg}`;
    const i = pick(slashes);
    return `${p.slice(0, i)}/${seg}${p.slice(i)}`;
  }
}

/**
 * One HTTP/1.1 request written byte for byte over TLS, so the target is
 * exactly as generated (Node's client would refuse or re-encode some).
 * A streaming answer (a watch) is cut after its headers.
 */
function rawRequest(publicUrl: string, ca: string, token: string, method: string, target: string): Promise<{ status: number; body: string; error: string }> {
  const url = new URL(publicUrl);
  const body = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? '' : '{}';
  const head = [
    `${method} ${target} HTTP/1.1`,
    `host: ${url.host}`,
    `authorization: Bearer ${token}`,
    'accept: application/json',
    'connection: close',
    ...(body ? [`content-type: ${method === 'PATCH' ? 'application/merge-patch+json' : 'application/json'}`, `content-length: ${body.length}`] : []),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca }, () => socket.write(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1'));
    // (never end() the writing side early: a half-closed client is a client gone)
    let data = Buffer.alloc(0);
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      const text = data.toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const sep = text.indexOf('\r\n\r\n');
      // Hawser's own refusals name their code in a header, HEAD answers too.
      const error = /\r\nx-hawser-error: *([A-Z_]+)/i.exec(sep < 0 ? text : text.slice(0, sep))?.[1] ?? '';
      resolve({ status, body: sep < 0 ? '' : text.slice(sep + 4), error });
    };
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const text = data.toString('latin1');
      const sep = text.indexOf('\r\n\r\n');
      if (sep < 0) return;
      const headers = text.slice(0, sep).toLowerCase();
      // A watch answers 200 and streams: its headers are all we need.
      if (/^http\/1\.1 200/.test(headers) && !headers.includes('content-length:') && method === 'GET') {
        done();
        socket.destroy();
      }
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', (err) => (settled ? undefined : data.length ? done() : reject(err)));
  });
}
