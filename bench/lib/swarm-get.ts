/**
 * Small GETs through the operator listener to one swarm agent (which
 * answers every stream with a canned `/version` body, swarm-agent.ts): the
 * whole relay path (authentication, authorization, the began audit row, the
 * tunnel stream) minus the API server. One request at a time on a
 * keep-alive connection, so the figure is latency, not queueing.
 */
import { Agent, request } from 'node:https';
import { summarize } from './stats.js';

export interface GetLatency {
  n: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-200 answers, and the first one's status and body. */
  failed: number;
  firstFailure?: string;
}

function get(url: string, ca: string, agent: Agent, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `count` sequential GETs of `/clusters/<cluster>/version` on `base` (after `warmup` untimed ones). */
export async function measureGets(opts: { base: string; ca: string; token: string; cluster: string; count: number; warmup?: number }): Promise<GetLatency> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${opts.base}/clusters/${opts.cluster}/version`;
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;
  try {
    for (let i = 0; i < (opts.warmup ?? 20); i++) await get(url, opts.ca, agent, opts.token);
    for (let i = 0; i < opts.count; i++) {
      const t0 = performance.now();
      const { status, body } = await get(url, opts.ca, agent, opts.token);
      latencies.push(performance.now() - t0);
      if (status !== 200) {
        failed++;
        firstFailure ??= `${status} ${body.slice(0, 200)}`;
      }
    }
  } finally {
    agent.destroy();
  }
  const s = summarize(latencies);
  return { n: s.n, p50Ms: s.p50, p99Ms: s.p99, failed, ...(firstFailure ? { firstFailure } : {}) };
}
