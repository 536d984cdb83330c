/**
 * Tunnel leases on a real PostgreSQL (docs/operations.md, "Several
 * replicas"): claim latency and how soon another replica's owner cache has
 * it, concurrent claims per second (a reconnect storm's worth), the cost of
 * one renewal of every lease, a replica's start next to all of them, and an
 * owner lookup. `npx tsx bench/lease-figures.ts [--clusters 10000]`.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startPostgres } from '../test/support/postgres.js';
import { openStore } from '../packages/server/src/store/open-store.js';
import { LeaseOwnership } from '../packages/server/src/fleet/lease-ownership.js';
import { PgListener } from '../packages/server/src/fleet/pg-listener.js';
import { FLEET_CHANNEL } from '../packages/server/src/fleet/lease-notice.js';

const { values } = parseArgs({ options: { clusters: { type: 'string', default: '10000' } } });
const N = Math.max(400, Number(values.clusters));
const SEQUENTIAL = 300;
const log = pino({ level: 'silent' });
const agent = { software: 'hawser-agent/bench', capabilities: ['request-head'], maxHeaderSize: 65536 };

const postgres = await startPostgres();
const url = await postgres.createDatabase('lease_figures');

async function replica(id: string) {
  const store = await openStore({ databaseUrl: url, dataDir: '/nonexistent' });
  const listener = new PgListener({ url, channel: FLEET_CHANNEL, log });
  await listener.start();
  // A long TTL: the timer must not renew during the measurements.
  const ownership = await LeaseOwnership.open({ store, listener, replicaId: id, ttlMs: 600_000, log });
  return {
    ownership,
    store,
    async close() {
      await ownership.close();
      await listener.close();
      await store.close();
    },
  };
}

function pct(xs: readonly number[], p: number): string {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!.toFixed(2);
}

try {
  const a = await replica('r-a');
  const c = await replica('r-c');
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push((await a.store.createCluster({ name: `c-${i}` })).id);

  const claimMs: number[] = [];
  const seenMs: number[] = [];
  for (const id of ids.slice(0, SEQUENTIAL)) {
    const t0 = performance.now();
    const seen = new Promise<void>((resolve) => {
      const off = c.ownership.onOwnerChange((x) => x === id && (off(), resolve()));
    });
    await a.ownership.claim(id, `conn-${id}`, agent);
    claimMs.push(performance.now() - t0);
    await seen;
    seenMs.push(performance.now() - t0);
  }
  console.log(`claim: p50 ${pct(claimMs, 0.5)} ms, p99 ${pct(claimMs, 0.99)} ms; in another replica's owner cache after p50 ${pct(seenMs, 0.5)} ms, p99 ${pct(seenMs, 0.99)} ms (n=${SEQUENTIAL})`);

  let t0 = performance.now();
  await Promise.all(ids.slice(SEQUENTIAL).map((id) => a.ownership.claim(id, `conn-${id}`, agent)));
  const bulkMs = performance.now() - t0;
  console.log(`${N - SEQUENTIAL} concurrent claims: ${bulkMs.toFixed(0)} ms (${(((N - SEQUENTIAL) / bulkMs) * 1000).toFixed(0)} per second)`);

  const renewMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    t0 = performance.now();
    await a.ownership.renew();
    renewMs.push(performance.now() - t0);
  }
  console.log(`one renewal of ${a.ownership.heldCount} leases (one UPDATE): p50 ${pct(renewMs, 0.5)} ms, max ${Math.max(...renewMs).toFixed(1)} ms`);

  t0 = performance.now();
  const d = await replica('r-d');
  const startMs = performance.now() - t0;
  t0 = performance.now();
  const LOOKUPS = 100_000;
  for (let k = 0; k < LOOKUPS; k++) d.ownership.owner(ids[k % N]!);
  const lookupNs = ((performance.now() - t0) * 1e6) / LOOKUPS;
  console.log(`a replica starting next to ${N} leases: ${startMs.toFixed(0)} ms; owner() lookup: ${lookupNs.toFixed(0)} ns`);
  for (const r of [a, c, d]) await r.close();
} finally {
  await postgres.stop();
}
