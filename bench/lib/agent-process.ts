/**
 * The agent side of the benchmark, in its own process as in production:
 * on request, the agent end of the tunnel (session + relay http.Server) or
 * of the HTTP/2 alternative, or a plain proxy (no tunnel). The upstream (stand-in for the kube-apiserver)
 * runs in a third process (bench/lib/upstream-process.ts), so the agent's
 * CPU goes to relaying only. Driven over IPC by bench/tunnel.ts; see
 * bench/lib/agent-ipc.ts.
 */
import http from 'node:http';
import http2 from 'node:http2';
import { createWebSocketStream, WebSocket } from 'ws';
import { fromWebSocket, Session } from '../../packages/protocol/src/index.js';
import type { TunnelStream } from '../../packages/protocol/src/index.js';
import pino from 'pino';
import { Policy } from '../../packages/agent/src/policy.js';
import { Relay } from '../../packages/agent/src/relay.js';
import { REQUEST_HEAD_CAPABILITY } from '../../packages/contract/src/stream-head.js';
import { MemorySampler } from './stats.js';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentReply, AgentRequest } from './agent-ipc.js';
import { CpuProfiler, summarize } from './cpu-profile.js';

/** The upstream process (bench/lib/upstream-process.ts) and a tiny request/reply over its IPC channel. */
const upstream = await (async () => {
  const child = fork(fileURLToPath(new URL('./upstream-process.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, (value: number) => void>();
  let next = 1;
  child.on('message', (m: { id: number; value: number }) => {
    waiting.get(m.id)?.(m.value);
    waiting.delete(m.id);
  });
  const ask = (type: string): Promise<number> => new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    child.send({ type, id });
  });
  const port = await new Promise<number>((resolve) => waiting.set(0, resolve));
  return {
    port,
    eventsSent: () => ask('events-sent'),
    stopEvents: () => ask('stop-events'),
    close: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.send({ type: 'exit', id: next++ });
    }),
  };
})();
const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const sessions: Session[] = [];
let sampler: MemorySampler | undefined;
let profiler: CpuProfiler | undefined;

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Forward one request to the upstream; only hop-by-hop headers stay behind. */
function relay(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (!k.startsWith(':') && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') headers[k] = v;
  }
  const up = http.request({ host: '127.0.0.1', port: upstream.port, path: req.url, method: req.method, headers, agent: upstreamAgent }, (upRes) => {
    const out = { ...upRes.headers };
    delete out.connection;
    delete out['keep-alive'];
    delete out['transfer-encoding'];
    res.writeHead(upRes.statusCode ?? 502, out);
    upRes.pipe(res as http.ServerResponse);
  });
  up.on('error', () => res.destroy());
  // Cancel upstream only if the client left early; destroying a finished
  // request would also kill its pooled keep-alive connection.
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  (req as http.IncomingMessage).pipe(up);
}

function connectTunnel(url: string): Promise<void> {
  // Masking protects browser-era proxies from cache poisoning; the agent is
  // not a browser and runs over TLS, so it uses an all-zero key, which ws skips.
  const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: zeroMask });
  // BENCH_AGENT_LIMITS (JSON) tunes the agent side's session limits for experiments.
  const limits = JSON.parse(process.env.BENCH_AGENT_LIMITS ?? '{}') as Record<string, number>;
  const session = new Session(fromWebSocket(ws), { role: 'client', software: 'bench-agent', capabilities: [REQUEST_HEAD_CAPABILITY], metadata: { clusterUid: 'bench' }, limits });
  sessions.push(session);
  // The agent's shipped relay, acting as itself (shared mode) toward the plain-HTTP upstream.
  const shipped = new Relay({
    target: { url: new URL(`http://127.0.0.1:${upstream.port}`), agent: upstreamAgent, authorization: () => undefined },
    policy: new Policy({ mode: 'full', authzMode: 'shared', impersonationPrefix: 'hawser:', denyResources: [] }),
    log: pino({ level: 'silent' }),
  });
  session.on('stream', (stream: TunnelStream) => shipped.accept(stream));
  return session.ready.then(() => undefined);
}

function connectH2(url: string): Promise<void> {
  const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: zeroMask });
  // Wrap at once: the server's preface can arrive with the upgrade response.
  const duplex = createWebSocketStream(ws);
  const server = http2.createServer({ settings: { initialWindowSize: 1024 * 1024, maxConcurrentStreams: 1024 } }, relay);
  server.emit('connection', duplex);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

/**
 * The proxy path: the same relay on a plain listening socket, no tunnel.
 * It is the least an agent-side process can do (accept HTTP, forward it),
 * so tunnel/proxy is what the tunnel itself costs, and proxy/direct is what
 * any extra process costs on this machine.
 */
function listenProxy(): Promise<number> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, relay);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function reply(msg: AgentReply): void {
  process.send?.(msg);
}

process.on('message', (msg: AgentRequest) => {
  void (async () => {
    switch (msg.type) {
      case 'connect-tunnel':
        await connectTunnel(msg.url);
        return reply({ type: 'ok', id: msg.id });
      case 'connect-h2':
        await connectH2(msg.url);
        return reply({ type: 'ok', id: msg.id });
      case 'listen-proxy':
        return reply({ type: 'value', id: msg.id, value: await listenProxy() });
      case 'events-sent':
        return reply({ type: 'value', id: msg.id, value: await upstream.eventsSent() });
      case 'stop-events':
        await upstream.stopEvents();
        return reply({ type: 'ok', id: msg.id });
      case 'mem-start':
        sampler = new MemorySampler(5, () => sessions.reduce((n, s) => n + s.bufferedBytes, 0));
        return reply({ type: 'ok', id: msg.id });
      case 'mem-stop': {
        const s = sampler?.stop();
        return reply({ type: 'mem', id: msg.id, rss: s?.peakRss ?? 0, buffers: s?.peakExternal ?? 0, session: s?.peakExtra ?? 0 });
      }
      case 'profile-start':
        profiler = new CpuProfiler();
        await profiler.start();
        return reply({ type: 'ok', id: msg.id });
      case 'profile-stop': {
        const profile = await profiler!.stop(msg.file);
        return reply({ type: 'profile', id: msg.id, summary: summarize(profile) });
      }
      case 'exit':
        for (const s of sessions) s.destroy();
        await upstream.close();
        process.exit(0);
    }
  })();
});

process.on('disconnect', () => process.exit(0));
reply({ type: 'ready', id: 0, upstreamPort: upstream.port });
