/**
 * CPU profiles of both tunnel ends under one bench:tunnel scenario, on the
 * tunnel path only: this process (HTTP client, the server's ClusterRelay and
 * listener, the server session) and the agent process (agent session and
 * Relay; the upstream runs in a third process and is not profiled). Each
 * profile covers only the measured part, after a warm-up.
 *
 *   npm run bench:profile -- c1|c64|big|watch [--out DIR]
 *
 * Writes DIR/<scenario>-server.cpuprofile and -agent.cpuprofile (open them
 * in Chrome DevTools or speedscope) and prints a self-time summary of each
 * (bench/lib/cpu-profile.ts), the form docs/protocol.md reports.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess } from './lib/agent-ipc.js';
import { http1Requester } from './lib/client.js';
import { CpuProfiler, summarize } from './lib/cpu-profile.js';
import { bigBody, latencyC1, throughput, watches } from './lib/scenarios.js';
import { MB } from './lib/stats.js';
import { startTunnelPath } from './lib/tunnel-path.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
const scenario = positionals[0] ?? 'c1';
const scenarios: Record<string, (req: ReturnType<typeof http1Requester>, agent: AgentProcess) => Promise<string>> = {
  c1: async (req) => {
    const r = await latencyC1(req, 2000, 0);
    return `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`;
  },
  c64: async (req) => `${Math.round(await throughput(req, 64, 8000))} req/s`,
  big: async (req, agent) => `${(await bigBody(req, agent, 50 * MB, undefined, 5, 0)).mbps.toFixed(0)} MB/s`,
  watch: async (req, agent) => {
    const w = await watches(req, agent, 1000, 200, 3000);
    return `delay p99 ${w.p99.toFixed(1)} ms (established ${w.steadyP99.toFixed(1)} ms), ${w.received}/${w.sent}`;
  },
};
const run = scenarios[scenario];
if (!run) throw new Error(`scenario: one of ${Object.keys(scenarios).join(', ')}`);
const out = resolve(values.out ?? 'bench/results/profiles');
mkdirSync(out, { recursive: true });

const agentProcess = await AgentProcess.start();
const tunnel = await startTunnelPath(agentProcess);
const req = http1Requester('tunnel', tunnel.agent, tunnel.port, tunnel.prefix);
try {
  // Warm-up: JIT and connection pools, outside the profile.
  for (let i = 0; i < 1500; i++) await req.get('/small');
  await throughput(req, 64, 2000);
  if (scenario === 'big') for (let i = 0; i < 2; i++) await req.get(`/big?size=${50 * MB}`);
  const profiler = new CpuProfiler();
  await agentProcess.request({ type: 'profile-start' });
  await profiler.start();
  const result = await run(req, agentProcess);
  const server = summarize(await profiler.stop(join(out, `${scenario}-server.cpuprofile`)));
  const agent = await agentProcess.request({ type: 'profile-stop', file: join(out, `${scenario}-agent.cpuprofile`) });
  console.log(`${scenario}: ${result}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; Node ${process.version}`);
  console.log(`server + client process:\n${server}`);
  console.log(`agent process:\n${agent.type === 'profile' ? agent.summary : '?'}`);
} finally {
  await tunnel.close();
  await agentProcess.stop();
}
process.exit(0);
