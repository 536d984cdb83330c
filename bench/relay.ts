/**
 * Relay benchmark: the same real API server reached two ways in one run,
 * reported as ratios (Hawser / direct), since absolute times on a shared
 * 2-core machine drift.
 *
 *   direct   HTTPS keep-alive client -> kube-apiserver (a ServiceAccount bound to view)
 *   hawser   HTTPS keep-alive client -> hawser server (API token, tier read)
 *            -> tunnel stream -> hawser-agent (as the chart's ServiceAccount)
 *            -> kube-apiserver with impersonation
 *   floor    HTTPS keep-alive client -> bare reverse proxy (TLS) -> bare reverse
 *            proxy -> kube-apiserver with the agent's token and the same
 *            impersonation: the same hops in two processes with none of
 *            Hawser's work (bench/lib/floor-proxy.ts), so hawser - floor is
 *            what Hawser costs and floor - direct what the hops cost here
 *
 * Scenarios: small GET latency (p50/p99, concurrency 1), LIST of 5,000
 * ConfigMaps, a LIST of about 50 MB (2,500 ConfigMaps of 20 KB: the
 * design's "one 50 MB LIST body", here from a real API server over TLS on
 * both paths), 100 concurrent watches with events (delivery delay p50/p99).
 * Only 127.0.0.1; every loop is bounded. `npm run bench:relay [-- --quick]`.
 * Results: stdout and bench/results/relay.{md,json}.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { createCertificate } from '../test/controlplane/pki.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer } from '../test/support/hawser.js';
import { adminCore, applyYaml, createNamespace, serviceAccountToken } from '../test/support/kube.js';
import { useCluster } from '../test/support/test-cluster.js';
import type { FloorProxyConfig } from './lib/floor-proxy.js';
import { fmtMs, ratio, summarize } from './lib/stats.js';
import { h2Rows, measureHttp2 } from './lib/relay-h2.js';

const quick = process.argv.includes('--quick');
const N = { gets: quick ? 400 : 3000, warmup: quick ? 500 : 1500, objects: 5000, lists: quick ? 3 : 8, bigObjects: 2500, bigObjectBytes: 20_000, bigLists: quick ? 1 : 3, watches: 100, events: quick ? 30 : 100, eventEveryMs: 50 };

interface Target {
  name: string;
  base: string;
  ca: string;
  token: string;
  agent: Agent;
}

/** One bare reverse proxy in its own process (bench/lib/floor-proxy.ts). */
async function startFloorProxy(config: FloorProxyConfig): Promise<{ port: number; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./lib/floor-proxy.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.send(config);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`floor proxy exited with ${code}`)));
  });
  const stop = (): Promise<void> => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill();
  });
  return { port, stop };
}

