import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, decodeJwt, importPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChart, render, serverChart } from '../support/charts.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, kubectl } from '../support/kube.js';
import { relayRequest } from '../support/relay-client.js';
import { testCluster } from '../support/test-cluster.js';

const AUDIENCE = 'https://hawser.e2e.invalid';

/**
 * Automation identities on the real path: the server's chart applied to the
 * real API server (kubernetesAuth on), the server process reviewing tokens
 * with exactly that chart ServiceAccount's rights, workloads' tokens minted
 * by TokenRequest, and a real agent relaying to the same cluster.
 */
describe('workloads authenticate with their ServiceAccount token (TokenReview)', () => {
  let server: TestServer;
  let ca: string;
  let agent: TestAgent | undefined;
  let files: string;
  let serverNs: Awaited<ReturnType<typeof createNamespace>>;
  let ci: Awaited<ReturnType<typeof createNamespace>>;
  let other: Awaited<ReturnType<typeof createNamespace>>;
  let removeChart: (() => Promise<void>) | undefined;
  const cluster = `auto-${Date.now().toString(36)}`;
  const serverSa = 'hawser-hawser-server';

  beforeAll(async () => {
    serverNs = await createNamespace();
    ci = await createNamespace();
    other = await createNamespace();
    const { yaml } = await render(serverChart, {
      release: 'hawser',
      namespace: serverNs.name,
      values: {
        publicUrl: 'https://hawser.e2e.invalid',
        agentUrl: 'https://hawser.e2e.invalid:8444',
        'kubernetesAuth.enabled': true,
        'kubernetesAuth.audience': AUDIENCE,
      },
    });
    removeChart = await applyChart(yaml, serverNs.name);
    for (const [ns, name] of [[ci.name, 'deployer'], [ci.name, 'reader'], [other.name, 'stranger'], [ci.name, 'doomed']] as const) {
      await adminCore().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    }
    // The server reviews tokens as the chart's ServiceAccount, with only the chart's rights.
    files = await mkdtemp(join(tmpdir(), 'hawser-kauth-'));
    await writeFile(join(files, 'ca.crt'), testCluster().ca);
    await writeFile(join(files, 'token'), await tokenFor(serverNs.name, serverSa, []));
    const config = {
      audience: AUDIENCE,
      apiServer: testCluster().server,
      caFile: join(files, 'ca.crt'),
      tokenFile: join(files, 'token'),
      tiers: { write: [`system:serviceaccount:${ci.name}:deployer`, `system:serviceaccount:${ci.name}:doomed`], read: [`system:serviceaccounts:${ci.name}`] },
      cacheSeconds: 2,
    };
    server = await startServer({ args: ['--kubernetes-auth', JSON.stringify(config)] });
    ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    const { token } = await addCluster(server, cluster);
    const agentNs = await createNamespace();
    agent = await deployAgent({ namespace: agentNs.name, server, token, values: { mode: 'read-write', set: ['tierBindings.enabled=true'] } });
    await eventually(async () => expect((await agentReadiness(agent!)).body.status).toBe('connected'), 30_000);
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await removeChart?.();
    for (const ns of [serverNs, ci, other]) await ns?.remove();
    if (files) await rm(files, { recursive: true, force: true });
  });

  const list = (token: string) => relay(`/api/v1/namespaces/${ci.name}/configmaps`, { token });
  const create = (token: string) =>
    relay(`/api/v1/namespaces/${ci.name}/configmaps?dryRun=All`, { token, method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } } });

  it("grants the server's ServiceAccount create tokenreviews and nothing more", async () => {
    const sa = `system:serviceaccount:${serverNs.name}:${serverSa}`;
    const rows = async (user: string) => (await kubectl(['auth', 'can-i', '--list', `--as=${user}`])).stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter(Boolean);
    // A ServiceAccount with no bindings at all, for what every account gets.
    await adminCore().createNamespacedServiceAccount({ namespace: serverNs.name, body: { metadata: { name: 'nobody' } } });
    const baseline = new Set(await rows(`system:serviceaccount:${serverNs.name}:nobody`));
    expect((await rows(sa)).filter((r) => !baseline.has(r))).toEqual(['tokenreviews.authentication.k8s.io [] [] [create]']);
    expect((await kubectl(['auth', 'can-i', 'create', 'tokenreviews', `--as=${sa}`])).stdout.trim()).toBe('yes');
    expect((await kubectl(['auth', 'can-i', 'create', 'subjectaccessreviews', `--as=${sa}`])).stdout.trim()).toBe('no');
  });

  it('gives a TokenRequest token with the right audience its mapped tier: write by name, read by namespace group', async () => {
    const deployer = await tokenFor(ci.name, 'deployer');
    expect((await list(deployer)).status).toBe(200);
    expect((await create(deployer)).status).toBe(201);
    const reader = await tokenFor(ci.name, 'reader');
    expect((await list(reader)).status).toBe(200);
    const refused = await create(reader);
    expect(refused.status).toBe(403);
    expect(refused.json.message).toContain(`User "hawser:system:serviceaccount:${ci.name}:reader" cannot create`);
  });

  it('refuses a token minted for another audience (401 Status, HSR_ERR_UNAUTHORIZED)', async () => {
    const res = await list(await tokenFor(ci.name, 'deployer', ['https://someone-else.invalid']));
    expectStatus(res, 401, 'HSR_ERR_UNAUTHORIZED');
  });

  it('refuses an expired token signed by the cluster (401)', async () => {
    const fresh = decodeJwt(await tokenFor(ci.name, 'deployer'));
    const key = await importPKCS8(await readFile(join(testCluster().kubeletClientCaDir!, 'sa.key'), 'utf8'), 'RS256');
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await new SignJWT({ ...fresh, iat: past - 600, nbf: past - 600, exp: past }).setProtectedHeader({ alg: 'RS256' }).sign(key);
    expectStatus(await list(expired), 401, 'HSR_ERR_UNAUTHORIZED');
  });

  it('refuses a mapped ServiceAccount within the cache times once it is deleted (401)', async () => {
    const doomed = await tokenFor(ci.name, 'doomed');
    expect((await list(doomed)).status).toBe(200);
    await adminCore().deleteNamespacedServiceAccount({ name: 'doomed', namespace: ci.name });
    const deleted = Date.now();
    await eventually(async () => expectStatus(await list(doomed), 401, 'HSR_ERR_UNAUTHORIZED'), 30_000);
    // Hawser's cache (cacheSeconds 2 here) on top of the API server's own
    // cache of successful token authentications (10 s in kube-apiserver):
    // 12 s, plus polling and a loaded machine.
    expect(Date.now() - deleted).toBeLessThan(20_000);
  });

  it('refuses a valid ServiceAccount that maps to no tier (403 Status, HSR_ERR_RELAY_FORBIDDEN)', async () => {
    const res = await list(await tokenFor(other.name, 'stranger'));
    expectStatus(res, 403, 'HSR_ERR_RELAY_FORBIDDEN');
    expect(res.json.message).toContain('map to no Hawser tier');
  });

  function relay(path: string, opts: { token: string; method?: string; body?: unknown }) {
    return relayRequest(new URL(`/clusters/${cluster}${path}`, server.publicUrl), ca, opts);
  }
});

/** A TokenRequest token for `name`, for AUDIENCE unless told otherwise. */
async function tokenFor(namespace: string, name: string, audiences: string[] = [AUDIENCE]): Promise<string> {
  const res = await adminCore().createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences, expirationSeconds: 3600 } } });
  if (!res.status?.token) throw new Error(`no token for ${namespace}/${name}`);
  return res.status.token;
}

function expectStatus(res: { status: number; json: Record<string, unknown>; headers: Record<string, unknown> }, status: number, code: string): void {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  expect(res.json).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status });
  expect(JSON.stringify(res.json) + String(res.headers['x-hawser-error'])).toContain(code);
}
