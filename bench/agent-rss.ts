/**
 * Idle memory of the agent: `npm run bench:agent-rss [-- --idle 30]`.
 *
 * A real control plane, a real Hawser server, and the agent running as the
 * chart's ServiceAccount on 127.0.0.1, once per variant:
 *
 *   dist       node packages/agent/dist/cli.js (the unbundled build)
 *   bundle     node dist-pack/hawser-agent/bin/hawser-agent (npm run pack:agent)
 *   image      the bundle as the image runs it (Dockerfile.agent): its
 *              environment and node's --lite-mode (AGENT_NODE_ARGS)
 *   image-jit  the same without --lite-mode (the image's hawser-agent-jit)
 *
 * For each: wait until /readyz says connected, let it sit idle for the
 * settle time, then sample VmRSS from /proc/<pid>/status once a second for
 * --idle seconds (median and max). Then two loaded phases through the whole
 * relay (operator -> server -> tunnel -> agent -> kube-apiserver), sampling
 * every 100 ms (max):
 *
 *   stalled     a LIST of 2,500 ConfigMaps of 20 KB (about 50 MB) opened and
 *               never read for --stall seconds: the agent keeps reading from
 *               the API server only as far as the stream's window allows
 *   50 MB body  then two of those LISTs, read at full speed: peak RSS,
 *               MB/s and the agent's CPU time (utime + stime) for them
 *   small GETs  300 GETs of one Namespace in a row (p50), then 1,000 of them
 *               16 at a time (req/s); the agent's CPU per request for each
 *               (what a flag such as --jitless costs shows here)
 *
 * `--no-load` skips them; `--cli NAME=PATH` adds a variant running another
 * bundle with the image's flags (A/B of a bundling change); `--env` and
 * `--v8` add variants with another environment or V8 flags (see below);
 * `--smaps` logs where the idle RSS sits (bench/lib/smaps-summary.ts).
 * Linux only (reads /proc). Results: stdout and
 * bench/results/agent-rss.{md,json}. The Node that runs this file runs the
 * agents too (process.execPath): put ~/.cache/hawser/node-24/node_modules/.bin
 * (or node-22) first on PATH, as .ci/run does.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { AGENT_CLI, addCluster, agentReadiness, deployAgent, eventually, startServer } from '../test/support/hawser.js';
import { adminCore, createNamespace } from '../test/support/kube.js';
import { useCluster } from '../test/support/test-cluster.js';
import { AGENT_IMAGE_ENV, AGENT_NODE_ARGS } from './lib/agent-image-env.js';
import { smapsSummary } from './lib/smaps-summary.js';


const root = resolve(import.meta.dirname, '..');
const bundle = join(root, 'dist-pack/hawser-agent/bin/hawser-agent');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const idleSeconds = arg('idle', 30);
const settleSeconds = arg('settle', 10);
const stallSeconds = arg('stall', 10);
const load = !process.argv.includes('--no-load');
const BIG = { objects: 2500, bytes: 20_000 };
const log = (l: string) => process.stderr.write(`agent-rss: ${l}\n`);

const SMALL_GETS = 300;
const PARALLEL_GETS = 1000;

/** utime + stime of a process, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const allVariants: { name: string; cli: string; env: Record<string, string>; nodeArgs?: string[] }[] = [
  { name: 'dist', cli: AGENT_CLI, env: {} },
  { name: 'bundle', cli: bundle, env: {} },
  { name: 'image', cli: bundle, env: { ...AGENT_IMAGE_ENV }, nodeArgs: [...AGENT_NODE_ARGS] },
  { name: 'image-jit', cli: bundle, env: { ...AGENT_IMAGE_ENV } },
];
// --variant NAME (repeatable) picks some; --env 'K=V|K2=V2' (repeatable) adds a
// bundle run with that environment (NODE_OPTIONS, MALLOC_ARENA_MAX, ...).
const picked = process.argv.flatMap((a, i) => (a === '--variant' ? [process.argv[i + 1]!] : []));
const extra = process.argv.flatMap((a, i) => (a === '--env' ? [process.argv[i + 1]!] : []));
const clis = process.argv.flatMap((a, i) => (a === '--cli' ? [process.argv[i + 1]!] : []));
// --v8 'FLAGS' (repeatable): the bundle with the image's environment and V8
// flags Node refuses in NODE_OPTIONS (--lite-mode, --single-threaded-gc, ...),
// set by v8.setFlagsFromString as the bundle's first statement (a copy of it
// in a temporary folder, beside its package.json).
const v8Flags = process.argv.flatMap((a, i) => (a === '--v8' ? [process.argv[i + 1]!] : []));
function bundleWithV8Flags(flags: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-rss-v8-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(bundle, '../../package.json'), join(dir, 'package.json'));
  const lines = readFileSync(bundle, 'utf8').split('\n');
  // After the shebang and the createRequire lines, before any module code runs.
  lines.splice(3, 0, `require('node:v8').setFlagsFromString(${JSON.stringify(flags)});`);
  writeFileSync(join(dir, 'bin/hawser-agent'), lines.join('\n'), { mode: 0o755 });
  return join(dir, 'bin/hawser-agent');
}
// --node-args 'FLAGS' (repeatable): the bundle with the image's environment,
// FLAGS given to node on its command line (where V8 reads them before the
// isolate exists; an image would put them in its ENTRYPOINT).
const nodeArgFlags = process.argv.flatMap((a, i) => (a === '--node-args' ? [process.argv[i + 1]!] : []));
const envOf = (e: string): Record<string, string> => Object.fromEntries(e.split('|').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const variants: { name: string; cli: string; env: Record<string, string>; nodeArgs?: string[] }[] = [
  ...allVariants.filter((v) => picked.length === 0 || picked.includes(v.name)),
  ...v8Flags.map((f) => ({ name: `image+v8 ${f}`, cli: bundleWithV8Flags(f), env: { ...AGENT_IMAGE_ENV } })),
  ...nodeArgFlags.map((f) => ({ name: `image+node ${f}`, cli: bundle, env: { ...AGENT_IMAGE_ENV }, nodeArgs: f.split(' ').filter(Boolean) })),
  ...extra.map((e, i) => ({ name: `bundle+env${i + 1}`, cli: bundle, env: envOf(e) })),
  // --cli NAME=PATH[|K=V|...]: another bundle, with the image's environment or the one given.
  ...clis.map((c) => {
    const [spec, ...env] = c.split('|');
    return { name: spec!.slice(0, spec!.indexOf('=')), cli: spec!.slice(spec!.indexOf('=') + 1), env: env.length ? envOf(env.join('|')) : { ...AGENT_IMAGE_ENV } };
  }),
];

const mib = (k: number) => Math.round((k / 1024) * 10) / 10;

/** Samples VmRSS every `everyMs` until `done` settles; returns the max in KiB. */
async function peakRss(pid: number, done: Promise<unknown>, everyMs = 100): Promise<number> {
  let max = rssKiB(pid);
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    max = Math.max(max, rssKiB(pid));
    await delay(everyMs);
  }
  return max;
}

