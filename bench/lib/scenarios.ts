import { performance } from 'node:perf_hooks';
import type { Requester } from './client.js';
import { MB, MemorySampler, summarize } from './stats.js';
import type { AgentProcess } from './agent-ipc.js';

/** Small GETs one after another: added latency. */
export async function latencyC1(req: Requester, n: number, warmup = 200): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < warmup; i++) await req.get('/small');
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await req.get('/small');
    samples.push(performance.now() - t);
  }
  const s = summarize(samples);
  return { p50: s.p50, p99: s.p99 };
}

/** `total` small GETs, `concurrency` in flight at once: requests per second. */
export async function throughput(req: Requester, concurrency: number, total: number): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < total) await req.get('/small');
  }));
  return total / ((performance.now() - t) / 1000);
}

export interface BigBodyResult {
  mbps: number;
  /** Peak growth above the start, in MB: this (server) process, then the agent process. */
  peakRssMb: number;
  peakBuffersMb: number;
  peakExtraMb: number;
  agentRssMb: number;
  agentBuffersMb: number;
  agentSessionMb: number;
}

/**
 * One large body: throughput (median of `runs`, after `warmups` unmeasured
 * transfers, because the first transfers mostly measure the JIT) and
 * peak memory (rss and Buffer memory above the start) on both sides.
 */
export async function bigBody(req: Requester, agent: AgentProcess, bytes: number, extra?: () => number, runs = 3, warmups = 2): Promise<BigBodyResult> {
  for (let i = 0; i < warmups; i++) await req.get(`/big?size=${bytes}`);
  await agent.request({ type: 'mem-start' });
  const mem = new MemorySampler(5, extra);
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const got = await req.get(`/big?size=${bytes}`);
    speeds.push(bytes / MB / ((performance.now() - t) / 1000));
    if (got !== bytes) throw new Error(`big body: got ${got} of ${bytes} bytes`);
  }
  mem.stop();
  const remote = await agent.request({ type: 'mem-stop' });
  const secs = bytes / MB / (speeds.sort((a, b) => a - b)[Math.floor(runs / 2)] as number);
  const r = remote.type === 'mem' ? remote : { rss: NaN, buffers: NaN, session: NaN };
  return {
    mbps: bytes / MB / secs, peakRssMb: mem.peakRss / MB, peakBuffersMb: mem.peakExternal / MB, peakExtraMb: mem.peakExtra / MB,
    agentRssMb: r.rss / MB, agentBuffersMb: r.buffers / MB, agentSessionMb: r.session / MB,
  };
}

/**
 * `busy` workers doing small GETs, optionally beside one stalled stream (a
 * response nobody reads, its upstream writing as fast as it is allowed).
 */
export async function busyBesideStall(req: Requester, stall: boolean, busy: number, perWorker: number, extra?: () => number): Promise<{ p99: number; p50: number; peakExtraMb: number }> {
  let stalled: ReturnType<Requester['open']> | undefined;
  if (stall) {
    stalled = req.open('/stall', () => {});
    stalled.pause();
    await stalled.started;
    // Let the stalled stream fill whatever buffers it may fill.
    await new Promise((r) => setTimeout(r, 200));
  }
  const mem = new MemorySampler(5, extra);
  const samples: number[] = [];
  await Promise.all(Array.from({ length: busy }, async () => {
    for (let i = 0; i < perWorker; i++) {
      const t = performance.now();
      await req.get('/small');
      samples.push(performance.now() - t);
    }
  }));
  mem.stop();
  stalled?.close();
  const s = summarize(samples);
  return { p99: s.p99, p50: s.p50, peakExtraMb: mem.peakExtra / MB };
}

/**
 * `n` long-lived streams receiving small events every `everyMs`: delivery
 * delay and completeness. Delay is reported twice: over every event, and
 * over the events sent once every stream had been open for a second
 * ("established"), so the cost of opening 1,000 streams at once (1,000
 * upstream connections on the agent's side) is told apart from the cost
 * of delivering events on open ones.
 */
export async function watches(req: Requester, agent: AgentProcess, n: number, everyMs: number, durationMs: number): Promise<{ p50: number; p99: number; steadyP50: number; steadyP99: number; received: number; sent: number }> {
  const delays: number[] = [];
  const steady: number[] = [];
  let steadyFrom = Infinity;
  let received = 0;
  const before = await agent.value('events-sent');
  const handles = Array.from({ length: n }, () => {
    let tail = '';
    return req.open(`/events?every=${everyMs}`, (chunk) => {
      const now = performance.timeOrigin + performance.now();
      const text = tail + chunk.toString('latin1');
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const t = Number(line.slice(line.indexOf('"t":') + 4, -1));
        delays.push(now - t);
        if (t >= steadyFrom) steady.push(now - t);
        received++;
      }
    });
  });
  await Promise.all(handles.map((h) => h.started));
  steadyFrom = performance.timeOrigin + performance.now() + 1000;
  await new Promise((r) => setTimeout(r, durationMs));
  await agent.request({ type: 'stop-events' });
  await new Promise((r) => setTimeout(r, 500));
  const sent = (await agent.value('events-sent')) - before;
  for (const h of handles) h.close();
  await Promise.all(handles.map((h) => h.done));
  const s = summarize(delays);
  const e = summarize(steady);
  return { p50: s.p50, p99: s.p99, steadyP50: e.p50, steadyP99: e.p99, received, sent };
}
