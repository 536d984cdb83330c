/**
 * Forwarded request overhead: two real `hawser server` processes (replicas)
 * on one PostgreSQL, sharing the CA (B's data dir is a copy of A's, as
 * replicas share one Secret), one swarm agent whose tunnel is on A. The
 * same small GET is timed on A (the owner) and through B (not the owner:
 * B finds the lease, forwards the stream over its peer session to A). Needs
 * fleet-forward and fleet-owner merged; until then B refuses and the figure
 * says so with B's answer.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { startPostgres } from '../../test/support/postgres.js';
import { startServer, type TestServer } from '../../test/support/hawser.js';
import { csrPem } from '../../packages/agent/src/csr.js';
import { Swarm } from './swarm.js';
import { measureGets, type GetLatency } from './swarm-get.js';
import { post } from './swarm-register.js';
import { load1 } from './swarm-server.js';

export interface ForwardedResult {
  owner: GetLatency;
  nonOwner?: GetLatency;
  /** Why there is no non-owner figure. */
  missing?: string;
  load: number;
}

/** One cluster registered through the real path on `server`: its name, id and certificate. */
async function registerOne(server: TestServer, ca: string, key: string): Promise<{ name: string; clusterId: string; certPem: string }> {
  const adminToken = readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim();
  const agent = new Agent({ keepAlive: false });
  const added = await post(`${server.publicUrl}/api/v1/clusters`, ca, agent, { name: 'forwarded' }, adminToken);
  const token = (added.body.bootstrap as { token: string }).token;
  const reg = await post(`${server.agentUrl}/agent/v1/register`, ca, agent, { token, csr: csrPem(key, 'hawser-agent'), agentVersion: '0.1.0', kubernetesVersion: 'v1.36.0' });
  if (reg.status !== 200) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  return { name: 'forwarded', clusterId: String(reg.body.clusterId), certPem: String(reg.body.certificate) };
}

export async function measureForwarded(opts: { gets: number; key: string }): Promise<ForwardedResult> {
  const pg = await startPostgres();
  const dirB = mkdtempSync(join(tmpdir(), 'hawser-replica-b-'));
  const cleanup: (() => Promise<unknown> | void)[] = [() => pg.stop(), () => rmSync(dirB, { recursive: true, force: true })];
  try {
    const url = await pg.createDatabase('fleet_bench');
    const args = ['--tier', 'read=bench'];
    const a = await startServer({ databaseUrl: url, args });
    cleanup.push(() => a.remove());
    cpSync(a.dataDir, dirB, { recursive: true, filter: (src) => !src.endsWith('hawser.lock') });
    const b = await startServer({ dataDir: dirB, databaseUrl: url, args });
    cleanup.push(() => b.stop());
    const ca = readFileSync(join(a.dataDir, 'ca.crt'), 'utf8');
    const one = await registerOne(a, ca, opts.key);
    const swarm = await Swarm.start({ agentUrl: a.agentUrl, seed: { agents: [{ ...one, keyIndex: 0 }], keys: [opts.key], caPem: ca, ms: 0 }, workers: 1, sourceAddresses: 1 });
    cleanup.push(() => swarm.stop());
    await swarm.until((c) => c.connected === 1, 60_000);
    const token = (JSON.parse((await a.cli(['token', 'create', '--user', 'bench', '--group', 'bench', '-o', 'json'])).stdout) as { token: string }).token;
    // B learns the lease from the owner cache (NOTIFY); give it a moment, then time both.
    let probe = await measureGets({ base: b.publicUrl, ca, token, cluster: one.name, count: 1, warmup: 0 });
    for (let i = 0; i < 50 && probe.failed > 0; i++) {
      await delay(200);
      probe = await measureGets({ base: b.publicUrl, ca, token, cluster: one.name, count: 1, warmup: 0 });
    }
    const load = load1();
    const owner = await measureGets({ base: a.publicUrl, ca, token, cluster: one.name, count: opts.gets });
    if (probe.failed > 0) return { owner, missing: `needs fleet-forward + fleet-owner (the non-owner answered ${probe.firstFailure?.slice(0, 120) ?? '?'})`, load };
    const nonOwner = await measureGets({ base: b.publicUrl, ca, token, cluster: one.name, count: opts.gets });
    return { owner, nonOwner, load };
  } finally {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
}
