import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AgentConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/log.js';
import { spkiHash } from '@hawser/contract';
import type { AgentState } from '../../src/state-store.js';
import { X509Certificate } from 'node:crypto';
import { issue, type Issued } from './test-pki.js';
import { afterEach, beforeEach } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { HttpsStub, json } from './https-stub.js';

/** A temporary directory, removed by `remove()`. */
export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'hawser-agent-test-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A kubeconfig naming `serverUrl` (trusting `ca`) with a static token. */
export function writeKubeconfig(dir: string, serverUrl: string, ca: string): string {
  const path = join(dir, 'kubeconfig');
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: serverUrl, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
    users: [{ name: 'u', user: { token: 'sa-token' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

/** An agent configuration for a unit test: state in `dir`, health on 127.0.0.1 port 0. */
export function testConfig(dir: string, kubeconfig: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    bootstrapTokenFile: join(dir, 'no-token'),
    state: { kind: 'dir', path: join(dir, 'state') },
    kube: { kind: 'kubeconfig', path: kubeconfig },
    mode: 'read-only',
    authzMode: 'tier',
    impersonationPrefix: 'hawser:',
    denyResources: [],
    protectedNamespaces: [],
    healthAddr: { host: '127.0.0.1', port: 0 },
    logLevel: 'info',
    logFormat: 'json',
    proxy: { noProxy: [] },
    renewAt: 2 / 3,
    ...overrides,
  };
}

/** An unsigned bootstrap token with the claims the agent reads (only the server checks the signature). */
export function bootstrapToken(claims: { url: string; cah: string; exp?: number; cid?: string; cnm?: string }): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = { cid: 'cluster-1', cnm: 'test', exp: Math.floor(Date.now() / 1000) + 3600, ...claims };
  return `${b64({ alg: 'ES256', typ: 'hawser-bootstrap+jwt' })}.${b64(body)}.c2ln`;
}

export function caHash(ca: Issued): string {
  return spkiHash(new X509Certificate(ca.cert));
}

/** A stored identity: a client certificate from `ca` valid over the given window. */
export function identity(serverUrl: string, ca: Issued, validity: { notBefore?: Date; notAfter?: Date } = {}): AgentState {
  const client = issue({ cn: 'cluster-1', issuer: ca, client: true, ...validity });
  return {
    clusterId: 'cluster-1',
    clusterName: 'test',
    serverUrl,
    key: client.key,
    certificate: client.cert,
    caBundle: [ca.cert],
    notAfter: new Date(new X509Certificate(client.cert).validTo).toISOString(),
  };
}

/** Log lines as objects, and a way to wait for one. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly #waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  readonly logger: Logger;

  constructor() {
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) {
          const line = JSON.parse(text) as Record<string, unknown>;
          this.lines.push(line);
          for (const w of this.#waiters.filter((w) => w.match(line))) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
        cb();
      },
    });
    this.logger = createLogger('debug', sink);
  }

  /** The first line (logged already or still to come) whose msg is `msg`. */
  next(msg: string): Promise<Record<string, unknown>> {
    const match = (l: Record<string, unknown>) => l.msg === msg;
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }
}

/** A port on 127.0.0.1 nothing listens on (yet): bound once, then released. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => probe.once('listening', () => resolve()));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * Per-test state for tests that start an Agent: a temp dir and a stand-in
 * API server (404 to everything), both made before each test; the agent a
 * test sets is destroyed after it.
 */
export function agentBench(serving: Issued): { readonly dir: { path: string }; readonly api: HttpsStub; agent: Agent | undefined } {
  const bench = { dir: undefined as unknown as ReturnType<typeof tempDir>, api: undefined as unknown as HttpsStub, agent: undefined as Agent | undefined };
  beforeEach(async () => {
    bench.dir = tempDir();
    bench.api = await HttpsStub.start(serving, [serving.cert], (_req, res) => json(res, 404, {}));
  });
  afterEach(async () => {
    bench.agent?.destroy();
    bench.agent = undefined;
    await bench.api.close();
    bench.dir.remove();
  });
  return bench;
}
