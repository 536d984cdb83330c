import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { decodeRequestHead, encodeResponseHead, REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { fromWebSocket, Session, type GoAwayInfo, type TunnelStream } from '@hawser/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { httpsJson, openTunnel, registeredAgent, startServer, tempDir, type Harness } from './support/harness.js';
import { cliBuilt, startServerProcess } from './support/server-process.js';

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.allSettled(harnesses.splice(0).map((h) => h.stop()));
});

/** The agent's side, played by the test: every stream it gets is handed to `onStream`. */
interface PlayedAgent {
  session: Session;
  streams: TunnelStream[];
  next(): Promise<{ stream: TunnelStream; target: string }>;
}

/** A server with one connected (test-played) agent and an operator token of the read tier. */
async function drainable(drainTimeout: number): Promise<{ h: Harness; agent: PlayedAgent; token: string; cluster: string; identity: { cert: string; key: string } }> {
  const h = await startServer({ drainTimeout, tierGroups: { read: ['ops'] } });
  harnesses.push(h);
  const cluster = `drain-${harnesses.length}`;
  const registered = await registeredAgent(h, cluster);
  const out = await openTunnel(h, { cert: registered.certificate, key: registered.keyPem });
  if (out.kind !== 'open') throw new Error('tunnel not opened');
  const session = new Session(fromWebSocket(out.ws), { role: 'client', software: 'hawser-agent/test', capabilities: [REQUEST_HEAD_CAPABILITY] });
  const streams: TunnelStream[] = [];
  const waiting: ((s: TunnelStream) => void)[] = [];
  session.on('stream', (s: TunnelStream) => {
    streams.push(s);
    const w = waiting.shift();
    if (w) w(s);
  });
  await session.ready;
  await expect.poll(() => h.server.context.tunnels.session(registered.clusterId)).toBeDefined();
  const minted = await httpsJson<{ token: string }>(`${h.publicUrl}/api/v1/tokens`, { method: 'POST', ca: h.ca, token: h.adminToken, body: { user: 'op', groups: ['ops'] } });
  expect(minted.status).toBe(201);
  let taken = 0;
  const next = async (): Promise<{ stream: TunnelStream; target: string }> => {
    const stream = streams[taken] ?? (await new Promise<TunnelStream>((resolve) => waiting.push(resolve)));
    taken++;
    return { stream, target: decodeRequestHead(stream.openPayload).target };
  };
  return { h, agent: { session, streams, next }, token: minted.body.token, cluster, identity: { cert: registered.certificate, key: registered.keyPem } };
}

