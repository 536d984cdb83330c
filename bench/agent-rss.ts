/**
 * Idle memory of the agent: `npm run bench:agent-rss [-- --idle 30]`.
 *
 * A real control plane, a real Hawser server, and the agent running as the
 * chart's ServiceAccount on 127.0.0.1, once per variant:
 *
 *   dist       node packages/agent/dist/cli.js (the unbundled build)
 *   bundle     node dist-pack/hawser-agent/bin/hawser-agent (npm run pack:agent)
 *   bundle+v8  the bundle with the V8 flags the image sets (Dockerfile.agent)
 *
 * For each: wait until /readyz says connected, let it sit idle for the
 * settle time, then sample VmRSS from /proc/<pid>/status once a second for
 * --idle seconds. Reports median and max. Linux only (reads /proc).
 * Results: stdout and bench/results/agent-rss.{md,json}.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { AGENT_CLI, addCluster, agentReadiness, deployAgent, eventually, startServer } from '../test/support/hawser.js';
import { createNamespace } from '../test/support/kube.js';
import { useCluster } from '../test/support/test-cluster.js';

/** The flags Dockerfile.agent puts in NODE_OPTIONS; keep the two in step. */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1 --max-old-space-size=96 --v8-pool-size=1';

const root = resolve(import.meta.dirname, '..');
const bundle = join(root, 'dist-pack/hawser-agent/bin/hawser-agent');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const idleSeconds = arg('idle', 30);
const settleSeconds = arg('settle', 10);
const log = (l: string) => process.stderr.write(`agent-rss: ${l}\n`);

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const allVariants: { name: string; cli: string; env: Record<string, string> }[] = [
  { name: 'dist', cli: AGENT_CLI, env: {} },
  { name: 'bundle', cli: bundle, env: {} },
  { name: 'bundle+v8', cli: bundle, env: { NODE_OPTIONS: AGENT_NODE_OPTIONS } },
];
// --variant NAME (repeatable) picks some; --env 'K=V|K2=V2' (repeatable) adds a
// bundle run with that environment (NODE_OPTIONS, MALLOC_ARENA_MAX, ...).
const picked = process.argv.flatMap((a, i) => (a === '--variant' ? [process.argv[i + 1]!] : []));
const extra = process.argv.flatMap((a, i) => (a === '--env' ? [process.argv[i + 1]!] : []));
const variants = [
  ...allVariants.filter((v) => picked.length === 0 || picked.includes(v.name)),
  ...extra.map((e, i) => ({ name: `bundle+env${i + 1}`, cli: bundle, env: Object.fromEntries(e.split('|').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) })),
];

async function main(): Promise<void> {
  if (!existsSync(bundle)) {
    log('building the bundle (npm run pack:agent)');
    execFileSync('npx', ['tsx', 'scripts/pack.ts', 'agent'], { cwd: root, stdio: 'inherit' });
  }
  const dir = await mkdtemp(join(tmpdir(), 'hawser-rss-'));
  const cp = new ControlPlane(join(dir, 'cp'));
  const state = await cp.start(log);
  const cleanup: (() => Promise<unknown>)[] = [() => cp.stop(), () => rm(dir, { recursive: true, force: true })];
  const results: { variant: string; env: string; medianMiB: number; maxMiB: number; samples: number }[] = [];
  try {
    useCluster({ kubeconfig: state.kubeconfig, server: state.apiServerUrl, ca: await readFile(state.pki.ca, 'utf8'), external: false, version: state.version });
    const server = await startServer();
    cleanup.unshift(() => server.remove());
    for (const v of variants) {
      const ns = await createNamespace(`rss-${v.name.replace(/\W/g, '')}`);
      const { token } = await addCluster(server, `rss-${v.name.replace(/\W/g, '')}`);
      const agent = await deployAgent({ namespace: ns.name, server, token, cli: v.cli, env: v.env });
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
        const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
        const r = { variant: v.name, env: Object.entries(v.env).map(([k, val]) => `${k}=${val}`).join(' '), medianMiB: mib(samples[samples.length >> 1]!), maxMiB: mib(samples[samples.length - 1]!), samples: samples.length };
        results.push(r);
        log(`${r.variant}: median ${r.medianMiB} MiB, max ${r.maxMiB} MiB over ${r.samples} s idle`);
      } finally {
        await agent.remove();
        await ns.remove();
      }
    }
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
  }
  const lines = [
    `# Agent idle RSS (${new Date().toISOString()}, node ${process.version}, ${idleSeconds} s after ${settleSeconds} s idle)`,
    '',
    '| variant | environment | median VmRSS | max VmRSS |',
    '| --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.variant} | ${r.env || '-'} | ${r.medianMiB} MiB | ${r.maxMiB} MiB |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/agent-rss.md'), `${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench/results/agent-rss.json'), JSON.stringify({ node: process.version, idleSeconds, settleSeconds, results }, null, 2));
}

await main();
