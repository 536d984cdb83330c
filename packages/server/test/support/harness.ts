import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { createServer, generateRsaKeyPem } from '../../src/index.js';
import { createCsr } from './csr.js';
import type { CreateServerOptions, HawserServer, ServerConfigInput } from '../../src/index.js';

/** Collects pino JSON lines in memory so tests can assert on logs. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }

  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }
}

export interface Harness {
  server: HawserServer;
  dataDir: string;
  publicUrl: string;
  agentUrl: string;
  adminToken: string;
  ca: string;
  logs: LogCapture;
  stop(): Promise<void>;
}

export function tempDir(prefix = 'hawser-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Starts a real server on 127.0.0.1 port 0 with an in-memory PGlite (unless a databaseUrl is given). */
export async function startServer(
  config: ServerConfigInput = {},
  options: CreateServerOptions = {},
): Promise<Harness> {
  const dir = config.dataDir ? undefined : tempDir();
  const logs = new LogCapture();
  const server = createServer(
    {
      dataDir: dir?.path,
      databaseUrl: 'memory://',
      listen: '127.0.0.1:0',
      agentListen: '127.0.0.1:0',
      logLevel: 'debug',
      // With PostgreSQL the replica-to-replica listener is on: a free port, never the shared default.
      ...(config.databaseUrl?.startsWith('postgres') ? { peerListen: '127.0.0.1:0' } : {}),
      ...config,
    },
    { logDestination: logs, tunnelCloseGraceMs: 300, ...options },
  );
  const { publicUrl, agentUrl } = await server.listen();
  const ctx = server.context;
  const { readFileSync } = await import('node:fs');
  return {
    server,
    dataDir: server.config.dataDir,
    publicUrl,
    agentUrl,
    adminToken: readFileSync(ctx.adminTokenFile, 'utf8').trim(),
    ca: ctx.ca.certPem,
    logs,
    async stop() {
      await server.close();
      dir?.remove();
    },
  };
}

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

/** One HTTPS JSON request on a fresh connection (no keep-alive, no TLS session reuse). */
export function httpsJson<T = Record<string, unknown>>(
  url: string,
  options: { method?: string; body?: unknown; ca: string; cert?: string; key?: string; token?: string },
): Promise<JsonResponse<T>> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        agent: false,
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

// RSA key generation dominates test time on a busy 2-core machine; a few
// keys, reused round-robin, still give every certificate its own serial and
// fingerprint.
const keyPool: string[] = [];
let nextKey = 0;

/** An agent identity: an RSA key and a fresh CSR for it. */
export function agentKey(): { keyPem: string; csrPem: string } {
  if (keyPool.length < 3) keyPool.push(generateRsaKeyPem(2048).privateKeyPem);
  const keyPem = keyPool[nextKey++ % keyPool.length]!;
  return { keyPem, csrPem: createCsr(keyPem) };
}

export interface AddedCluster {
  cluster: { id: string; name: string; status: string };
  bootstrap: { token: string; expiresAt: string; helm: string; kubectl: string };
}

export async function addCluster(h: Harness, name: string, extra: Record<string, unknown> = {}): Promise<AddedCluster> {
  const res = await httpsJson<AddedCluster>(`${h.publicUrl}/api/v1/clusters`, {
    method: 'POST',
    ca: h.ca,
    token: h.adminToken,
    body: { name, ...extra },
  });
  if (res.status !== 201) throw new Error(`add cluster ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export interface Registered {
  clusterId: string;
  clusterName: string;
  certificate: string;
  caBundle: string[];
  notAfter: string;
  keyPem: string;
}

export async function register(h: Harness, token: string, extra: Record<string, unknown> = {}): Promise<JsonResponse> {
  const { csrPem } = agentKey();
  return httpsJson(`${h.agentUrl}/agent/v1/register`, { method: 'POST', ca: h.ca, body: { token, csr: csrPem, ...extra } });
}

/** Adds a cluster and registers an agent for it. */
export async function registeredAgent(h: Harness, name: string): Promise<Registered> {
  const added = await addCluster(h, name);
  const { keyPem, csrPem } = agentKey();
  const res = await httpsJson<Omit<Registered, 'keyPem'>>(`${h.agentUrl}/agent/v1/register`, {
    method: 'POST',
    ca: h.ca,
    body: { token: added.bootstrap.token, csr: csrPem, agentVersion: '0.1.0', kubernetesVersion: 'v1.35.0' },
  });
  if (res.status !== 200) throw new Error(`register ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, keyPem };
}

export type TunnelOutcome =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number; body: string };

/** Opens the tunnel WebSocket with an optional client certificate. */
export function openTunnel(h: Harness, identity?: { cert: string; key: string }): Promise<TunnelOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${h.agentUrl.replace('https:', 'wss:')}/agent/v1/tunnel`, {
      ca: h.ca,
      ...(identity ? { cert: identity.cert, key: identity.key } : {}),
    });
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    ws.once('error', reject);
  });
}
