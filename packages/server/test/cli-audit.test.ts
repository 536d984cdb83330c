import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditRetention } from '../src/audit/audit-retention.js';
import { resolveConfig } from '../src/config.js';
import { migrate } from '../src/store/migrations.js';
import { openStore } from '../src/store/open-store.js';
import { openPgliteDriver } from '../src/store/pglite-driver.js';
import { SqlStore } from '../src/store/sql-store.js';
import type { AuditEventRecord, Store } from '../src/store/store.js';
import { runCli } from './support/cli-run.js';
import { httpsJson, startServer } from './support/harness.js';
import type { Harness } from './support/harness.js';

function event(type: string, time: Date, extra: Partial<AuditEventRecord> = {}): AuditEventRecord {
  return { id: randomUUID(), time, type, actor: 'test', clusterId: null, requestId: null, sourceIp: null, outcome: 'success', reason: null, details: {}, ...extra };
}

interface Page {
  events: { id: string; type: string; time: string; clusterId: string | null; actor: string }[];
  truncated: boolean;
  olderThanSince: string | null;
}

describe('hawser audit', () => {
  let h: Harness;
  let global: string[];
  const audit = async (args: string[]) => {
    const out = await runCli(['audit', ...args, '-o', 'json', ...global]);
    expect(out.code, out.stderr).toBe(0);
    return { page: JSON.parse(out.stdout) as Page, stderr: out.stderr };
  };
  beforeAll(async () => {
    h = await startServer();
    global = ['--server', h.publicUrl, '--data-dir', h.dataDir];
  }, 60_000);
  afterAll(async () => h?.stop());

  it('--cluster NAME shows the active cluster of that name, not a deregistered namesake', async () => {
    const first = await runCli(['cluster', 'add', 'twin', '-o', 'json', ...global]);
    const oldId = (JSON.parse(first.stdout) as { cluster: { id: string } }).cluster.id;
    expect((await runCli(['cluster', 'rm', 'twin', ...global])).code).toBe(0);
    const second = await runCli(['cluster', 'add', 'twin', '-o', 'json', ...global]);
    const newId = (JSON.parse(second.stdout) as { cluster: { id: string } }).cluster.id;
    const { page } = await audit(['--cluster', 'twin']);
    expect(page.events.length).toBeGreaterThan(0);
    expect(new Set(page.events.map((e) => e.clusterId))).toEqual(new Set([newId]));
    // The deregistered one stays reachable by its id.
    const old = await audit(['--cluster', oldId]);
    expect(old.page.events.map((e) => e.type)).toContain('cluster.removed');
    expect(new Set(old.page.events.map((e) => e.clusterId))).toEqual(new Set([oldId]));
  });

  it('an unknown --cluster is an error, not an empty list', async () => {
    const out = await runCli(['audit', '--cluster', 'nobody', ...global]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('(HSR_ERR_CLUSTER_NOT_FOUND)');
  });

  it('--limit N keeps the NEWEST N events, in time order, and says that older ones were left out', async () => {
    const base = Date.now() - 60_000;
    const rows = [0, 1, 2, 3, 4].map((i) => event('audit.gap', new Date(base + i * 1000), { actor: 'limit-test', details: { i } }));
    await h.server.context.store.insertAuditEvents(rows);
    const { page, stderr } = await audit(['--user', 'limit-test', '--limit', '2']);
    expect(page.events.map((e) => e.id)).toEqual([rows[3]!.id, rows[4]!.id]);
    expect(page.truncated).toBe(true);
    expect(stderr).toContain('showing the newest 2 matching events; older ones exist');
    const all = await audit(['--user', 'limit-test']);
    expect(all.page.truncated).toBe(false);
    expect(all.stderr).toBe('');
  });

  it('searches every age by default, and says when --since left events out', async () => {
    const old = event('audit.gap', new Date(Date.now() - 3 * 3_600_000), { actor: 'window-test' });
    await h.server.context.store.insertAuditEvents([old]);
    const byDefault = await audit(['--user', 'window-test']);
    expect(byDefault.page.events.map((e) => e.id)).toEqual([old.id]);
    const windowed = await runCli(['audit', '--user', 'window-test', '--since', '1h', ...global]);
    expect(windowed.code).toBe(0);
    expect(windowed.stdout).toBe('No audit events match.\n');
    expect(windowed.stderr).toBe(`hawser: events before --since 1h were left out (the newest of them at ${old.time.toISOString()}); widen --since to see them\n`);
  });

  it('refuses unknown --type values in the CLI (with a suggestion) and in the API', async () => {
    const out = await runCli(['audit', '--type', 'request.relayd', ...global]);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe('hawser: unknown audit event type "request.relayd" (--type); did you mean request.relayed? (HSR_ERR_CLI_USAGE)\n');
    const api = await httpsJson(`${h.publicUrl}/api/v1/audit?type=nope`, { ca: h.ca, token: h.adminToken });
    expect(api.status).toBe(400);
    expect(JSON.stringify(api.body)).toContain('unknown audit event type');
  });

  it('-o wide adds cluster id, request id and source IP', async () => {
    const out = await runCli(['audit', '--cluster', 'twin', '-o', 'wide', ...global]);
    expect(out.stdout.split('\n')[0]).toMatch(/^TIME\s+TYPE\s+ACTOR\s+OUTCOME\s+CLUSTER ID\s+REQUEST ID\s+SOURCE IP\s+DETAIL$/);
  });
});

describe('audit retention', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore({ databaseUrl: 'memory://', dataDir: '/nonexistent' });
  }, 60_000);
  afterAll(async () => store?.close());

  it('defaults to 90 days, is configurable, and refuses less than an hour', () => {
    expect(resolveConfig().auditRetentionMs).toBe(90 * 86_400_000);
    expect(resolveConfig({ auditRetention: '30d' }).auditRetentionMs).toBe(30 * 86_400_000);
    expect(() => resolveConfig({ auditRetention: '5m' })).toThrow(/config\.auditRetention: expected a duration of at least 1h/);
  });

  it('deletes events older than the retention at start and then every interval, in batches, keeping newer ones', async () => {
    const now = Date.now();
    let clock = now;
    const day = 86_400_000;
    const old = Array.from({ length: 250 }, (_, i) => event('audit.gap', new Date(now - 100 * day - i), { actor: 'old' }));
    const kept = event('audit.gap', new Date(now - 10 * day), { actor: 'kept' });
    await store.insertAuditEvents([...old, kept]);
    const logs: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
    const retention = new AuditRetention({ store, retentionMs: 90 * day, log, intervalMs: 20, batch: 100, now: () => clock });
    retention.start();
    await expect.poll(async () => (await store.listNewestAuditEvents({ actor: 'old', limit: 1 })).length, { timeout: 20_000 }).toBe(0);
    expect((await store.listNewestAuditEvents({ actor: 'kept' })).map((e) => e.id)).toEqual([kept.id]);
    // Three batches (100, 100, 50) in one pass, logged once.
    expect(logs.some((l) => l.includes('"deleted":250'))).toBe(true);
    // 81 days on, the kept event is 91 days old: the next interval deletes it.
    clock = now + 81 * day;
    await expect.poll(async () => (await store.listNewestAuditEvents({ actor: 'kept' })).length, { timeout: 5_000 }).toBe(0);
    await retention.close();
  });

  it('keeps the embedded table from growing: the space of pruned rows is reused (PGlite runs no autovacuum)', async () => {
    const driver = await openPgliteDriver(undefined);
    await migrate(driver);
    const pglite = new SqlStore(driver);
    const size = async () => Number((await driver.query<{ n: string }>(`SELECT pg_total_relation_size('audit_events') AS n`))[0]!.n);
    const day = 86_400_000;
    let clock = 0;
    const retention = new AuditRetention({ store: pglite, retentionMs: day, log: pino({ level: 'silent' }), intervalMs: 3_600_000, now: () => clock });
    const sizes: number[] = [];
    for (let round = 0; round < 4; round++) {
      clock = (round + 1) * 10 * day;
      const rows = Array.from({ length: 2000 }, (_, i) => event('audit.gap', new Date(clock - 2 * day + i), { details: { path: '/api/v1/namespaces/payments/pods', i } }));
      for (let i = 0; i < rows.length; i += 500) await pglite.insertAuditEvents(rows.slice(i, i + 500));
      clock += 5 * day;
      expect(await retention.prune()).toBe(2000);
      sizes.push(await size());
    }
    // Without the VACUUM after each pass the table grew by the same amount every round.
    expect(sizes[3]!).toBeLessThanOrEqual(sizes[1]! * 1.2);
    await retention.close();
    await pglite.close();
  }, 60_000);
});
