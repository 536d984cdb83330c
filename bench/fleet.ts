/**
 * Fleet capacity (issue 18, "Capacity, measured"): `npm run bench:fleet
 * [-- --quick] [--tunnels N] [--storm N] [--registrations N] [--workers N]
 * [--parts idle,storm,forwarded,register] [--store postgres|pglite]`.
 * docs/fleet-capacity.md has the figures and what limits them.
 *
 * One real `hawser server` process (PostgreSQL by default, or the embedded
 * store; the memory probe preloaded) and the swarm (bench/lib/swarm.ts): a
 * few worker processes running thousands of agents' worth of real tunnels,
 * each with its own client certificate, TLS, WebSocket, the agent's own
 * HELLO and its reconnect backoff.
 *
 *   idle       N tunnels on one server: server RSS and V8 heap per tunnel
 *              (after a forced full GC, with N minus with none), CPU at idle
 *              (heartbeats) over --idle-seconds; a ramp that stalls on a
 *              loaded machine is measured with the tunnels it has
 *   storm      N tunnels, the server restarted (SIGTERM, same data dir,
 *              database and ports): time until all are back, handshakes/s,
 *              server CPU during the storm, what was refused and how
 *   forwarded  small GET p50/p99 on the owner vs through a non-owner replica
 *              (two servers on one PostgreSQL, bench/lib/swarm-forward.ts)
 *   register   registrations/s through POST /agent/v1/register
 *
 * BENCH SHORTCUT, said in the output too: the swarm's clusters are created
 * and their certificates issued directly in the stopped server's store
 * (swarm-seed.ts), not through registration; registration is measured apart.
 * Results: stdout and bench/results/fleet.{md,json}.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { startServer, type TestServer } from '../test/support/hawser.js';
import { startPostgres } from '../test/support/postgres.js';
import { Swarm } from './lib/swarm.js';
import type { SwarmCounts } from './lib/swarm-ipc.js';
import { measureForwarded } from './lib/swarm-forward.js';
import type { GetLatency } from './lib/swarm-get.js';
import { measureRegistrations, type RegistrationResult } from './lib/swarm-register.js';
import { agentKeys, seedClusters } from './lib/swarm-seed.js';
import { cpuWindow, load1, probeMemory, type ServerMemory } from './lib/swarm-server.js';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const quick = process.argv.includes('--quick');
/** Which parts run: `--parts idle,storm,register,forwarded` (default all; idle and storm share one set-up). */
const parts = new Set((process.argv[process.argv.indexOf('--parts') + 1] ?? '').split(',').filter(() => process.argv.includes('--parts')));
const runs = (part: string): boolean => parts.size === 0 || parts.has(part);
const N = {
  tunnels: arg('tunnels', quick ? 300 : 10_000),
  storm: arg('storm', quick ? 300 : 5_000),
  registrations: arg('registrations', quick ? 50 : 500),
  registerConcurrency: arg('register-concurrency', 16),
  workers: arg('workers', quick ? 2 : 4),
  idleSeconds: arg('idle-seconds', quick ? 10 : 30),
  gets: arg('gets', quick ? 200 : 1000),
  sourceAddresses: arg('source-addresses', 8),
};
/** The server's store for idle and storm: `--store postgres` (default; what a fleet runs on) or `--store pglite` (embedded). */
const store = process.argv.includes('--store') ? process.argv[process.argv.indexOf('--store') + 1] : 'postgres';
const log = (line: string) => process.stderr.write(`fleet: ${line}\n`);
const probeOut = join(root, 'bench/results/.fleet-probe');
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const kib = (b: number) => (b / 1024).toFixed(1);
const signed = (ms: number) => `${ms >= 0 ? '+' : ''}${ms.toFixed(2)}`;

const report: Record<string, unknown> = {
  when: new Date().toISOString(),
  node: process.version,
  cores: cpus().length,
  ulimitN: execFileSync('bash', ['-c', 'ulimit -n']).toString().trim(),
  loadAtStart: load1(),
  params: { ...N, store },
  shortcut: 'swarm clusters created and certificates issued directly in the stopped server data dir (bench only); registration measured separately through POST /agent/v1/register',
};
const lines: string[] = [];
const row = (what: string, value: string, note = '') => lines.push(`| ${what} | ${value} | ${note} |`);

