import { appendFileSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeResponseHead, REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { createMemoryTransportPair, Session, type TunnelStream } from '@hawser/protocol';
import { AUDIT_SYNC_MODES, AuditJournal } from '../src/audit/audit-journal.js';
import { resolveConfig } from '../src/config.js';
import { ClusterRelay, type RelayAuditEvent } from '../src/relay/cluster-relay.js';
import { HawserServerError } from '../src/errors.js';
import { RelayAudit, UNKNOWN_OUTCOME } from '../src/audit/relay-audit.js';
import { openStore } from '../src/store/open-store.js';
import { tempDir } from './support/harness.js';
import { cluster } from './support/relay-pair.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const silent = pino({ level: 'silent' });

function dir(): string {
  const d = tempDir('hawser-journal-');
  cleanup.push(() => d.remove());
  return d.path;
}

const event = (requestId: string, status = 200): RelayAuditEvent => ({
  requestId,
  user: 'alice',
  groups: ['ops'],
  tier: 'read',
  cluster: 'prod',
  clusterId: undefined,
  verb: 'get',
  resource: 'pods',
  subresource: '',
  namespace: 'default',
  name: requestId,
  path: `/api/v1/namespaces/default/pods/${requestId}`,
  status,
  bytes: 10,
  durationMs: 1,
  sourceIp: '127.0.0.1',
});

describe('audit journal', () => {
  it('has a begun request on disk when begin() resolves, and a restart after a crash stores it as unknown, plus ended rows and one gap event', async () => {
    const path = join(dir(), 'audit.journal');
    const store = await openStore({ databaseUrl: 'memory://', dataDir: '/nonexistent' });
    cleanup.push(() => store.close());
    const { journal } = await AuditJournal.open(path);
    // Never flushed to the store: the whole record lives in the journal.
    const audit = new RelayAudit(store, silent, journal);
    await audit.begin(event('answered'));
    await audit.begin(event('in-flight'));
    expect(readFileSync(path, 'utf8')).toContain('"in-flight"');
    audit.end(event('answered', 404));
    // A crash: no close, no flush; then a torn line from the last write.
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(path, '{"k":"b","r":{"id":"to');

    const reopened = await AuditJournal.open(path);
    const gaps: Record<string, unknown>[] = [];
    await RelayAudit.replay(store, reopened.replay, silent, async (d) => void gaps.push(d));
    reopened.journal.replayed();
    await reopened.journal.close({ clean: true });
    const rows = await store.listAuditEvents({ type: 'request.relayed' });
    const byName = new Map(rows.map((r) => [r.details.name, r]));
    expect(byName.get('answered')).toMatchObject({ outcome: 'failure', reason: null, details: { status: 404 } });
    expect(byName.get('in-flight')).toMatchObject({ outcome: 'failure', reason: UNKNOWN_OUTCOME, details: { status: null } });
    expect(rows).toHaveLength(2);
    expect(gaps).toEqual([{ unfinished: 1, ended: 1 }]);

    // Replaying again (a crash during the first replay) adds nothing twice.
    const third = await AuditJournal.open(path);
    expect(third.replay.found).toBe(false);
    await third.journal.close({ clean: true });
  }, 60_000);

  for (const sync of AUDIT_SYNC_MODES) {
    it(`group-commits concurrent begins with --audit-sync ${sync}: all resolve, each line in the file by then`, async () => {
      const path = join(dir(), 'audit.journal');
      const { journal } = await AuditJournal.open(path, { sync });
      await Promise.all(Array.from({ length: 200 }, (_, i) => journal.begin({ id: `r${i}`, time: new Date().toISOString() })));
      expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(200);
      await journal.close({ clean: false });
    });
  }

  it('writes an outcome line before any later begin line, and by the end of the turn when no begin comes', async () => {
    const path = join(dir(), 'audit.journal');
    const { journal } = await AuditJournal.open(path);
    const time = new Date().toISOString();
    const kinds = (): string[] => readFileSync(path, 'utf8').trim().split('\n').map((l) => `${(JSON.parse(l) as { k: string }).k}:${(JSON.parse(l) as { r: { id: string } }).r.id}`);
    await journal.begin({ id: 'a', time });
    journal.end({ id: 'a', time });
    await journal.begin({ id: 'b', time });
    expect(kinds()).toEqual(['b:a', 'e:a', 'b:b']);
    journal.end({ id: 'b', time });
    await new Promise((r) => setImmediate(r));
    expect(kinds()).toEqual(['b:a', 'e:a', 'b:b', 'e:b']);
    await journal.close({ clean: false });
  });

  it('refuses begin() with HSR_ERR_AUDIT_UNAVAILABLE once the journal is closed, and keeps what was written', async () => {
    const path = join(dir(), 'audit.journal');
    const { journal } = await AuditJournal.open(path, { sync: 'process' });
    await journal.begin({ id: 'before', time: new Date().toISOString() });
    await journal.close({ clean: false });
    await expect(journal.begin({ id: 'after', time: new Date().toISOString() })).rejects.toMatchObject({ code: 'HSR_ERR_AUDIT_UNAVAILABLE' });
    expect(readFileSync(path, 'utf8')).toContain('"before"');
    expect(readFileSync(path, 'utf8')).not.toContain('"after"');
  });

  it('takes --audit-sync process (the default) or host, and refuses anything else as HSR_ERR_CONFIG_INVALID', () => {
    expect(resolveConfig({}).auditSync).toBe('process');
    expect(resolveConfig({ auditSync: 'host' }).auditSync).toBe('host');
    expect(() => resolveConfig({ auditSync: 'disk' })).toThrow(/auditSync: expected process \| host/);
  });
});

async function relayWith(begin: (e: RelayAuditEvent) => Promise<void>): Promise<{ url: string; streams: TunnelStream[]; audit: RelayAuditEvent[]; server: Session }> {
  const [agentSide, serverSide] = createMemoryTransportPair();
  const agent = new Session(agentSide, { role: 'client', software: 'hawser-agent/test', capabilities: [REQUEST_HEAD_CAPABILITY] });
  const server = new Session(serverSide, { role: 'server', software: 'hawser-server/test' });
  await Promise.all([agent.ready, server.ready]);
  cleanup.push(() => agent.destroy(), () => server.destroy());
  const streams: TunnelStream[] = [];
  agent.on('stream', (s: TunnelStream) => {
    streams.push(s);
    s.resume();
    s.write(encodeResponseHead({ v: 1, status: 200, statusText: 'OK', headers: [['content-length', '2']] }));
    s.end('ok');
  });
  const audit: RelayAuditEvent[] = [];
  const relay = new ClusterRelay({
    authenticate: async () => ({ username: 'alice', groups: ['ops'], via: 'api-token', credentialId: 'api-token:t1' }),
    findCluster: async (name) => (name === cluster.name ? cluster : undefined),
    tunnels: { session: (id) => (id === cluster.id ? server : undefined) },
    authorization: { mode: 'tier', prefix: 'hawser:', tierGroups: { read: ['ops'], triage: [], write: [], maintain: [], admin: [] } },
    audit: (e) => audit.push(e),
    begin,
    log: silent,
  });
  const http: Server = createServer((req, res) => void relay.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => http.close(resolve)));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, streams, audit, server };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: 'Bearer x' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('relay and the durable audit record', () => {
  it('opens no tunnel stream before begin() resolves', async () => {
    let release!: () => void;
    let begun!: () => void;
    const started = new Promise<void>((r) => (begun = r));
    const s = await relayWith(() => {
      begun();
      return new Promise<void>((r) => (release = r));
    });
    const res = get(`${s.url}/clusters/prod/api/v1/namespaces/default/pods/x`);
    await started;
    // The relay is parked in begin(): the server side has opened nothing.
    expect(s.server.streamCount).toBe(0);
    release();
    expect((await res).status).toBe(200);
    expect(s.streams).toHaveLength(1);
  });

  it('answers 503 as a Status, and sends nothing to the cluster, when the record cannot be made durable', async () => {
    const s = await relayWith(async () => {
      throw new HawserServerError('HSR_ERR_AUDIT_UNAVAILABLE', 'audit journal write failed: ENOSPC');
    });
    const res = await get(`${s.url}/clusters/prod/api/v1/namespaces/default/pods/x`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 503 });
    expect(JSON.parse(res.body).message).toContain('could not record this request in its audit trail');
    expect(s.streams).toHaveLength(0);
    expect(s.audit[0]).toMatchObject({ status: 503 });
  });
});
