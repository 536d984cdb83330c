import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeResponseHead } from '@hawser/contract';
import type { TunnelStream } from '@hawser/protocol';
import { ClusterRelay } from '../src/relay/cluster-relay.js';
import { cluster, getAs, operators, startRelayPair, type Answer } from './support/relay-pair.js';

/**
 * What kubectl reads from the relay's own answers: a complete Status with
 * the reason client libraries match on, Retry-After only when a reconnect is
 * due, the sentence as a Warning on discovery, and a watch that says why it
 * ended.
 */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const get = (port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> => getAs(port, path, 'alice', headers);

/** A relay for a cluster with no live tunnel; `lostAt` is when its last one closed. */
async function disconnected(lostAt: number | undefined): Promise<number> {
  const relay = new ClusterRelay({
    authenticate: async (authorization) => {
      const who = operators[authorization?.replace(/^Bearer /, '') ?? ''];
      if (!who) throw new Error('unknown token');
      return { ...who, via: 'api-token', credentialId: `api-token:${who.username}` };
    },
    findCluster: async (name) => (name === cluster.name ? cluster : undefined),
    tunnels: { session: () => undefined, lastLost: () => lostAt },
    authorization: { mode: 'tier', prefix: 'hawser:', tierGroups: { read: ['readers'], triage: [], write: [], maintain: [], admin: ['admins'] } },
    audit: () => {},
    log: pino({ level: 'silent' }),
  });
  const http: Server = createServer((req, res) => void relay.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => http.close(resolve)));
  return (http.address() as AddressInfo).port;
}

const PODS = '/clusters/prod/api/v1/namespaces/default/pods';

describe('the relay answers kubectl with complete Status objects', () => {
  it('fails fast, without Retry-After, for a cluster that never connected', async () => {
    const res = await get(await disconnected(undefined), PODS);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(res.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'cluster "prod" is not connected (never connected)',
      reason: 'ServiceUnavailable',
      details: { name: 'prod', causes: [{ reason: 'HSR_ERR_CLUSTER_NOT_CONNECTED', message: 'cluster "prod" is not connected (never connected)' }] },
      code: 503,
    });
  });

  it('says retry (Retry-After) only while a lost tunnel is expected back', async () => {
    const recent = await get(await disconnected(Date.now() - 1_000), PODS);
    expect(recent.status).toBe(503);
    expect(recent.headers['retry-after']).toBe('5');
    expect(JSON.parse(recent.body).message).toBe('cluster "prod" is not connected (never connected); its agent is expected to reconnect shortly');
    const long = await get(await disconnected(Date.now() - 60_000), PODS);
    expect(long.headers['retry-after']).toBeUndefined();
  });

  it('sends the sentence as a Warning header on discovery, whose errors client-go reads without their Status', async () => {
    const port = await disconnected(undefined);
    for (const path of ['/api', '/apis', '/api/v1', '/apis/apps/v1']) {
      const res = await get(port, `/clusters/prod${path}`);
      expect(res.headers.warning, path).toBe('299 - "cluster \\"prod\\" is not connected (never connected)"');
    }
    expect((await get(port, PODS)).headers.warning).toBeUndefined();
  });

  it('refuses client impersonation with 400, naming whom the request would have run as', async () => {
    const res = await get(await disconnected(undefined), PODS, { 'impersonate-user': 'system:admin', 'impersonate-group': 'system:masters', 'impersonate-extra-scopes': 'x' });
    expect(res.status).toBe(400);
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_IMPERSONATION_REFUSED');
    expect(JSON.parse(res.body)).toMatchObject({
      kind: 'Status',
      reason: 'BadRequest',
      code: 400,
      message:
        'Hawser does not pass client impersonation (Impersonate-User, Impersonate-Group, Impersonate-Extra-*; kubectl --as/--as-group/--as-uid): this request would have run as "hawser:alice" in groups hawser:tier:admin',
    });
  });

  /** A watch whose agent answers with `type`, sends `first`, and resets the stream once the client has it. */
  async function resetWatch(type: string, first: string): Promise<Answer> {
    let agentStream!: TunnelStream;
    const p = await startRelayPair(cleanup, {
      onStream: (s: TunnelStream) => {
        agentStream = s;
        s.resume();
        s.write(encodeResponseHead({ v: 1, status: 200, statusText: 'OK', headers: [['content-type', type]] }));
        s.write(first);
      },
    });
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: p.port, path: `${PODS}?watch=true`, headers: { authorization: 'Bearer alice' }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (!body) agentStream.destroy(new Error('upstream gone'));
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('ends a JSON watch the agent resets with an ERROR event whose object is a Status', async () => {
    const res = await resetWatch('application/json', '{"type":"ADDED","object":{"kind":"Pod"}}\n');
    expect(res.status).toBe(200);
    const lines = res.body.trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: Record<string, unknown> });
    expect(lines).toHaveLength(2);
    const message = 'the agent of cluster "prod" reset the watch stream; the watch ended';
    expect(lines[1]).toEqual({
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'ServiceUnavailable',
        details: { name: 'prod', causes: [{ reason: 'HSR_ERR_RELAY_TUNNEL_LOST', message }] },
        code: 503,
      },
    });
  });

  it('just ends a protobuf watch the agent resets', async () => {
    const res = await resetWatch('application/vnd.kubernetes.protobuf;stream=watch', 'frame');
    expect(res.body).toBe('frame');
  });
});