function describeFailures(c: SwarmCounts): string {
  const entries = Object.entries(c.failures).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${v}x ${k}`).join('; ');
}

/**
 * Waits until `want` sessions are up, or until the count has stalled (under
 * 1 % more in `stallMs`: on this shared machine the server and the swarm get
 * a slice of two cores, and past some count the heartbeats take all of it).
 */
/** The most sessions up at once during the last waitAll (a ramp may peak, then lose some). */
let peakConnected = 0;

async function waitAll(swarm: Swarm, want: number, timeoutMs: number, label: string, stallMs = 90_000): Promise<SwarmCounts> {
  let lastLog = 0;
  let mark = { at: Date.now(), connected: 0 };
  peakConnected = 0;
  let stalled = false;
  const c = await swarm.until((c) => {
    peakConnected = Math.max(peakConnected, c.connected);
    if (c.connected >= mark.connected + Math.max(1, want / 100)) mark = { at: Date.now(), connected: c.connected };
    stalled = Date.now() - mark.at > stallMs;
    return c.connected >= want || stalled;
  }, timeoutMs, (c) => {
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`${label}: ${c.connected}/${want} connected, load ${load1()}`);
    }
  });
  if (stalled) log(`${label}: stalled at ${c.connected}/${want}; measuring with those`);
  return c;
}

async function idle(server: TestServer, swarm: Swarm, base: ServerMemory): Promise<void> {
  const pid = server.process.child.pid!;
  await delay(5000);
  const mem = await probeMemory(pid, probeOut);
  const open = (await swarm.counts()).connected;
  const rssPer = (mem.rss - base.rss) / open;
  const heapPer = (mem.heapUsed - base.heapUsed) / open;
  log(`idle: measuring CPU over ${N.idleSeconds} s`);
  const load = load1();
  const end = cpuWindow(pid);
  await delay(N.idleSeconds * 1000);
  const cpu = end();
  const c = await swarm.counts();
  report.idle = { tunnels: N.tunnels, connectedAtProbe: open, connectedAtEnd: c.connected, base, with: mem, rssPerTunnel: rssPer, heapPerTunnel: heapPer, cpu, load, swarmRss: c.rss };
  row(`idle tunnels on one server`, `${open} / ${N.tunnels} at the memory probe, ${c.connected} after the CPU window`, `load ${load}`);
  row('server RSS, none -> with them', `${mib(base.rss)} -> ${mib(mem.rss)} MiB`, 'after a forced full GC');
  row('server RSS per tunnel', `${kib(rssPer)} KiB`, `target <= 150 KB (${rssPer <= 150_000 ? 'met' : 'NOT met'})`);
  row('server V8 heap used per tunnel', `${kib(heapPer)} KiB`, `${mib(base.heapUsed)} -> ${mib(mem.heapUsed)} MiB`);
  row('server CPU at idle (heartbeats)', `${cpu.percent.toFixed(1)} % of a core`, `${((cpu.cpuSeconds / cpu.wallSeconds / open) * 1e6).toFixed(1)} us CPU per tunnel per s, over ${cpu.wallSeconds.toFixed(0)} s`);
  row('swarm workers RSS', `${mib(c.rss)} MiB`, `${N.workers} processes`);
}

async function storm(server: TestServer, swarm: Swarm): Promise<TestServer> {
  const before = await swarm.reset();
  const want = Math.min(N.storm, before.connected);
  const load = load1();
  log(`storm: restarting the server under ${want} tunnels`);
  const t0 = performance.now();
  const stopAt = Date.now();
  await server.stop();
  const stoppedMs = performance.now() - t0;
  const next = await server.restart();
  const readyAt = Date.now();
  const listeningMs = performance.now() - t0;
  const end = cpuWindow(next.process.child.pid!);
  const c = await waitAll(swarm, want, 600_000, 'storm', 120_000);
  const cpu = end();
  const allBackMs = c.lastReadyAt - stopAt;
  const handshakes = c.readyEvents / Math.max(0.001, (c.lastReadyAt - readyAt) / 1000);
  const peak = Math.max(0, ...Object.values(c.readyBySecond));
  report.storm = { tunnels: want, back: c.connected, stoppedMs, listeningMs, allBackMs, handshakesPerSecond: handshakes, peakHandshakesPerSecond: peak, readyBySecond: c.readyBySecond, cpu, failures: c.failures, load };
  row(`reconnect storm: back after restart`, `${c.connected} / ${want} in ${(allBackMs / 1000).toFixed(1)} s`, `from SIGTERM; target <= 60 s (${c.connected >= want && allBackMs <= 60_000 ? 'met' : 'NOT met'}); load ${load}`);
  row('  server down (stop, then start to listening)', `${(stoppedMs / 1000).toFixed(1)} s + ${((listeningMs - stoppedMs) / 1000).toFixed(1)} s`, 'SIGTERM exit (drain); store open + listen');
  row('  handshakes per second (from listening)', `${handshakes.toFixed(0)} /s mean, ${peak} /s peak (1 s buckets)`, `${c.readyEvents} sessions ready; the mean is paced by the agents' backoff`);
  row('  server CPU during the storm', `${cpu.percent.toFixed(0)} % of a core, ${((1000 * cpu.cpuSeconds) / Math.max(1, c.readyEvents)).toFixed(1)} ms CPU per handshake`, `${cpu.cpuSeconds.toFixed(1)} CPU s over ${cpu.wallSeconds.toFixed(1)} s (failed attempts included); one free core would do ${(Math.max(1, c.readyEvents) / cpu.cpuSeconds).toFixed(0)} /s`);
  row('  refused / failed on the way', describeFailures(c), '');
  return next;
}