interface Operator {
  base: string;
  ca: string;
  token: string;
}

/** GET through the server; resolves with the response, unread. */
function open(op: Operator, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(op.base + path), { ca: op.ca, headers: { authorization: `Bearer ${op.token}`, accept: 'application/json' } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function readAll(op: Operator, path: string): Promise<number> {
  const res = await open(op, path);
  if (res.statusCode !== 200) throw new Error(`LIST answered ${res.statusCode}`);
  let bytes = 0;
  for await (const chunk of res) bytes += (chunk as Buffer).length;
  return bytes;
}

async function main(): Promise<void> {
  if (!existsSync(bundle)) {
    log('building the bundle (npm run pack:agent)');
    execFileSync('npx', ['tsx', 'scripts/pack.ts', 'agent'], { cwd: root, stdio: 'inherit' });
  }
  const dir = await mkdtemp(join(tmpdir(), 'hawser-rss-'));
  const cp = new ControlPlane(join(dir, 'cp'));
  const state = await cp.start(log);
  const cleanup: (() => Promise<unknown>)[] = [() => cp.stop(), () => rm(dir, { recursive: true, force: true })];
  const results: { variant: string; env: string; medianMiB: number; maxMiB: number; samples: number; bigMiB?: number; stalledMiB?: number; listMB?: number; listMBps?: number; listCpuMs?: number; smallP50Ms?: number; smallCpuMs?: number; parallelRps?: number; parallelCpuMs?: number }[] = [];
  try {
    useCluster({ kubeconfig: state.kubeconfig, server: state.apiServerUrl, ca: await readFile(state.pki.ca, 'utf8'), external: false, version: state.version });
    const server = await startServer({ args: ['--tier', 'read=bench'] });
    cleanup.unshift(() => server.remove());
    const bigNs = await createNamespace('rss-big');
    if (load) {
      log(`creating ${BIG.objects} ConfigMaps of ${BIG.bytes / 1000} KB`);
      const core = adminCore();
      for (let i = 0; i < BIG.objects; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => core.createNamespacedConfigMap({ namespace: bigNs.name, body: { metadata: { name: `big-${i + j}` }, data: { v: 'y'.repeat(BIG.bytes) } } })));
      }
    }
    const created = await server.cli(['token', 'create', '--user', 'bench', '--group', 'bench', '-o', 'json']);
    const operatorToken = (JSON.parse(created.stdout) as { token: string }).token;
    const serverCa = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    for (const v of variants) {
      const ns = await createNamespace(`rss-${v.name.replace(/\W/g, '')}`);
      const { token } = await addCluster(server, `rss-${v.name.replace(/\W/g, '')}`);
      const agent = await deployAgent({ namespace: ns.name, server, token, cli: v.cli, env: v.env, nodeArgs: v.nodeArgs, values: { set: ['tierBindings.enabled=true'] } });
      try {
        await eventually(async () => {
          const r = await agentReadiness(agent);
          if (r.body.status !== 'connected') throw new Error(r.body.status);
        }, 60_000);
        await delay(settleSeconds * 1000);
        const pid = agent.process.child.pid!;
        const samples: number[] = [];
        for (let i = 0; i < idleSeconds; i++) {
          samples.push(rssKiB(pid));
          await delay(1000);
        }
        samples.sort((a, b) => a - b);
        const r: (typeof results)[number] = { variant: v.name, env: Object.entries(v.env).map(([k, val]) => `${k}=${val}`).join(' '), medianMiB: mib(samples[samples.length >> 1]!), maxMiB: mib(samples[samples.length - 1]!), samples: samples.length };
        log(`${r.variant}: median ${r.medianMiB} MiB, max ${r.maxMiB} MiB over ${r.samples} s idle`);
        // --smaps: where the idle RSS sits (node binary, libraries, brk heap, anonymous).
        if (process.argv.includes('--smaps')) {
          const m = smapsSummary(pid);
          log(`${r.variant}: smaps ${Object.entries(m).map(([k, v]) => `${k} ${mib(v)}`).join(', ')} MiB`);
        }
        // --heap-snapshot: one V8 heap snapshot at idle, by SIGUSR2 (give the
        // variant --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR in its
        // NODE_OPTIONS; SIGUSR2 ends a process without it). With --no-load.
        if (process.argv.includes('--heap-snapshot')) {
          process.kill(pid, 'SIGUSR2');
          await delay(5000);
        }
        if (load) {
          const op: Operator = { base: `${server.publicUrl}/clusters/rss-${v.name.replace(/\W/g, '')}`, ca: serverCa, token: operatorToken };
          const path = `/api/v1/namespaces/${bigNs.name}/configmaps`;
          const res = await open(op, path);
          res.pause();
          r.stalledMiB = mib(await peakRss(pid, delay(stallSeconds * 1000)));
          res.destroy();
          log(`${r.variant}: peak ${r.stalledMiB} MiB beside a LIST stalled for ${stallSeconds} s`);
          let bytes = 0;
          const cpu0 = cpuMs(pid);
          const t0 = performance.now();
          const lists = (async () => {
            for (let i = 0; i < 2; i++) bytes = await readAll(op, path);
          })();
          r.bigMiB = mib(await peakRss(pid, lists));
          await lists;
          r.listMB = Math.round(bytes / 1e5) / 10;
          // Throughput and the agent's own CPU for the same bytes: the cost of
          // a flag (--jitless) shows in CPU ms even when the machine is busy.
          r.listMBps = Math.round(((2 * bytes) / 1e6 / ((performance.now() - t0) / 1000)) * 10) / 10;
          r.listCpuMs = cpuMs(pid) - cpu0;
          log(`${r.variant}: peak ${r.bigMiB} MiB during two LISTs of ${r.listMB} MB; ${r.listMBps} MB/s, agent CPU ${r.listCpuMs} ms`);
          // Small requests: per-request work (headers, framing) dominates.
          const small = `/api/v1/namespaces/${bigNs.name}`;
          const times: number[] = [];
          const cpu1 = cpuMs(pid);
          for (let i = 0; i < SMALL_GETS; i++) {
            const t = performance.now();
            await readAll(op, small);
            times.push(performance.now() - t);
          }
          times.sort((a, b) => a - b);
          r.smallP50Ms = Math.round(times[times.length >> 1]! * 100) / 100;
          r.smallCpuMs = Math.round(((cpuMs(pid) - cpu1) / SMALL_GETS) * 100) / 100;
          log(`${r.variant}: ${SMALL_GETS} small GETs p50 ${r.smallP50Ms} ms, agent CPU ${r.smallCpuMs} ms each`);
          // The same GETs 16 at a time: requests per second through the
          // whole relay, and the agent's CPU per request at that rate.
          const cpu2 = cpuMs(pid);
          const t2 = performance.now();
          let next = 0;
          await Promise.all(Array.from({ length: 16 }, async () => {
            while (next++ < PARALLEL_GETS) await readAll(op, small);
          }));
          r.parallelRps = Math.round(PARALLEL_GETS / ((performance.now() - t2) / 1000));
          r.parallelCpuMs = Math.round(((cpuMs(pid) - cpu2) / PARALLEL_GETS) * 100) / 100;
          log(`${r.variant}: ${PARALLEL_GETS} GETs at c=16: ${r.parallelRps} req/s, agent CPU ${r.parallelCpuMs} ms each`);
        }
        results.push(r);
      } finally {
        await agent.remove();
        await ns.remove();
      }
    }
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
  }
  const lines = [
    `# Agent RSS (${new Date().toISOString()}, node ${process.version}, idle: ${idleSeconds} s after ${settleSeconds} s; stalled: ${stallSeconds} s)`,
    '',
    '| variant | environment | idle median VmRSS | idle max | peak, 50 MB LIST | peak, stalled LIST | 2 LISTs: MB/s, agent CPU | small GET c=1: p50, agent CPU each | c=16: req/s, agent CPU each |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.variant} | ${r.env || '-'} | ${r.medianMiB} MiB | ${r.maxMiB} MiB | ${r.bigMiB ?? '-'} MiB | ${r.stalledMiB ?? '-'} MiB | ${r.listMBps ?? '-'} MB/s, ${r.listCpuMs ?? '-'} ms | ${r.smallP50Ms ?? '-'} ms, ${r.smallCpuMs ?? '-'} ms | ${r.parallelRps ?? '-'} req/s, ${r.parallelCpuMs ?? '-'} ms |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/agent-rss.md'), `${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench/results/agent-rss.json'), JSON.stringify({ node: process.version, idleSeconds, settleSeconds, stallSeconds, results }, null, 2));
}

await main();
