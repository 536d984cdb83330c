import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { binary } from '../controlplane/binaries.js';
import { runCommand, type CommandResult } from './processes.js';
import { testCluster } from './test-cluster.js';

/** A DNS-1123 name unique to this run, so suites can share a real cluster. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** KubeConfig for the cluster's admin (our control plane's system:masters cert). */
export function adminConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testCluster().kubeconfig);
  return kc;
}

export function adminCore(): CoreV1Api {
  return adminConfig().makeApiClient(CoreV1Api);
}

/** Creates a namespace and returns a function that deletes it. */
export async function createNamespace(name = uniqueName('hawser-e2e')): Promise<{ name: string; remove: () => Promise<void> }> {
  await adminCore().createNamespace({ body: { metadata: { name, labels: { 'hawser.dev/e2e': 'true' } } } });
  return {
    name,
    remove: async () => {
      // Without a controller manager the namespace stays Terminating; its
      // unique name keeps later runs clear of it.
      await adminCore().deleteNamespace({ name }).catch(() => {});
    },
  };
}

/**
 * Server-side applies every document of a (multi-document) YAML string,
 * defaulting the namespace of namespaced objects that name none.
 */
export async function applyYaml(text: string, opts: { namespace?: string } = {}): Promise<KubernetesObject[]> {
  const client = KubernetesObjectApi.makeApiClient(adminConfig());
  const applied: KubernetesObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw doc.errors[0];
    const obj = doc.toJS() as KubernetesObject | null;
    if (!obj?.kind) continue;
    obj.metadata ??= {};
    if (opts.namespace && !obj.metadata.namespace && (await isNamespaced(client, obj))) obj.metadata.namespace = opts.namespace;
    applied.push(await client.patch(obj, undefined, undefined, 'hawser-tests', true, PatchStrategy.ServerSideApply));
  }
  return applied;
}

async function isNamespaced(client: KubernetesObjectApi, obj: KubernetesObject): Promise<boolean> {
  // `resource()` is the client's own discovery lookup (cached); it is
  // protected only because it is not meant for general use.
  const lookup = (client as unknown as { resource(apiVersion: string, kind: string): Promise<{ namespaced: boolean } | undefined> })
    .resource.bind(client);
  const resource = await lookup(obj.apiVersion!, obj.kind!);
  return Boolean(resource?.namespaced);
}

/** Creates a ServiceAccount and mints a token for it with the TokenRequest API. */
export async function serviceAccountToken(
  namespace: string,
  name: string,
  opts: { expirationSeconds?: number; create?: boolean } = {},
): Promise<string> {
  const core = adminCore();
  if (opts.create !== false) {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  }
  const res = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 3600 } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

/**
 * Writes the files a pod's ServiceAccount mount holds (token, ca.crt,
 * namespace) under `<root>/var/run/secrets/kubernetes.io/serviceaccount`, and
 * returns the root (for KubeConfig.loadFromCluster(root)) and the
 * KUBERNETES_SERVICE_HOST/PORT variables, so a process under test believes
 * it runs in a pod as that ServiceAccount.
 */
export async function inClusterLayout(token: string, namespace: string): Promise<{
  root: string;
  tokenPath: string;
  env: { KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string };
  remove: () => Promise<void>;
}> {
  const root = await mkdtemp(join(tmpdir(), 'hawser-pod-'));
  const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'token'), token, { mode: 0o600 });
  await writeFile(join(dir, 'ca.crt'), testCluster().ca);
  await writeFile(join(dir, 'namespace'), namespace);
  const url = new URL(testCluster().server);
  return {
    root,
    tokenPath: join(dir, 'token'),
    env: { KUBERNETES_SERVICE_HOST: url.hostname.replace(/^\[|\]$/g, ''), KUBERNETES_SERVICE_PORT: url.port || '443' },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

export interface KubeResponse {
  status: number;
  body: string;
  json: () => { kind?: string; reason?: string; message?: string; items?: unknown[] } & Record<string, unknown>;
}

/**
 * One raw HTTPS request to the API server with a bearer token and extra
 * headers (e.g. Impersonate-User): the exact bytes a client or agent sends,
 * with no client library in between.
 */
export function kubeRequest(
  path: string,
  opts: { token: string; method?: string; headers?: Record<string, string | string[]>; body?: unknown },
): Promise<KubeResponse> {
  const cluster = testCluster();
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, cluster.server),
      {
        method: opts.method ?? 'GET',
        ca: cluster.ca,
        headers: {
          authorization: `Bearer ${opts.token}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs the built kubectl; never throws on a non-zero exit. */
export async function kubectl(
  args: string[],
  opts: { kubeconfig?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return runCommand(await binary('kubectl'), ['--kubeconfig', opts.kubeconfig ?? testCluster().kubeconfig, ...args], {
    env: { ...process.env, ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}
