import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { fromWebSocket, Session, type GoAwayInfo, type TunnelStream } from '@hawser/protocol';
import { describe, expect, it } from 'vitest';
import { createServer, isServerError, TunnelCloseCodes } from '../src/index.js';
import type { TunnelRegistry } from '../src/tunnel/tunnel-registry.js';
import { openTunnel, registeredAgent, startServer, tempDir } from './support/harness.js';

// A handler without a protocol session, so the endpoint's own close path is what runs.
const bare = { tunnelHandler: { open: () => undefined } };

describe('server lifecycle', () => {
  it('validates the config before any I/O', () => {
    expect(() => createServer({ listen: 'bad' })).toThrow(/config\.listen/);
  });

  it('drains on close through the protocol session: GOAWAY with the retry hint, the open stream finishes, then 1001', async () => {
    // The production tunnel handler, so the real Session drain runs on the
    // server; the test plays the agent with a real client Session on the WebSocket.
    const h = await startServer({}, { tunnelCloseGraceMs: 20_000 });
    const directory: TunnelRegistry = h.server.context.tunnels;
    const agent = await registeredAgent(h, 'life-session-drain');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    if (out.kind !== 'open') throw new Error('tunnel not opened');
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      out.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const client = new Session(fromWebSocket(out.ws), { role: 'client', software: 'hawser-agent/test' });
    await client.ready;
    await expect.poll(() => directory.session(agent.clusterId)).toBeDefined();

    // A request in flight: the server opened a stream, the agent has not answered.
    const incoming = once(client, 'stream') as Promise<[TunnelStream]>;
    const upstream = directory.session(agent.clusterId)!.openStream('GET /api');
    upstream.end('request body');
    const [downstream] = await incoming;
    expect((await readAll(downstream)).toString()).toBe('request body');
    const answered = readAll(upstream);

    const goaway = once(client, 'goaway') as Promise<[GoAwayInfo]>;
    const stopping = h.stop();
    const [info] = await goaway;
    expect(info).toMatchObject({ retryAfterMs: 1000, message: 'server shutting down' });
    expect(out.ws.readyState).toBe(out.ws.OPEN);
    // Draining: the open stream still carries its answer to the end.
    downstream.end('answer after goaway');
    expect((await answered).toString()).toBe('answer after goaway');
    expect(await closed).toEqual({ code: TunnelCloseCodes.GOING_AWAY, reason: 'server shutting down' });
    expect(await client.closed).toBeUndefined();
    await stopping;
    await expect(h.server.listen()).rejects.toSatisfy((err) => isServerError(err, 'HSR_ERR_SERVER_CLOSED'));
  }, 60_000);

  it('without a protocol session, drains on close: live tunnels get 1001 "server shutting down" and listen() cannot be called again', async () => {
    const h = await startServer({}, bare);
    const agent = await registeredAgent(h, 'life-drain');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    if (out.kind !== 'open') throw new Error('tunnel not opened');
    await expect.poll(() => h.server.context.tunnels.isConnected(agent.clusterId)).toBe(true);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      out.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await h.stop();
    expect(await closed).toEqual({ code: TunnelCloseCodes.GOING_AWAY, reason: 'server shutting down' });
    await expect(h.server.listen()).rejects.toSatisfy((err) => isServerError(err, 'HSR_ERR_SERVER_CLOSED'));
  }, 60_000);

  it('aborts on destroy: tunnels are cut at once', async () => {
    const dir = tempDir();
    const h = await startServer({ dataDir: dir.path }, bare);
    try {
      const agent = await registeredAgent(h, 'life-destroy');
      const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
      if (out.kind !== 'open') throw new Error('tunnel not opened');
      await expect.poll(() => h.server.context.tunnels.isConnected(agent.clusterId)).toBe(true);
      const closed = new Promise<number>((resolve) => out.ws.once('close', (code) => resolve(code)));
      await h.server.destroy(new Error('test abort'));
      // 1006: the socket went away without a close frame.
      expect(await closed).toBe(1006);
      expect(h.logs.lines.some((l) => l.msg === 'hawser server destroyed')).toBe(true);
    } finally {
      dir.remove();
    }
  }, 60_000);
});

/** Read to 'end' without destroying the stream. */
function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}