async function tunnels(keys: string[]): Promise<void> {
  const seeded = Math.max(N.tunnels, N.storm);
  const pg = store === 'postgres' ? await startPostgres() : undefined;
  const databaseUrl = await pg?.createDatabase('fleet_tunnels');
  let server = await startServer({ ...(databaseUrl ? { databaseUrl } : {}) });
  await server.stop();
  log(`seeding ${seeded} clusters into ${databaseUrl ?? server.dataDir} (bench shortcut)`);
  const seed = await seedClusters(server.dataDir, databaseUrl, seeded, 'swarm', keys);
  report.seed = { clusters: seeded, seconds: seed.ms / 1000 };
  row('clusters seeded in the data dir (bench shortcut, not registered)', `${seeded} in ${(seed.ms / 1000).toFixed(0)} s`, `store: ${store === 'postgres' ? 'PostgreSQL (test settings: fsync=off, synchronous_commit=off)' : 'embedded PGlite'}; registration is measured on its own below`);
  server = await server.restart();
  let swarm: Swarm | undefined;
  try {
    await delay(3000);
    const base = await probeMemory(server.process.child.pid!, probeOut);
    log(`idle server: rss ${mib(base.rss)} MiB, heap ${mib(base.heapUsed)} MiB`);
    const rampStart = performance.now();
    const rampCpu = cpuWindow(server.process.child.pid!);
    swarm = await Swarm.start({ agentUrl: server.agentUrl, seed: { ...seed, agents: seed.agents.slice(0, N.tunnels) }, workers: N.workers, sourceAddresses: N.sourceAddresses });
    const up = await waitAll(swarm, N.tunnels, 1_200_000, 'ramp');
    report.rampStalled = up.connected < N.tunnels;
    // A stalled ramp: the agents still dialing would make the idle window a handshake window.
    if (up.connected < N.tunnels) await swarm.trim(N.tunnels, true);
    if ((await swarm.counts()).connected === 0) throw new Error(`no tunnel stayed up (peak of the ramp: ${up.connected}); nothing to measure`);
    report.rampPeak = peakConnected;
    const rampS = (performance.now() - rampStart) / 1000;
    const cpu = rampCpu();
    report.ramp = { seconds: rampS, connected: up.connected, failures: up.failures, cpu };
    row('initial ramp (16 first dials in flight per worker)', `${up.connected} in ${rampS.toFixed(0)} s (${(up.connected / rampS).toFixed(0)} /s)${up.connected < N.tunnels ? `, stalled; peak ${peakConnected}` : ''}`, `server ${cpu.percent.toFixed(0)} % of a core, ${((1000 * cpu.cpuSeconds) / Math.max(1, up.connected)).toFixed(1)} ms CPU per tunnel; failures: ${describeFailures(up)}`);
    await idle(server, swarm, base);
    if (!runs('storm')) return;
    if (N.storm < N.tunnels) {
      await swarm.trim(N.storm);
      await swarm.until((c) => c.connected <= N.storm, 60_000);
    } else if (N.storm > N.tunnels) {
      await swarm.stop();
      swarm = await Swarm.start({ agentUrl: server.agentUrl, seed: { ...seed, agents: seed.agents.slice(0, N.storm) }, workers: N.workers, sourceAddresses: N.sourceAddresses });
      await waitAll(swarm, N.storm, 900_000, 'storm set-up');
    }
    server = await storm(server, swarm);
  } finally {
    await swarm?.stop();
    await server.remove();
    await pg?.stop();
  }
}

