/**
 * Tunnel benchmark: the same local HTTP upstream reached three ways in one
 * run, so ratios (not absolute times) are what count:
 *
 *   direct  HTTP client -> keep-alive http.Agent -> upstream (loopback TCP)
 *   tunnel  HTTP client -> http.Agent over a tunnel stream -> session over real ws
 *           on loopback -> session -> http.Server (agent relay) -> upstream
 *   h2      the same, but node:http2 over the WebSocket instead of Hawser frames
 *           (the alternative design, kept here so the decision stays measured)
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
import { fmtMs, MB, ratio } from './lib/stats.js';
import { startTunnelPath } from './lib/tunnel-path.js';
import { startUpstream } from './lib/upstream.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const N = {
  latency: quick ? 300 : 2000,
  c64: quick ? 2000 : 10_000,
  bigBytes: 50 * MB,
  busyWorkers: 100,
  perWorker: quick ? 10 : 30,
  watches: 1000,
  watchEveryMs: 200,
  watchMs: quick ? 1500 : 4000,
};

type Row = Record<string, number | string>;
const results: Record<string, Row> = {};

async function measure(name: string, req: Requester, upstream: Awaited<ReturnType<typeof startUpstream>>, buffered?: () => number): Promise<void> {
  const row: Row = {};
  console.log(`\n== ${name}`);
  const lat = await latencyC1(req, N.latency);
  row.p50 = lat.p50;
  row.p99 = lat.p99;
  console.log(`  latency c1: p50 ${fmtMs(lat.p50)} ms, p99 ${fmtMs(lat.p99)} ms`);
  row.rps64 = await throughput(req, 64, N.c64);
  console.log(`  throughput c64: ${Math.round(row.rps64)} req/s`);
  global.gc?.();
  const big = await bigBody(req, N.bigBytes, buffered);
  Object.assign(row, { bigMbps: big.mbps, bigRssMb: big.peakRssMb, bigBuffersMb: big.peakBuffersMb, bigSessionMb: big.peakExtraMb });
  console.log(`  50 MB body: ${big.mbps.toFixed(0)} MB/s, peak rss +${big.peakRssMb.toFixed(1)} MB, buffers +${big.peakBuffersMb.toFixed(1)} MB` +
    (buffered ? `, session buffered peak ${big.peakExtraMb.toFixed(2)} MB` : ''));
  // Alternate rounds so drift (other load on the machine) hits both alike.
  const calm: number[] = [];
  const stalled: number[] = [];
  let stallSessionMb = 0;
  for (let round = 0; round < 2; round++) {
    calm.push((await busyBesideStall(req, false, N.busyWorkers, N.perWorker)).p99);
    const s = await busyBesideStall(req, true, N.busyWorkers, N.perWorker, buffered);
    stalled.push(s.p99);
    stallSessionMb = Math.max(stallSessionMb, s.peakExtraMb);
  }
  row.busyP99 = calm.reduce((a, b) => a + b) / calm.length;
  row.busyStallP99 = stalled.reduce((a, b) => a + b) / stalled.length;
  row.stallSessionMb = stallSessionMb;
  console.log(`  100 busy: p99 ${fmtMs(row.busyP99)} ms; beside a stalled stream: p99 ${fmtMs(row.busyStallP99)} ms` +
    (buffered ? ` (session buffered peak ${stallSessionMb.toFixed(2)} MB)` : ''));
  const w = await watches(req, upstream, N.watches, N.watchEveryMs, N.watchMs);
  Object.assign(row, { watchP50: w.p50, watchP99: w.p99, watchReceived: w.received, watchSent: w.sent });
  console.log(`  ${N.watches} watches: delay p50 ${fmtMs(w.p50)} ms, p99 ${fmtMs(w.p99)} ms, ${w.received}/${w.sent} events delivered`);
  results[name] = row;
}

const upstream = await startUpstream();
try {
  if (!only || only.includes('direct')) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    await measure('direct', http1Requester('direct', agent, upstream.port), upstream);
    agent.destroy();
  }
  if (!only || only.includes('tunnel')) {
    const tunnel = await startTunnelPath(upstream.port);
    await measure('tunnel', http1Requester('tunnel', tunnel.agent, upstream.port), upstream, () => tunnel.server.bufferedBytes + tunnel.client.bufferedBytes);
    await tunnel.close();
  }
  if (!only || only.includes('h2')) {
    const h2 = await startH2Path(upstream.port);
    await measure('h2', h2Requester('h2', h2.session), upstream);
    await h2.close();
  }
} finally {
  await upstream.close();
}

const d = results.direct;
const lines = [
  `| measure | direct | tunnel | tunnel/direct | h2-over-ws | h2/direct | target (tunnel) |`,
  `| --- | --- | --- | --- | --- | --- | --- |`,
];
function line(label: string, key: string, unit: string, target: string, fmt: (v: number) => string = (v) => v.toFixed(2)): void {
  const v = (name: string): string => (results[name] ? `${fmt(Number(results[name][key]))} ${unit}` : 'n/a');
  const r = (name: string): string => (d && results[name] ? ratio(Number(results[name][key]), Number(d[key])) : 'n/a');
  lines.push(`| ${label} | ${v('direct')} | ${v('tunnel')} | ${r('tunnel')} | ${v('h2')} | ${r('h2')} | ${target} |`);
}
line('small GET p50, c=1', 'p50', 'ms', 'p50 <= direct + 1 ms', fmtMs);
line('small GET p99, c=1', 'p99', 'ms', 'p99 <= direct + 3 ms', fmtMs);
line('small GET throughput, c=64', 'rps64', 'req/s', '>= 0.50', (v) => Math.round(v).toString());
line('50 MB body throughput', 'bigMbps', 'MB/s', '>= 0.50', (v) => v.toFixed(0));
line('50 MB body peak RSS growth', 'bigRssMb', 'MB', 'bounded', (v) => v.toFixed(1));
line('50 MB body peak Buffer memory growth', 'bigBuffersMb', 'MB', 'bounded', (v) => v.toFixed(1));
line('100 busy streams p99, no stall', 'busyP99', 'ms', '', fmtMs);
line('100 busy streams p99, one stalled stream', 'busyStallP99', 'ms', 'within 10% of no-stall', fmtMs);
line('1,000 watches delivery delay p50', 'watchP50', 'ms', '', fmtMs);
line('1,000 watches delivery delay p99', 'watchP99', 'ms', 'p99 <= direct + 20 ms', fmtMs);
const delivered = (name: string): string => (results[name] ? `${results[name].watchReceived}/${results[name].watchSent}` : 'n/a');
lines.push(`| 1,000 watches events delivered | ${delivered('direct')} | ${delivered('tunnel')} | | ${delivered('h2')} | | all |`);
if (results.tunnel) {
  const t = results.tunnel;
  lines.push('', `Tunnel session buffered bytes (both sessions, sampled every 5 ms): 50 MB body peak ${Number(t.bigSessionMb).toFixed(2)} MB; ` +
    `stalled stream run peak ${Number(t.stallSessionMb).toFixed(2)} MB. Stall p99 ratio (stall/no-stall): tunnel ${ratio(Number(t.busyStallP99), Number(t.busyP99))}` +
    (results.h2 ? `, h2 ${ratio(Number(results.h2.busyStallP99), Number(results.h2.busyP99))}` : '') +
    (d ? `, direct ${ratio(Number(d.busyStallP99), Number(d.busyP99))}` : '') + '.');
}
const table = lines.join('\n');
console.log(`\n${table}\n`);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}tunnel.md`, `${table}\n`);
writeFileSync(`${dir}tunnel.json`, JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, N, results }, null, 2));
process.exit(0);
