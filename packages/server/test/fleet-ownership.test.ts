import pino from 'pino';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../../test/support/postgres.js';
import type { TestPostgres } from '../../../test/support/postgres.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { LeaseOwnership } from '../src/fleet/lease-ownership.js';
import { PgFleetBus } from '../src/fleet/pg-fleet-bus.js';
import { PgListener } from '../src/fleet/pg-listener.js';
import { FLEET_CHANNEL } from '../src/fleet/lease-notice.js';
import type { FleetEvent } from '../src/fleet/fleet-event.js';
import { reactToFleetEvents } from '../src/fleet/fleet-reactions.js';
import { ConsoleSessions } from '../src/console/console-session.js';

const log = pino({ level: 'silent' });
const agent = { software: 'hawser-agent/test', capabilities: ['request-head'], maxHeaderSize: 65536 };

interface Replica {
  readonly id: string;
  readonly store: Store;
  readonly listener: PgListener;
  readonly ownership: LeaseOwnership;
  readonly bus: PgFleetBus;
  close(): Promise<void>;
}

/** One replica's fleet parts, as openFleet builds them, with its own pool and LISTEN connection. */
async function replica(url: string, id: string, ttlMs: number): Promise<Replica> {
  const store = await openStore({ databaseUrl: url, dataDir: '/nonexistent' });
  const listener = new PgListener({ url, channel: FLEET_CHANNEL, log, minBackoffMs: 50, maxBackoffMs: 300 });
  await listener.start();
  const bus = new PgFleetBus(store, listener, log);
  const ownership = await LeaseOwnership.open({ store, listener, replicaId: id, ttlMs, log });
  return {
    id,
    store,
    listener,
    ownership,
    bus,
    async close() {
      await ownership.close().catch(() => undefined);
      await bus.close();
      await listener.close();
      await store.close().catch(() => undefined);
    },
  };
}

function lost(r: Replica, clusterId: string): Promise<string> {
  return new Promise((resolve) => {
    const off = r.ownership.onLost((id, reason) => {
      if (id !== clusterId) return;
      off();
      resolve(reason);
    });
  });
}

function ownerBecomes(r: Replica, clusterId: string, replicaId: string | undefined): Promise<void> {
  return new Promise((resolve) => {
    const check = (): boolean => r.ownership.owner(clusterId)?.replicaId === replicaId;
    if (check()) return resolve();
    const off = r.ownership.onOwnerChange((id) => {
      if (id === clusterId && check()) {
        off();
        resolve();
      }
    });
  });
}

function heard(r: Replica, match: (e: FleetEvent) => boolean): Promise<FleetEvent> {
  return new Promise((resolve) => {
    const off = r.bus.subscribe((e) => {
      if (!match(e)) return;
      off();
      resolve(e);
    });
  });
}

let postgres: TestPostgres;
let url: string;
let seq = 0;
const open: Replica[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  url = await postgres.createDatabase('fleet_ownership');
}, 60_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await postgres?.stop();
});

async function replicas(n: number, ttlMs = 3_000): Promise<Replica[]> {
  const made = await Promise.all(Array.from({ length: n }, (_, i) => replica(url, `r-${'abc'[i]}${++seq}`, ttlMs)));
  open.push(...made);
  return made;
}

async function cluster(store: Store): Promise<string> {
  return (await store.createCluster({ name: `fleet-${++seq}` })).id;
}