/** Starts a relayed GET and resolves with the response once its head is in. */
function relayedGet(h: Harness, token: string, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${h.publicUrl}${path}`, { ca: h.ca, agent: false, headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function body(res: IncomingMessage): Promise<string> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) text += chunk as string;
  return text;
}

function answer(stream: TunnelStream, text: string, contentType = 'text/plain'): void {
  stream.resume();
  stream.write(encodeResponseHead({ v: 1, status: 200, statusText: 'OK', headers: [['content-type', contentType], ['content-length', String(Buffer.byteLength(text))]] }));
  stream.end(text);
}

describe('server drain (SIGTERM)', () => {
  it('takes --drain-timeout as a duration up to 10m, 25 s by default, and refuses anything else as HSR_ERR_CONFIG_INVALID', () => {
    expect(resolveConfig({}).drainTimeoutMs).toBe(25_000);
    expect(resolveConfig({ drainTimeout: '40s' }).drainTimeoutMs).toBe(40_000);
    expect(() => resolveConfig({ drainTimeout: 'soon' })).toThrow(/drainTimeout/);
    expect(() => resolveConfig({ drainTimeout: '11m' })).toThrow(/at most 10m/);
  });

  it('answers /readyz 503 draining at once and new requests 503 with Retry-After and HSR_ERR_SERVER_DRAINING, while an accepted request finishes', async () => {
    const { h, agent, token, cluster } = await drainable(20_000);
    const inFlight = relayedGet(h, token, `/clusters/${cluster}/api/v1/namespaces`);
    const { stream } = await agent.next();
    const stopping = h.server.close();
    await expect.poll(async () => (await httpsJson(`${h.publicUrl}/readyz`, { ca: h.ca })).body).toMatchObject({ ready: false, status: 'draining' });
    const refused = await httpsJson<{ kind: string; code: number; details: { causes: { reason: string }[] } }>(`${h.publicUrl}/clusters/${cluster}/api/v1/pods`, { ca: h.ca, token });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-hawser-error']).toBe('HSR_ERR_SERVER_DRAINING');
    expect(refused.body).toMatchObject({ kind: 'Status', code: 503, details: { causes: [{ reason: 'HSR_ERR_SERVER_DRAINING' }] } });
    // The admin API is refused the same way; only the health endpoints answer.
    expect((await httpsJson(`${h.publicUrl}/api/v1/clusters`, { ca: h.ca, token: h.adminToken })).status).toBe(503);
    answer(stream, 'namespaces');
    const res = await inFlight;
    expect(res.statusCode).toBe(200);
    expect(await body(res)).toBe('namespaces');
    await stopping;
  }, 60_000);

  it('tells the agent to go away with the retry hint and refuses a new tunnel with 503 while draining', async () => {
    const { h, agent, token, cluster, identity } = await drainable(20_000);
    const inFlight = relayedGet(h, token, `/clusters/${cluster}/api`);
    const { stream } = await agent.next();
    const goaway = once(agent.session, 'goaway') as Promise<[GoAwayInfo]>;
    const stopping = h.server.close();
    const [info] = await goaway;
    expect(info).toMatchObject({ retryAfterMs: 1000, message: 'server shutting down' });
    // The agent reconnects through the load balancer; should it land here again, it is told to go elsewhere.
    const again = await openTunnel(h, identity);
    expect(again).toMatchObject({ kind: 'refused', status: 503 });
    expect((again as { body: string }).body).toContain('HSR_ERR_SERVER_DRAINING');
    // A drain's deadline is --drain-timeout, not the 300 ms grace of other
    // server-initiated closes (which once cut every draining tunnel there).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    answer(stream, '{}', 'application/json');
    expect((await inFlight).statusCode).toBe(200);
    expect(await agent.session.closed).toBeUndefined();
    await stopping;
  }, 60_000);

  it('ends a relayed watch cleanly at once: the client reads an ERROR event and the end of the body, not a reset', async () => {
    const { h, agent, token, cluster } = await drainable(20_000);
    const watching = relayedGet(h, token, `/clusters/${cluster}/api/v1/namespaces/default/pods?watch=true`);
    const { stream, target } = await agent.next();
    expect(target).toContain('watch=true');
    stream.resume();
    stream.write(encodeResponseHead({ v: 1, status: 200, statusText: 'OK', headers: [['content-type', 'application/json']] }));
    stream.write('{"type":"ADDED","object":{"kind":"Pod"}}\n');
    const res = await watching;
    const text = body(res);
    stream.on('error', () => {});
    const reset = new Promise((resolve) => stream.once('close', resolve));
    const started = Date.now();
    const stopping = h.server.close();
    const events = (await text).trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'ERROR']);
    expect(res.complete).toBe(true);
    // The agent's side of the watch is cancelled too, so its API server watch ends.
    await reset;
    await stopping;
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);

  it('cuts what is still running at the drain deadline and closes, so a stuck request never holds the shutdown; one with no answer yet gets 503 + Retry-After, not a cut connection', async () => {
    const { h, agent, token, cluster } = await drainable(300);
    const slow = relayedGet(h, token, `/clusters/${cluster}/api/v1/nodes`).catch((err: Error) => err);
    await agent.next();
    const started = Date.now();
    await h.server.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    const outcome = await slow;
    // No head was ever sent, so nothing of the answer reached the client:
    // the relay says retry (a load balancer turns a cut into a 502).
    if (outcome instanceof Error) throw outcome;
    expect(outcome.statusCode).toBe(503);
    expect(outcome.headers['retry-after']).toBeDefined();
    expect(h.logs.lines.some((l) => typeof l.msg === 'string' && /request\(s\) still running at the deadline are cut/.test(l.msg))).toBe(true);
  }, 60_000);

  it.skipIf(!cliBuilt)('hawser server drains on SIGTERM and exits 0; a bad --drain-timeout is refused before anything starts', async () => {
    const dir = tempDir();
    try {
      const bad = startServerProcess(['--data-dir', dir.path, '--drain-timeout', 'later']);
      expect(await bad.exited).not.toBe(0);
      expect(bad.stderr() + bad.stdout()).toMatch(/drainTimeout/);
      const server = startServerProcess(['--data-dir', dir.path, '--drain-timeout', '2s', '--log-format', 'json']);
      await server.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('hawser server listening'));
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      const messages = server.lines().map((l) => l.msg);
      expect(messages).toContain('draining: new requests get 503 with Retry-After');
      expect(messages).toContain('drained: every accepted request finished');
    } finally {
      dir.remove();
    }
  }, 60_000);
});
