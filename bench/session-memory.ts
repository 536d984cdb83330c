/**
 * Server memory per idle tunnel: `npm run bench:sessions [-- --counts 200,2000]`.
 *
 * The real `hawser server` (its own process, embedded store, with
 * bench/lib/memory-probe.mjs preloaded) and, from this one process, real
 * agent tunnels: each cluster is added through the admin API, registered
 * with its own CSR on the agent endpoint (a certificate of its own), and
 * its tunnel opened as the agent opens it: TLS with that client
 * certificate, the WebSocket upgrade on /agent/v1/tunnel, and the
 * protocol's HELLO exchange (Session, role client) until `ready`.
 *
 * The server's memory is read after a forced full collection (the probe
 * answers SIGUSR2), first idle with no tunnel, then with each count of
 * idle tunnels open: per tunnel = (with N - with none) / N, for RSS and
 * for the V8 heap. The first report is also the server's idle breakdown
 * (docs/operations.md, "Memory"). Linux only (reads /proc).
 * Results: stdout and bench/results/session-memory.{md,json}.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { csrPem } from '../packages/agent/src/csr.js';
import { fromWebSocket, Session } from '../packages/protocol/src/index.js';
import { REQUEST_HEAD_CAPABILITY } from '../packages/contract/src/stream-head.js';
import { startServer } from '../test/support/hawser.js';

const root = resolve(import.meta.dirname, '..');
const argValue = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const counts = (argValue('counts') ?? '200,2000').split(',').map(Number);
const snapshot = process.argv.includes('--snapshot');
const log = (l: string) => process.stderr.write(`sessions: ${l}\n`);
const probeOut = join(root, 'bench/results/.probe');

/** glibc's mmap threshold in Dockerfile.server's ENV; keep the two in step. */
export const SERVER_MALLOC_MMAP_THRESHOLD = '131072';

interface Probe {
  memoryUsage: NodeJS.MemoryUsage;
  status: Record<string, number>;
  smaps: Record<string, number>;
  heap: { used_heap_size: number; total_heap_size: number; malloced_memory: number; external_memory: number };
  code: { code_and_metadata_size: number; bytecode_and_metadata_size: number; external_script_source_size: number };
  spaces: { name: string; size: number; used: number; physical: number }[];
}

async function probe(pid: number): Promise<Probe> {
  const file = `${probeOut}.${pid}.json`;
  await rm(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600 && !existsSync(file); i++) await delay(100);
  return JSON.parse(readFileSync(file, 'utf8')) as Probe;
}

function postJson<T>(url: string, ca: string, body: unknown, token?: string): Promise<{ status: number; body: T }> {
  return new Promise((res, rej) => {
    const data = JSON.stringify(body);
    const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (text += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: JSON.parse(text || '{}') as T }));
    });
    req.on('error', rej);
    req.end(data);
  });
}