function get(t: Target, path: string): Promise<{ status: number; bytes: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(new URL(t.base + path), { ca: t.ca, agent: t.agent, headers: { authorization: `Bearer ${t.token}`, accept: 'application/json' } }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Small GETs on both targets, alternating in blocks of BLOCK requests: on a
 * shared machine the load drifts within seconds, and measuring one target
 * after the other would hand that drift to whichever ran second.
 */
async function smallGets(targets: Target[], ns: string): Promise<Map<string, { p50: number; p99: number }>> {
  const BLOCK = 20;
  const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  // Warm-up, unmeasured: the server and agent run JavaScript, which is
  // interpreted until V8 has seen each path often enough to optimise it;
  // a server in service is warm.
  for (const t of targets) for (let i = 0; i < N.warmup; i++) await get(t, `/api/v1/namespaces/${ns}/configmaps/cm-${i % 100}`);
  // The measured window on the monotonic clock V8's CPU profiles use too
  // (`npm run bench:profile-summary -- FILE --from US --to US` cuts a profile to it).
  const from = process.hrtime.bigint() / 1000n;
  for (let i = 0; i < N.gets; i += BLOCK) {
    for (const t of targets) {
      for (let j = i; j < i + BLOCK; j++) {
        const r = await get(t, `/api/v1/namespaces/${ns}/configmaps/cm-${j % 100}`);
        if (r.status !== 200) throw new Error(`${t.name}: GET answered ${r.status}`);
        samples.get(t.name)!.push(r.ms);
      }
    }
  }
  process.stderr.write(`bench: small GETs ran from ${from} to ${process.hrtime.bigint() / 1000n} (µs, monotonic)\n`);
  return new Map([...samples].map(([name, s]) => {
    const x = summarize(s);
    return [name, { p50: x.p50, p99: x.p99 }];
  }));
}

async function bigList(t: Target, ns: string, lists: number): Promise<{ ms: number; mb: number }> {
  await get(t, `/api/v1/namespaces/${ns}/configmaps`);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < lists; i++) {
    const r = await get(t, `/api/v1/namespaces/${ns}/configmaps`);
    if (r.status !== 200) throw new Error(`${t.name}: LIST answered ${r.status}`);
    times.push(r.ms);
    bytes = r.bytes;
  }
  return { ms: summarize(times).p50, mb: bytes / 1024 / 1024 };
}

/** Opens N watches, writes events, and measures write-ack -> event-received delay per watcher. */
async function watchDelay(t: Target, ns: string): Promise<{ p50: number; p99: number; received: number; expected: number }> {
  const sentAt = new Map<string, number>();
  const delays: number[] = [];
  let received = 0;
  const reqs = await Promise.all(
    Array.from({ length: N.watches }, () =>
      new Promise<ClientRequest>((resolve, reject) => {
        const req = request(new URL(`${t.base}/api/v1/namespaces/${ns}/configmaps?watch=true&allowWatchBookmarks=false`), {
          ca: t.ca,
          agent: t.agent,
          headers: { authorization: `Bearer ${t.token}` },
        });
        req.on('response', (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            buf += d;
            let i: number;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string }; data?: Record<string, string> } };
              const key = `${ev.object.metadata.name}@${ev.object.data?.v ?? ''}`;
              const at = sentAt.get(key);
              if (ev.type === 'MODIFIED' && at !== undefined) {
                delays.push(performance.now() - at);
                received++;
              }
            }
          });
          resolve(req);
        });
        req.on('error', reject);
        req.end();
      }),
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  const core = adminCore();
  for (let i = 0; i < N.events; i++) {
    const name = `w-${i % 10}`;
    const started = performance.now();
    // Recorded before the write: the event can beat the write's own response.
    sentAt.set(`${name}@${i}`, started);
    await core.replaceNamespacedConfigMap({ name, namespace: ns, body: { metadata: { name }, data: { v: String(i) } } });
    await new Promise((r) => setTimeout(r, N.eventEveryMs));
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const req of reqs) req.destroy();
  const s = summarize(delays);
  return { p50: s.p50, p99: s.p99, received, expected: N.watches * N.events };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hawser-bench-'));
  const cp = new ControlPlane(join(dir, 'cp'));
  const log = (l: string) => process.stderr.write(`bench: ${l}\n`);
  const state = await cp.start(log);
  const cleanup: (() => Promise<unknown>)[] = [() => cp.stop(), () => rm(dir, { recursive: true, force: true })];
  try {
    const ca = await readFile(state.pki.ca, 'utf8');
    useCluster({ kubeconfig: state.kubeconfig, server: state.apiServerUrl, ca, external: false, version: state.version });
    log('starting hawser server and agent');
    // BENCH_AUDIT_SYNC: the server's --audit-sync (process, the default, or host).
    const server = await startServer({ args: ['--tier', 'read=bench', '--audit-sync', process.env.BENCH_AUDIT_SYNC ?? 'process'] });
    cleanup.unshift(() => server.remove());
    const ns = await createNamespace('hawser-bench');
    const { token: bootstrap } = await addCluster(server, 'bench');
    const agentNs = await createNamespace('hawser-system');
    // BENCH_AGENT_NODE_OPTIONS: node options for the agent process, e.g. the
    // profiler of bench/lib/profile-preload.mjs (the server inherits NODE_OPTIONS).
    const agentNodeOptions = process.env.BENCH_AGENT_NODE_OPTIONS;
    const agentEnv = agentNodeOptions ? { NODE_OPTIONS: agentNodeOptions, ...(process.env.BENCH_PROFILE_DIR ? { BENCH_PROFILE_DIR: process.env.BENCH_PROFILE_DIR } : {}) } : undefined;
    const agent = await deployAgent({ namespace: agentNs.name, server, token: bootstrap, values: { set: ['tierBindings.enabled=true'] }, ...(agentEnv ? { env: agentEnv } : {}) });
    cleanup.unshift(() => agent.remove());
    await eventually(async () => {
      if ((await agentReadiness(agent)).body.status !== 'connected') throw new Error('not connected');
    }, 60_000);
    const created = await server.cli(['token', 'create', '--user', 'bench', '--group', 'bench', '-o', 'json']);
    const hawserToken = (JSON.parse(created.stdout) as { token: string }).token;

    // The direct baseline acts with the same rights (view) as the operator.
    await applyYaml(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: bench-view, namespace: ${ns.name} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: bench, namespace: ${ns.name} }]`);
    const directToken = await serviceAccountToken(ns.name, 'bench');

    // The floor: the agent's own token and the headers the agent would set
    // for this operator (tier read), behind a TLS front like the server's.
    const agentToken = await serviceAccountToken(agentNs.name, 'hawser-agent');
    const back = await startFloorProxy({ upstream: state.apiServerUrl, ca, impersonate: { token: agentToken, user: 'hawser:bench', groups: ['hawser:tier:read'] } });
    cleanup.unshift(() => back.stop());
    const caPair = { cert: ca, key: await readFile(state.pki.caKey, 'utf8') };
    const front = await startFloorProxy({ upstream: `http://127.0.0.1:${back.port}`, tls: createCertificate({ subject: { cn: 'hawser-bench-floor' }, issuer: caPair, serverNames: { ip: ['127.0.0.1'] } }) });
    cleanup.unshift(() => front.stop());

    log(`creating ${N.objects} ConfigMaps`);
    const core = adminCore();
    for (let i = 0; i < N.objects; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: `cm-${i + j}` }, data: { v: 'x'.repeat(200) } } })));
    }
    const bigNs = await createNamespace('hawser-bench-big');
    log(`creating ${N.bigObjects} ConfigMaps of ${N.bigObjectBytes / 1000} KB`);
    for (let i = 0; i < N.bigObjects; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => core.createNamespacedConfigMap({ namespace: bigNs.name, body: { metadata: { name: `big-${i + j}` }, data: { v: 'y'.repeat(N.bigObjectBytes) } } })));
    }
    await applyYaml(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: bench-view, namespace: ${bigNs.name} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: bench, namespace: ${ns.name} }]`);
    const watchNs = await createNamespace('hawser-bench-watch');
    await applyYaml(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: bench-view, namespace: ${watchNs.name} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: bench, namespace: ${ns.name} }]`);
    for (let i = 0; i < 10; i++) await core.createNamespacedConfigMap({ namespace: watchNs.name, body: { metadata: { name: `w-${i}` }, data: { v: '' } } });

    const direct: Target = { name: 'direct', base: state.apiServerUrl, ca, token: directToken, agent: new Agent({ keepAlive: true, maxSockets: 256 }) };
    const hawser: Target = {
      name: 'hawser',
      base: `${server.publicUrl}/clusters/bench`,
      ca: await readFile(join(server.dataDir, 'ca.crt'), 'utf8'),
      token: hawserToken,
      agent: new Agent({ keepAlive: true, maxSockets: 256 }),
    };

    const floor: Target = { name: 'floor', base: `https://127.0.0.1:${front.port}`, ca, token: directToken, agent: new Agent({ keepAlive: true, maxSockets: 256 }) };
    const targets = [direct, floor, hawser];

    const results: Record<string, Record<string, number>> = { direct: {}, floor: {}, hawser: {} };
    log(`small GETs, ${N.gets} on each target, alternating in blocks`);
    const gets = await smallGets(targets, ns.name);
    for (const t of targets) {
      results[t.name]!.getP50 = gets.get(t.name)!.p50;
      results[t.name]!.getP99 = gets.get(t.name)!.p99;
    }
    // Interleave: direct, floor, hawser, then again, so drift hits all.
    for (const round of [1, 2]) {
      for (const t of targets) {
        log(`round ${round}: ${t.name} LIST of ${N.objects}`);
        const l = await bigList(t, ns.name, N.lists);
        const r = results[t.name]!;
        r.listMs = Math.min(r.listMs ?? Infinity, l.ms);
        r.listMb = l.mb;
      }
    }
    for (const round of [1, 2]) {
      for (const t of targets) {
        log(`round ${round}: ${t.name} LIST of ${N.bigObjects} ConfigMaps of ${N.bigObjectBytes / 1000} KB`);
        const from = process.hrtime.bigint() / 1000n;
        const l = await bigList(t, bigNs.name, N.bigLists);
        log(`round ${round}: ${t.name} big LISTs ran from ${from} to ${process.hrtime.bigint() / 1000n} (µs, monotonic)`);
        const r = results[t.name]!;
        r.bigListMs = Math.min(r.bigListMs ?? Infinity, l.ms);
        r.bigListMb = l.mb;
      }
    }
    for (const t of targets) {
      log(`${t.name}: ${N.watches} watches, ${N.events} events`);
      const w = await watchDelay(t, watchNs.name);
      Object.assign(results[t.name]!, { watchP50: w.p50, watchP99: w.p99, watchReceived: w.received, watchExpected: w.expected });
    }

    log(`hawser: ${N.watches} watches over one HTTP/2 connection vs ${N.watches} HTTP/1.1 connections; small GETs over both`);
    const h2 = await measureHttp2({ base: hawser.base, ca: hawser.ca, token: hawser.token, serverPid: server.process.child.pid }, { watchNs: watchNs.name, getNs: ns.name, ...N, write: async (name, v) => void (await core.replaceNamespacedConfigMap({ name, namespace: watchNs.name, body: { metadata: { name }, data: { v } } })) });
    const d = results.direct!;
    const f = results.floor!;
    const h = results.hawser!;
    const added = (x: number, base: number): string => `${x - base >= 0 ? '+' : ''}${fmtMs(x - base)} ms`;
    const share = (ms: number, base: number): string => `${((base / ms) * 100).toFixed(0)}% of direct`;
    const rows = [
      ['small GET p50 (ms)', fmtMs(d.getP50!), fmtMs(f.getP50!), fmtMs(h.getP50!), ratio(h.getP50!, d.getP50!), added(h.getP50!, d.getP50!), added(f.getP50!, d.getP50!), added(h.getP50!, f.getP50!)],
      ['small GET p99 (ms)', fmtMs(d.getP99!), fmtMs(f.getP99!), fmtMs(h.getP99!), ratio(h.getP99!, d.getP99!), added(h.getP99!, d.getP99!), added(f.getP99!, d.getP99!), added(h.getP99!, f.getP99!)],
      [`LIST ${N.objects} ConfigMaps, ${d.listMb!.toFixed(1)} MB (ms)`, fmtMs(d.listMs!), fmtMs(f.listMs!), fmtMs(h.listMs!), ratio(h.listMs!, d.listMs!), share(h.listMs!, d.listMs!), share(f.listMs!, d.listMs!), `${((f.listMs! / h.listMs!) * 100).toFixed(0)}% of floor`],
      [`LIST ${N.bigObjects} ConfigMaps, ${d.bigListMb!.toFixed(1)} MB (ms)`, fmtMs(d.bigListMs!), fmtMs(f.bigListMs!), fmtMs(h.bigListMs!), ratio(h.bigListMs!, d.bigListMs!), share(h.bigListMs!, d.bigListMs!), share(f.bigListMs!, d.bigListMs!), `${((f.bigListMs! / h.bigListMs!) * 100).toFixed(0)}% of floor`],
      [`${N.watches} watches: event delay p50 (ms)`, fmtMs(d.watchP50!), fmtMs(f.watchP50!), fmtMs(h.watchP50!), ratio(h.watchP50!, d.watchP50!), added(h.watchP50!, d.watchP50!), added(f.watchP50!, d.watchP50!), added(h.watchP50!, f.watchP50!)],
      [`${N.watches} watches: event delay p99 (ms)`, fmtMs(d.watchP99!), fmtMs(f.watchP99!), fmtMs(h.watchP99!), ratio(h.watchP99!, d.watchP99!), added(h.watchP99!, d.watchP99!), added(f.watchP99!, d.watchP99!), added(h.watchP99!, f.watchP99!)],
      ['watch events delivered', `${d.watchReceived}/${d.watchExpected}`, `${f.watchReceived}/${f.watchExpected}`, `${h.watchReceived}/${h.watchExpected}`, '', '', '', ''],
    ];
    const md = [
      '| scenario | direct | floor | hawser | hawser/direct | hawser vs direct | floor vs direct | hawser vs floor |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      ...h2Rows(h2, N.watches),
      '',
      `Node ${process.version}, ${quick ? 'quick' : 'full'} run, --audit-sync ${process.env.BENCH_AUDIT_SYNC ?? 'process'}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${new Date().toISOString()}.`,
    ].join('\n');
    process.stdout.write(`\n${md}\n`);
    const out = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'relay.md'), md + '\n');
    writeFileSync(join(out, 'relay.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, N, results, http2: h2 }, null, 2));
    for (const t of targets) t.agent.destroy();
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