async function registrations(keys: string[]): Promise<void> {
  const server = await startServer();
  try {
    const ca = readFileSync(join(server.dataDir, 'ca.crt'), 'utf8');
    const adminToken = readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim();
    const load = load1();
    const reg: RegistrationResult = await measureRegistrations({ publicUrl: server.publicUrl, agentUrl: server.agentUrl, ca, adminToken, keys, count: N.registrations, concurrency: N.registerConcurrency, prefix: 'reg' });
    report.registration = { ...reg, load };
    row('registrations (token + CSR -> certificate)', `${reg.perSecond.toFixed(1)} /s`, `${reg.count} at ${reg.concurrency} concurrent on a fresh server; p50 ${reg.p50Ms.toFixed(0)} ms, p99 ${reg.p99Ms.toFixed(0)} ms; statuses ${JSON.stringify(reg.statuses)}; load ${load}`);
  } finally {
    await server.remove();
  }
}

async function main(): Promise<void> {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(root, 'bench/lib/memory-probe.mjs')}`.trim();
  process.env.HAWSER_MEMORY_PROBE_OUT = probeOut;
  process.env.HAWSER_LOG_LEVEL = 'warn';
  // What Dockerfile.server sets (docs/operations.md, "Memory").
  process.env.MALLOC_MMAP_THRESHOLD_ ??= '131072';
  lines.push(`# Fleet capacity (${report.when as string}, node ${process.version}, ${cpus().length} cores, ulimit -n ${report.ulimitN as string})`, '');
  lines.push('| what | figure | note |', '| --- | --- | --- |');
  const keys = agentKeys(4);
  if (runs('idle') || runs('storm')) await tunnels(keys);
  if (runs('forwarded')) {
    const f = await measureForwarded({ gets: N.gets, key: keys[0]! });
    report.forwarded = f;
    const fmt = (g: GetLatency) => `p50 ${g.p50Ms.toFixed(2)} ms, p99 ${g.p99Ms.toFixed(2)} ms`;
    const note = (g: GetLatency) => `${g.n} sequential, ${g.failed} non-200${g.firstFailure ? ` (first: ${g.firstFailure.slice(0, 80)})` : ''}`;
    row('small GET on the owner replica', fmt(f.owner), `${note(f.owner)}; load ${f.load}`);
    if (f.nonOwner) {
      row('small GET through a non-owner replica', fmt(f.nonOwner), `${note(f.nonOwner)}; ${signed(f.nonOwner.p50Ms - f.owner.p50Ms)} ms p50 (x${(f.nonOwner.p50Ms / f.owner.p50Ms).toFixed(2)}), ${signed(f.nonOwner.p99Ms - f.owner.p99Ms)} ms p99`);
    } else {
      row('small GET through a non-owner replica', f.missing ?? 'needs fleet-forward', '');
    }
  }
  if (runs('register')) await registrations(keys);
  report.loadAtEnd = load1();
  lines.push('', `Load average (1 min): ${report.loadAtStart as number} at start, ${report.loadAtEnd as number} at end.`);
  process.stdout.write(`${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench/results/fleet.md'), `${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench/results/fleet.json'), JSON.stringify(report, null, 2));
}

await main();
