import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentReadiness, clusterWithOperator, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, applyYaml, createNamespace, serviceAccountToken, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

/**
 * Byte-identical where it should be: the same requests sent to the API
 * server directly and through Hawser (server -> tunnel -> agent as its
 * chart's ServiceAccount, impersonating the operator) answer with the same
 * status, Content-Type, Content-Encoding and body. The direct side
 * impersonates the very identity Hawser does (hawser:alice in
 * hawser:tier:admin), so even the 403's message is the same.
 *
 * Headers that differ, and why (never compared):
 * - Audit-Id: the API server's id of each request.
 * - Date: when each was answered.
 * - X-Kubernetes-Pf-Flowschema-Uid, X-Kubernetes-Pf-Prioritylevel-Uid: API
 *   Priority and Fairness classifies by the authenticated user (the agent's
 *   ServiceAccount vs the direct caller), not by whom it impersonates.
 * - Content-Length on a compressed or chunked answer: the API server
 *   streams those without one; Node frames them either way.
 */
describe('relayed responses are byte-identical to direct ones', () => {
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let hawser: Client;
  let direct: Client;
  /** A resourceVersion both sides list at (Exact), so neither sees a later write anywhere in the cluster. */
  let rv: string;
  const cluster = uniqueName('same');

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    ns = await createNamespace();
    const operator = await clusterWithOperator(server, cluster, { user: 'alice', group: 'idp-admin' });
    agent = operator.agent;
    hawser = {
      base: `${server.publicUrl}/clusters/${cluster}`,
      ca: await readFile(join(server.dataDir, 'ca.crt'), 'utf8'),
      headers: { authorization: `Bearer ${operator.token}` },
    };
    // The direct caller may impersonate; it acts as exactly whom Hawser's agent impersonates.
    const impersonator = uniqueName('impersonator');
    await applyYaml(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${impersonator} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects: [{ kind: ServiceAccount, name: ${impersonator}, namespace: ${ns.name} }]`);
    direct = {
      base: testCluster().server,
      ca: testCluster().ca,
      headers: { authorization: `Bearer ${await serviceAccountToken(ns.name, impersonator)}`, 'impersonate-user': 'hawser:alice', 'impersonate-group': 'hawser:tier:admin' },
    };
    // Enough data for the API server to gzip a list (it compresses answers over 128 KiB).
    const core = adminCore();
    for (let i = 0; i < 40; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: `cm-${i + j}` }, data: { v: 'z'.repeat(5000) } } })));
    }
    rv = (await core.listNamespacedConfigMap({ namespace: ns.name })).metadata!.resourceVersion!;
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  const collection = () => `/api/v1/namespaces/${ns.name}/configmaps`;
  // A list's resourceVersion is the cluster's latest; any write anywhere (a
  // lease renewal) would make two "latest" lists differ.
  const list = () => `${collection()}?resourceVersion=${rv}&resourceVersionMatch=Exact`;
  const cases: { name: string; path: () => string; headers?: Record<string, string> }[] = [
    { name: 'a JSON list', path: list },
    { name: 'a protobuf list', path: list, headers: { accept: 'application/vnd.kubernetes.protobuf' } },
    { name: 'a JSON get', path: () => `${collection()}/cm-1` },
    { name: 'discovery /api', path: () => '/api' },
    { name: 'discovery /apis (aggregated)', path: () => '/apis', headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } },
    { name: 'discovery /apis/apps/v1', path: () => '/apis/apps/v1' },
    { name: 'OpenAPI v3 index', path: () => '/openapi/v3' },
    { name: 'a 404 from the API server', path: () => `${collection()}/no-such-configmap` },
    { name: 'a 403 from the API server', path: () => '/api/v1/nodes' },
  ];

  for (const c of cases) {
    it(`${c.name}: same status, content type, encoding and body`, async () => {
      const [d, h] = await Promise.all([get(direct, c.path(), c.headers), get(hawser, c.path(), c.headers)]);
      expect(h.status).toBe(d.status);
      expect(h.headers['content-type']).toBe(d.headers['content-type']);
      expect(h.headers['content-encoding']).toBe(d.headers['content-encoding']);
      expect(h.body.equals(d.body), `${c.name}: bodies differ`).toBe(true);
    });
  }

  it('OpenAPI v3 for /api/v1: same body', async () => {
    const index = JSON.parse((await get(direct, '/openapi/v3')).body.toString()) as { paths: Record<string, { serverRelativeURL: string }> };
    const path = index.paths['api/v1']!.serverRelativeURL;
    const [d, h] = await Promise.all([get(direct, path), get(hawser, path)]);
    expect([h.status, h.headers['content-type']]).toEqual([d.status, d.headers['content-type']]);
    expect(h.body.equals(d.body)).toBe(true);
  });

  it('a gzip list: same encoding, and the same bytes once gunzipped', async () => {
    const [d, h] = await Promise.all([get(direct, list(), { 'accept-encoding': 'gzip' }), get(hawser, list(), { 'accept-encoding': 'gzip' })]);
    expect(d.headers['content-encoding']).toBe('gzip');
    expect(h.headers['content-encoding']).toBe('gzip');
    expect(h.status).toBe(d.status);
    // Compared after gunzip: the compressed bytes are the API server's
    // (Hawser passes them on untouched), but byte equality of two gzip
    // runs is Go's compress/gzip's business, not a contract.
    expect(gunzipSync(h.body).equals(gunzipSync(d.body))).toBe(true);
  });

  it('a chunked list (limit and continue): same pages', async () => {
    // A continue token carries its resourceVersion; a resourceVersion beside it is refused.
    const page = (c: Client, cont?: string) => get(c, cont ? `${collection()}?limit=15&continue=${encodeURIComponent(cont)}` : `${list()}&limit=15`);
    const [d1, h1] = await Promise.all([page(direct), page(hawser)]);
    const dj = JSON.parse(d1.body.toString()) as { metadata: { continue: string; resourceVersion: string }; items: { metadata: { name: string } }[] };
    const hj = JSON.parse(h1.body.toString()) as typeof dj;
    // Taken at the same resourceVersion, the pages and their tokens are the same.
    expect(hj.metadata.resourceVersion).toBe(dj.metadata.resourceVersion);
    expect(h1.body.equals(d1.body)).toBe(true);
    const [d2, h2] = await Promise.all([page(direct, dj.metadata.continue), page(hawser, hj.metadata.continue)]);
    expect(h2.status).toBe(200);
    expect(h2.body.equals(d2.body)).toBe(true);
  });

  it('a WatchList (sendInitialEvents): the same events up to the initial-events-end bookmark', async () => {
    const path = `${collection()}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`;
    const [d, h] = await Promise.all([watchList(direct, path), watchList(hawser, path)]);
    expect(h.contentType).toBe(d.contentType);
    // The events themselves are byte-identical; the closing bookmark names
    // the resourceVersion at which each watch caught up, which may differ.
    expect(h.events.slice(0, -1)).toEqual(d.events.slice(0, -1));
    // 40 ConfigMaps, the namespace's kube-root-ca.crt, and the bookmark.
    expect(h.events).toHaveLength(42);
    for (const r of [d, h]) expect(JSON.parse(r.events.at(-1)!)).toMatchObject({ type: 'BOOKMARK', object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
  });
});

interface Client {
  base: string;
  ca: string;
  headers: Record<string, string>;
}

function get(c: Client, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(c.base + path), { ca: c.ca, agent: false, headers: { ...c.headers, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads a WatchList stream until the bookmark that ends the initial events; returns the raw event lines. */
function watchList(c: Client, path: string): Promise<{ contentType: string | undefined; events: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(c.base + path), { ca: c.ca, agent: false, headers: c.headers }, (res) => {
      const events: string[] = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          events.push(line);
          if (line.includes('"k8s.io/initial-events-end"')) {
            resolve({ contentType: res.headers['content-type'], events });
            req.destroy();
            return;
          }
        }
      });
      res.on('end', () => reject(new Error(`watch ended before the initial-events-end bookmark: ${events.length} events`)));
    });
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
    req.end();
  });
}