async function main(): Promise<void> {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(root, 'bench/lib/memory-probe.mjs')}`.trim();
  process.env.HAWSER_MEMORY_PROBE_OUT = probeOut;
  if (snapshot) process.env.HAWSER_MEMORY_PROBE_SNAPSHOT = '1';
  process.env.HAWSER_LOG_LEVEL = 'warn';
  // What Dockerfile.server sets (docs/operations.md, "Memory"); `--malloc-default` measures without.
  if (!process.argv.includes('--malloc-default')) process.env.MALLOC_MMAP_THRESHOLD_ ??= SERVER_MALLOC_MMAP_THRESHOLD;
  const first = await startServer();
  // The first start also creates the database (initdb, a second WASM
  // module); a server in service has restarted on its data directory since,
  // so tunnels are measured on a restarted one.
  await delay(3000);
  const firstStart = await probe(first.process.child.pid!);
  writeFileSync(join(root, 'bench/results/server-first-start-memory.json'), JSON.stringify(firstStart, null, 1));
  log(`first start: rss ${(firstStart.status.VmRSS! / 2 ** 20).toFixed(1)} MiB, heap used ${(firstStart.memoryUsage.heapUsed / 2 ** 20).toFixed(1)} MiB`);
  await first.stop();
  const server = await first.restart();
  const pid = server.process.child.pid!;
  const ca = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
  const adminToken = (await readFile(join(server.dataDir, 'admin-token'), 'utf8')).trim();
  // A few keys reused round-robin (RSA keygen is slow); each registration
  // still gets its own CSR and certificate, so each tunnel its own identity.
  const keys = Array.from({ length: 4 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const sessions: { session: Session; ws: WebSocket }[] = [];
  const rows: { tunnels: number; rss: number; heapUsed: number; heapTotal: number; external: number; rssPer?: number; heapPer?: number }[] = [];
  try {
    await delay(3000);
    const idle = await probe(pid);
    writeFileSync(join(root, 'bench/results/server-idle-memory.json'), JSON.stringify(idle, null, 1));
    rows.push({ tunnels: 0, rss: idle.status.VmRSS!, heapUsed: idle.memoryUsage.heapUsed, heapTotal: idle.memoryUsage.heapTotal, external: idle.memoryUsage.external });
    log(`idle: rss ${(idle.status.VmRSS! / 2 ** 20).toFixed(1)} MiB, heap used ${(idle.memoryUsage.heapUsed / 2 ** 20).toFixed(1)} MiB`);
    for (const target of counts) {
      log(`opening tunnels up to ${target}`);
      while (sessions.length < target) {
        const batch = Math.min(Number(argValue("batch") ?? 10), target - sessions.length);
        await Promise.all(Array.from({ length: batch }, async () => {
          const n = sessions.length;
          const name = `s-${n}-${Math.random().toString(36).slice(2, 8)}`;
          const added = await postJson<{ bootstrap: { token: string } }>(`${server.publicUrl}/api/v1/clusters`, ca, { name }, adminToken);
          if (added.status !== 201) throw new Error(`add cluster: ${added.status} ${JSON.stringify(added.body)}`);
          const key = keys[n % keys.length]!;
          const reg = await postJson<{ certificate: string; caBundle: string[] }>(`${server.agentUrl}/agent/v1/register`, ca, { token: added.body.bootstrap.token, csr: csrPem(key, 'hawser-agent'), agentVersion: '0.1.0', kubernetesVersion: 'v1.36.0' });
          if (reg.status !== 200) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
          const ws = new WebSocket(`${server.agentUrl.replace('https:', 'wss:')}/agent/v1/tunnel`, { ca, cert: reg.body.certificate, key, perMessageDeflate: false });
          const session = new Session(fromWebSocket(ws), { role: 'client', software: 'hawser-bench/0', capabilities: [REQUEST_HEAD_CAPABILITY], metadata: { mode: 'read-only' }, timings: { handshakeTimeoutMs: 120_000 } });
          session.on('error', () => undefined);
          await session.ready;
          sessions.push({ session, ws });
          if (sessions.length % 100 === 0) log(`${sessions.length} tunnels open`);
        }));
      }
      await delay(2000);
      const p = await probe(pid);
      const row = { tunnels: target, rss: p.status.VmRSS!, heapUsed: p.memoryUsage.heapUsed, heapTotal: p.memoryUsage.heapTotal, external: p.memoryUsage.external, rssPer: (p.status.VmRSS! - rows[0]!.rss) / target, heapPer: (p.memoryUsage.heapUsed - rows[0]!.heapUsed) / target };
      rows.push(row);
      log(`${target} tunnels: rss ${(row.rss / 2 ** 20).toFixed(1)} MiB (${(row.rssPer / 1024).toFixed(1)} KiB each), heap used ${(row.heapUsed / 2 ** 20).toFixed(1)} MiB (${(row.heapPer / 1024).toFixed(1)} KiB each)`);
    }
  } finally {
    for (const s of sessions) s.ws.terminate();
    await server.remove();
  }
  const kib = (b: number | undefined) => (b === undefined ? '-' : (b / 1024).toFixed(1));
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const lines = [
    `# Server memory per idle tunnel (${new Date().toISOString()}, node ${process.version}; after a forced full GC)`,
    '',
    '| idle tunnels | server RSS | heap used | heap total | external | RSS per tunnel | heap per tunnel |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.tunnels} | ${mib(r.rss)} MiB | ${mib(r.heapUsed)} MiB | ${mib(r.heapTotal)} MiB | ${mib(r.external)} MiB | ${kib(r.rssPer)} KiB | ${kib(r.heapPer)} KiB |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench/results/session-memory.md'), `${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench/results/session-memory.json'), JSON.stringify({ node: process.version, rows }, null, 2));
}

await main();