describe('tunnel leases on PostgreSQL', () => {
  it('moves a lease to the replica that claims it last: the old holder hears it lost and no longer holds it', async () => {
    const [a, b] = await replicas(2);
    const id = await cluster(a!.store);
    const first = await a!.ownership.claim(id, 'conn-a', agent);
    expect(a!.ownership.holds(id)).toBe(true);
    const gone = lost(a!, id);
    const second = await b!.ownership.claim(id, 'conn-b', agent);
    expect(second).toBeGreaterThan(first);
    expect(await gone).toMatch(/taken over by replica r-b/);
    expect(a!.ownership.holds(id)).toBe(false);
    expect(b!.ownership.holds(id)).toBe(true);
    // A's tunnel closing afterwards releases nothing of B's.
    await a!.ownership.release(id, 'conn-a');
    expect(b!.ownership.owner(id)?.replicaId).toBe(b!.id);
    expect((await b!.store.listTunnelLeases()).find((l) => l.clusterId === id)?.replicaId).toBe(b!.id);
  });

  it('shows the new owner on a third replica within a second, by notification', async () => {
    const [a, b, c] = await replicas(3);
    const id = await cluster(a!.store);
    await a!.ownership.claim(id, 'conn-a', agent);
    await ownerBecomes(c!, id, a!.id);
    const started = performance.now();
    const seen = ownerBecomes(c!, id, b!.id);
    const epoch = await b!.ownership.claim(id, 'conn-b', agent);
    await seen;
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(1_000);
    expect(c!.ownership.owner(id)).toMatchObject({ replicaId: b!.id, epoch, agent });
    // And a release is seen the same way.
    const released = ownerBecomes(c!, id, undefined);
    await b!.ownership.release(id, 'conn-b');
    await released;
  });

  it('lets a lease expire when its holder stops renewing: the holder stops holding it and others stop routing to it', async () => {
    const [a, c] = await replicas(2, 1_200);
    const id = await cluster(a!.store);
    await a!.ownership.claim(id, 'conn-a', agent);
    await ownerBecomes(c!, id, a!.id);
    const gone = lost(a!, id);
    // A's pool dies (as if A were cut off from PostgreSQL): renewals fail.
    await a!.store.close();
    expect(await gone).toMatch(/expired/);
    expect(a!.ownership.holds(id)).toBe(false);
    const expiresAt = c!.ownership.owner(id)?.expiresAt ?? Date.now();
    // C heard no renewal: its entry runs out at most a renewal period after A's did.
    expect(expiresAt - Date.now()).toBeLessThan(1_200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 5)));
    expect(c!.ownership.owner(id)).toBeUndefined();
  });

  it('re-reads the leases when its LISTEN connection is killed, so a change it missed is seen', async () => {
    const [a] = await replicas(1);
    const id = await cluster(a!.store);
    await a!.ownership.claim(id, 'conn-a', agent);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const reconnected = new Promise<void>((resolve) => {
        const off = a!.listener.onConnect(() => {
          off();
          resolve();
        });
      });
      const terminated = await admin.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN ${FLEET_CHANNEL}'`,
      );
      expect(terminated.rows.map((r) => r.ok)).toEqual([true]);
      // A claim A cannot hear (notified on another channel): only the re-read finds it.
      const ghost = a!.store.claimTunnelLease({ clusterId: id, replicaId: 'r-ghost', connectionId: 'conn-g', ttlMs: 3_000, agent }, 'nobody_listens');
      const seen = ownerBecomes(a!, id, 'r-ghost');
      const gone = lost(a!, id);
      await ghost;
      await reconnected;
      await seen;
      expect(await gone).toMatch(/taken over/);
      expect(a!.ownership.holds(id)).toBe(false);
    } finally {
      await admin.end();
    }
  });

  it('drops the leases a crashed former process with the same replica id left, so nobody routes to them', async () => {
    const [c] = await replicas(1);
    const id = await cluster(c!.store);
    const crashed = await replica(url, 'r-pod-0', 3_000);
    await crashed.ownership.claim(id, 'conn-old', agent);
    await ownerBecomes(c!, id, 'r-pod-0');
    // As kill -9: the pool and the LISTEN connection die, nothing is released.
    await crashed.listener.close();
    await crashed.store.close();
    await crashed.ownership.close();
    const released = ownerBecomes(c!, id, undefined);
    open.push(await replica(url, 'r-pod-0', 3_000));
    await released;
    expect((await c!.store.listTunnelLeases()).filter((l) => l.clusterId === id)).toEqual([]);
  });

  it('counts the other replicas alive with a peer listener, not the row a killed one left behind', async () => {
    const [a, b] = await replicas(2, 300);
    await a!.ownership.advertise('https://127.0.0.1:1');
    await b!.ownership.advertise('https://127.0.0.1:2');
    // As kill -9 leaves it: a row nobody heartbeats any more.
    await a!.store.upsertServerReplica('r-killed', 'https://127.0.0.1:3', FLEET_CHANNEL);
    expect(await a!.ownership.otherReplicas()).toBe(2);
    await expect.poll(() => a!.ownership.otherReplicas(), { timeout: 10_000 }).toBe(1);
    expect(await b!.ownership.otherReplicas()).toBe(1);
  });

  it('delivers bus events to every replica, the publisher included', async () => {
    const rs = await replicas(3);
    const event: FleetEvent = { type: 'credential.revoked', credentialId: 'api-token:abc' };
    const all = Promise.all(rs.map((r) => heard(r, (e) => e.type === 'credential.revoked')));
    await rs[1]!.bus.publish(event);
    expect(await all).toEqual([event, event, event]);
  });

  it('ends the live stream of a console session on another replica when it signs out on one', async () => {
    const [a, c] = await replicas(2);
    await a!.store.insertApiToken({ id: 'tok-console', hash: 'h-console', user: 'carol', groups: ['devs'], expiresAt: null });
    const onA = new ConsoleSessions(a!.store, undefined, undefined, undefined, a!.bus);
    const onC = new ConsoleSessions(c!.store, undefined, undefined, undefined, c!.bus);
    reactToFleetEvents(c!.bus, { closeCluster: async () => 0, endStreams: () => 0, forgetCredentials: () => undefined, endConsoleSession: (h) => onC.ended(h), log });
    const created = await onA.create({ username: 'carol', groups: ['devs'], via: 'api-token', credentialId: 'api-token:tok-console' }, { apiTokenId: 'tok-console' });
    const request = { method: 'GET', headers: { cookie: created.setCookie.split(';')[0]!, host: '127.0.0.1:8443' } };
    await onC.identify(request);
    const stopped = new Promise<void>((resolve) => onC.track(request, resolve));
    expect(await onA.end({ ...request, method: 'DELETE' })).toBe(true);
    await stopped;
    await expect(onC.identify(request)).rejects.toThrow(/unknown, ended or expired/);
  });

  it('stops holding leases while PostgreSQL is down past the TTL, and recovers without a restart when it is back', async () => {
    const [a, b] = await replicas(2, 1_500);
    const id = await cluster(a!.store);
    await a!.ownership.claim(id, 'conn-a', agent);
    const gone = lost(a!, id);
    const back = new Promise<void>((resolve) => {
      const off = b!.listener.onConnect(() => {
        off();
        resolve();
      });
    });
    await postgres.halt();
    try {
      expect(await gone).toMatch(/expired/);
      expect(a!.ownership.holds(id)).toBe(false);
      await expect(a!.ownership.claim(id, 'conn-a2', agent)).rejects.toMatchObject({ code: 'HSR_ERR_LEASE_CLAIM_FAILED' });
    } finally {
      await postgres.resume();
    }
    await back;
    const seen = ownerBecomes(b!, id, a!.id);
    await a!.ownership.claim(id, 'conn-a3', agent);
    expect(a!.ownership.holds(id)).toBe(true);
    await seen;
    await a!.ownership.renew();
    expect(a!.ownership.holds(id)).toBe(true);
  }, 30_000);
});
