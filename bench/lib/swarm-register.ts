/**
 * Registration throughput, through the real path: `POST /api/v1/clusters`
 * (admin token) adds each cluster and mints its bootstrap token, untimed;
 * then `POST /agent/v1/register` (token + CSR -> certificate) is timed with
 * `concurrency` registrations in flight. CSRs are made beforehand from a few
 * shared keys (the agent's RSA keygen is its own cost, not the server's).
 */
import { Agent, request } from 'node:https';
import { csrPem } from '../../packages/agent/src/csr.js';
import { summarize } from './stats.js';

export interface RegistrationResult {
  count: number;
  concurrency: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** HTTP status -> how many. */
  statuses: Record<string, number>;
}

/** One JSON POST and its parsed answer (swarm-forward.ts uses it too). */
export function post(url: string, ca: string, agent: Agent, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const req = request(url, { method: 'POST', ca, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Runs `fn(i)` for i < count with at most `concurrency` at once. */
async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await fn(next++);
  }));
}

export async function measureRegistrations(opts: { publicUrl: string; agentUrl: string; ca: string; adminToken: string; keys: string[]; count: number; concurrency: number; prefix: string }): Promise<RegistrationResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const tokens: string[] = [];
  await pool(opts.count, 8, async (i) => {
    const added = await post(`${opts.publicUrl}/api/v1/clusters`, opts.ca, agent, { name: `${opts.prefix}-${i}` }, opts.adminToken);
    if (added.status !== 201) throw new Error(`add cluster: ${added.status} ${JSON.stringify(added.body)}`);
    tokens[i] = (added.body.bootstrap as { token: string }).token;
  });
  const csrs = opts.keys.map((key) => csrPem(key, 'hawser-agent'));
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const started = performance.now();
  await pool(opts.count, opts.concurrency, async (i) => {
    const t0 = performance.now();
    const reg = await post(`${opts.agentUrl}/agent/v1/register`, opts.ca, agent, { token: tokens[i], csr: csrs[i % csrs.length], agentVersion: '0.1.0', kubernetesVersion: 'v1.36.0' });
    latencies.push(performance.now() - t0);
    statuses[reg.status] = (statuses[reg.status] ?? 0) + 1;
  });
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const s = summarize(latencies);
  return { count: opts.count, concurrency: opts.concurrency, seconds, perSecond: opts.count / seconds, p50Ms: s.p50, p99Ms: s.p99, statuses };
}
