/**
 * Tunnel benchmark: the same local HTTP upstream reached several ways in
 * one run. As in production, the agent (session, relay) and the upstream
 * each run in a process of their own (bench/lib/agent-process.ts,
 * bench/lib/upstream-process.ts); this process
 * is the server side and the HTTP client. Every scenario runs on all paths back to back (interleaved), so
 * load drift on the machine hits them alike; ratios against direct are what
 * count, not absolute times.
 *
 *   direct     HTTP client -> keep-alive http.Agent -> upstream (loopback TCP)
 *   proxy      HTTP client -> keep-alive http.Agent -> http.Server (the same relay
 *              as the agent's, in the agent process) -> upstream: the floor, what
 *              one extra process forwarding HTTP costs here, tunnel or not
 *   tunnel     HTTP client -> keep-alive http.Agent -> the shipped ClusterRelay
 *              (server side, this process; one fresh stream per request, the
 *              request head in its OPEN payload) -> session over real ws on
 *              loopback -> session -> the shipped agent Relay -> upstream
 *              (before the request-head relay this path had no server-side HTTP
 *              listener: an http.Agent wrote HTTP onto streams directly, and a
 *              tunnel-ka variant reused idle streams, which is gone)
 *   h2         node:http2 over the WebSocket instead of Hawser frames (the
 *              alternative design, kept so the decision stays measured)
 *
 * Only 127.0.0.1; every loop is bounded. `npm run bench:tunnel [-- --quick]`.
 * Results: stdout and bench/results/tunnel.{md,json}.
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { h2Requester, http1Requester } from './lib/client.js';
import type { Requester } from './lib/client.js';
import { startH2Path } from './lib/h2-path.js';
import { bigBody, busyBesideStall, latencyC1, throughput, watches } from './lib/scenarios.js';
import type { BigBodyResult } from './lib/scenarios.js';
import { fmtMs, MB, ratio } from './lib/stats.js';
import { startTunnelPath } from './lib/tunnel-path.js';
import { AgentProcess } from './lib/agent-ipc.js';
import { benchGcTuning } from './lib/gc.js';

const gcTuning = benchGcTuning();

const quick = process.argv.includes('--quick');
const N = {
  latency: quick ? 300 : 1500,
  c64: quick ? 2000 : 8000,
  bigBytes: 50 * MB,
  bigRounds: quick ? 2 : 5,
  stallRounds: quick ? 1 : 5,
  busyWorkers: 100,
  perWorker: quick ? 10 : 30,
  watches: 1000,
  watchEveryMs: 200,
  watchMs: quick ? 1500 : 3000,
  rounds: quick ? 1 : 2,
};

interface Path { name: string; req: Requester; buffered?: () => number }
type Row = Record<string, number>;
const results: Record<string, Row> = {};
const put = (path: string, key: string, value: number): void => {
  (results[path] ??= {})[key] = value;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;

/** Let streams of the previous scenario finish closing (FIN/RESET in flight). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 300));
}

const agentProcess = await AgentProcess.start();
const upstreamPort = agentProcess.upstreamPort;
const directAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const tunnel = await startTunnelPath(agentProcess);
const h2 = await startH2Path(agentProcess);
const proxyPort = await agentProcess.value('listen-proxy');
const proxyAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const tunnelBuffered = (): number => tunnel.server.bufferedBytes;
const paths: Path[] = [
  { name: 'direct', req: http1Requester('direct', directAgent, upstreamPort) },
  { name: 'proxy', req: http1Requester('proxy', proxyAgent, proxyPort) },
  { name: 'tunnel', req: http1Requester('tunnel', tunnel.agent, tunnel.port, tunnel.prefix), buffered: tunnelBuffered },
  { name: 'h2', req: h2Requester('h2', h2.session) },
];

try {
  console.log(`small GET latency, concurrency 1 (${N.latency} requests, median of ${N.rounds} rounds)`);
  const lat: Record<string, { p50: number[]; p99: number[] }> = {};
  for (let round = 0; round < N.rounds; round++) {
    for (const p of paths) {
      const r = await latencyC1(p.req, N.latency);
      (lat[p.name] ??= { p50: [], p99: [] }).p50.push(r.p50);
      lat[p.name]!.p99.push(r.p99);
    }
  }
  for (const p of paths) {
    put(p.name, 'p50', median(lat[p.name]!.p50));
    put(p.name, 'p99', median(lat[p.name]!.p99));
    console.log(`  ${p.name}: p50 ${fmtMs(results[p.name]!.p50!)} ms, p99 ${fmtMs(results[p.name]!.p99!)} ms`);
  }

  console.log(`small GET throughput, concurrency 64 (${N.c64} requests, median of ${N.rounds} rounds)`);
  const rps: Record<string, number[]> = {};
  for (let round = 0; round < N.rounds; round++) {
    for (const p of paths) {
      await settle();
      (rps[p.name] ??= []).push(await throughput(p.req, 64, N.c64));
    }
  }
  for (const p of paths) {
    put(p.name, 'rps64', median(rps[p.name]!));
    console.log(`  ${p.name}: ${Math.round(results[p.name]!.rps64!)} req/s`);
  }

  // Interleaved like every other scenario: warm direct moves two to three
  // times what a cold one does, and load from the rest of the machine
  // comes and goes, so one block per path would mostly measure when it ran.
  console.log(`one 50 MB body (median of ${N.bigRounds} rounds of three, paths interleaved)`);
  const bigPaths = paths.filter((p) => p.name !== 'tunnel-ka'); // same stream mechanics as tunnel for one request
  for (const p of bigPaths) for (let i = 0; i < 2; i++) await p.req.get(`/big?size=${N.bigBytes}`);
  const bigs: Record<string, BigBodyResult[]> = {};
  for (let round = 0; round < N.bigRounds; round++) {
    for (const p of bigPaths) {
      await settle();
      (bigs[p.name] ??= []).push(await bigBody(p.req, agentProcess, N.bigBytes, p.buffered, 3, 1));
    }
  }
  for (const p of bigPaths) {
    const rs = bigs[p.name]!;
    const peak = (f: (r: BigBodyResult) => number): number => Math.max(...rs.map(f));
    const big = {
      mbps: median(rs.map((r) => r.mbps)),
      peakRssMb: peak((r) => r.peakRssMb), peakBuffersMb: peak((r) => r.peakBuffersMb), peakExtraMb: peak((r) => r.peakExtraMb),
      agentRssMb: peak((r) => r.agentRssMb), agentBuffersMb: peak((r) => r.agentBuffersMb), agentSessionMb: peak((r) => r.agentSessionMb),
    };
    put(p.name, 'bigMbps', big.mbps);
    put(p.name, 'bigRssMb', big.peakRssMb);
    put(p.name, 'bigBuffersMb', big.peakBuffersMb);
    put(p.name, 'bigAgentRssMb', big.agentRssMb);
    put(p.name, 'bigAgentBuffersMb', big.agentBuffersMb);
    if (p.buffered) {
      put(p.name, 'bigSessionMb', big.peakExtraMb);
      put(p.name, 'bigAgentSessionMb', big.agentSessionMb);
    }
    console.log(`  ${p.name}: ${big.mbps.toFixed(0)} MB/s (rounds: ${rs.map((r) => r.mbps.toFixed(0)).join(', ')}); peak growth: client/server process rss +${big.peakRssMb.toFixed(1)} MB, Buffers +${big.peakBuffersMb.toFixed(1)} MB; ` +
      `agent/upstream process rss +${big.agentRssMb.toFixed(1)} MB, Buffers +${big.agentBuffersMb.toFixed(1)} MB` +
      (p.buffered ? `; session buffered peak server ${big.peakExtraMb.toFixed(2)} MB, agent ${big.agentSessionMb.toFixed(2)} MB` : ''));
  }

  console.log(`${N.busyWorkers} busy streams (${N.perWorker} small GETs each), without and with one stalled stream (median of ${N.stallRounds} rounds)`);
  const calm: Record<string, number[]> = {};
  const stalled: Record<string, number[]> = {};
  // Warm-up: the first 100-way burst pays for new connections and JIT, which
  // would otherwise land on the no-stall side of the comparison.
  for (const p of paths) if (p.name !== 'tunnel-ka') await busyBesideStall(p.req, false, N.busyWorkers, 3);
  // A p99 of 3,000 requests moves by a third between identical runs here,
  // so five rounds, and the two runs of a round swap order every round so
  // neither always comes first.
  for (let round = 0; round < N.stallRounds; round++) {
    for (const p of paths) {
      if (p.name === 'tunnel-ka') continue;
      for (const stall of round % 2 === 0 ? [false, true] : [true, false]) {
        await settle();
        const s = await busyBesideStall(p.req, stall, N.busyWorkers, N.perWorker, stall ? p.buffered : undefined);
        ((stall ? stalled : calm)[p.name] ??= []).push(s.p99);
        if (stall && p.buffered) put(p.name, 'stallSessionMb', Math.max(results[p.name]?.stallSessionMb ?? 0, s.peakExtraMb));
      }
    }
  }
  for (const p of paths) {
    if (!calm[p.name]) continue;
    put(p.name, 'busyP99', median(calm[p.name]!));
    put(p.name, 'busyStallP99', median(stalled[p.name]!));
    console.log(`  ${p.name}: p99 ${fmtMs(results[p.name]!.busyP99!)} ms, beside a stalled stream ${fmtMs(results[p.name]!.busyStallP99!)} ms`);
  }

  console.log(`${N.watches} long-lived streams, an event every ${N.watchEveryMs} ms each, for ${N.watchMs} ms`);
  for (const p of paths) {
    if (p.name === 'tunnel-ka') continue;
    await settle();
    const w = await watches(p.req, agentProcess, N.watches, N.watchEveryMs, N.watchMs);
    put(p.name, 'watchP50', w.p50);
    put(p.name, 'watchP99', w.p99);
    put(p.name, 'watchSteadyP50', w.steadyP50);
    put(p.name, 'watchSteadyP99', w.steadyP99);
    put(p.name, 'watchReceived', w.received);
    put(p.name, 'watchSent', w.sent);
    console.log(`  ${p.name}: delay p50 ${fmtMs(w.p50)} ms, p99 ${fmtMs(w.p99)} ms (established streams: p50 ${fmtMs(w.steadyP50)} ms, p99 ${fmtMs(w.steadyP99)} ms), ${w.received}/${w.sent} events delivered`);
  }
} finally {
  directAgent.destroy();
  proxyAgent.destroy();
  await tunnel.close();
  await h2.close();
  await agentProcess.stop();
}

const d = results.direct!;
/** Columns after "direct": each path, then its ratio to each base named. */
const columns: { name: string; label: string; bases: string[] }[] = [
  { name: 'proxy', label: 'proxy', bases: ['direct'] },
  { name: 'tunnel', label: 'tunnel', bases: ['direct', 'proxy'] },
  { name: 'h2', label: 'h2-over-ws', bases: ['direct'] },
];
const lines = [
  `| measure | direct | ${columns.map((c) => [c.label, ...c.bases.map((b) => `${c.label}/${b}`)].join(' | ')).join(' | ')} | target (tunnel) |`,
  `| --- | --- | ${columns.map((c) => Array(1 + c.bases.length).fill('---').join(' | ')).join(' | ')} | --- |`,
];
function line(label: string, key: string, unit: string, target: string, fmt: (v: number) => string = (v) => v.toFixed(2), ratios = true): void {
  const cells = [d[key] === undefined ? '-' : `${fmt(d[key]!)} ${unit}`];
  for (const c of columns) {
    const v = results[c.name]?.[key];
    cells.push(v === undefined ? '-' : `${fmt(v)} ${unit}`);
    for (const b of c.bases) cells.push(v === undefined || !ratios ? '-' : ratio(v, results[b]?.[key] ?? NaN));
  }
  lines.push(`| ${label} | ${cells.join(' | ')} | ${target} |`);
}
line('small GET p50, c=1', 'p50', 'ms', 'p50 <= direct + 1 ms', fmtMs);
line('small GET p99, c=1', 'p99', 'ms', 'p99 <= direct + 3 ms', fmtMs);
line('small GET throughput, c=64', 'rps64', 'req/s', 'ratio >= 0.50', (v) => Math.round(v).toString());
line('50 MB body throughput', 'bigMbps', 'MB/s', 'ratio >= 0.50', (v) => v.toFixed(0));
line('50 MB body: peak RSS growth, client+server process', 'bigRssMb', 'MB', 'bounded', (v) => v.toFixed(1), false);
line('50 MB body: peak Buffer growth, client+server process', 'bigBuffersMb', 'MB', 'bounded', (v) => v.toFixed(1), false);
line('50 MB body: peak RSS growth, agent+upstream process', 'bigAgentRssMb', 'MB', 'bounded', (v) => v.toFixed(1), false);
line('50 MB body: peak Buffer growth, agent+upstream process', 'bigAgentBuffersMb', 'MB', 'bounded', (v) => v.toFixed(1), false);
line('100 busy streams p99, no stall', 'busyP99', 'ms', '', fmtMs);
line('100 busy streams p99, one stalled stream', 'busyStallP99', 'ms', 'within 10% of no-stall', fmtMs);
line('1,000 watches: delivery delay p50, every event', 'watchP50', 'ms', '', fmtMs);
line('1,000 watches: delivery delay p99, every event', 'watchP99', 'ms', 'includes opening 1,000 streams at once', fmtMs);
line('1,000 watches: delivery delay p50, established streams', 'watchSteadyP50', 'ms', '', fmtMs);
line('1,000 watches: delivery delay p99, established streams', 'watchSteadyP99', 'ms', 'p99 <= direct + 20 ms', fmtMs);
const delivered = (n: string): string => (results[n]?.watchReceived !== undefined ? `${results[n]!.watchReceived}/${results[n]!.watchSent}` : '-');
lines.push(`| 1,000 watches: events delivered | ${delivered('direct')} | ${columns.map((c) => [delivered(c.name), ...c.bases.map(() => '')].join(' | ')).join(' | ')} | all |`);
const t = results.tunnel;
const notes = [
  '',
  `Stall ratio (p99 with stall / without): ${['direct', 'proxy', 'tunnel', 'h2'].map((n) => `${n} ${ratio(results[n]?.busyStallP99 ?? NaN, results[n]?.busyP99 ?? NaN)}`).join(', ')}.`,
  t ? `Tunnel session buffered bytes (sampled every 5 ms): 50 MB body peak ${(t.bigSessionMb ?? 0).toFixed(2)} MB server side, ` +
    `${(t.bigAgentSessionMb ?? 0).toFixed(2)} MB agent side; server side while a stream was stalled, peak ${(t.stallSessionMb ?? 0).toFixed(2)} MB.` : '',
  `Node ${process.version} (GC tuning ${gcTuning}), ${quick ? 'quick' : 'full'} run, ${new Date().toISOString()}.`,
];
const table = [...lines, ...notes].join('\n');
console.log(`\n${table}\n`);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}tunnel.md`, `${table}\n`);
writeFileSync(`${dir}tunnel.json`, JSON.stringify({ date: new Date().toISOString(), node: process.version, gcTuning, quick, N, results }, null, 2));
process.exit(0);
