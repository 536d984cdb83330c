import { describe, expect, it } from 'vitest';
import { createServer, isServerError, TunnelCloseCodes } from '../src/index.js';
import { openTunnel, registeredAgent, startServer, tempDir } from './support/harness.js';

// A handler without a protocol session, so the endpoint's own close path is what runs.
const bare = { tunnelHandler: { open: () => undefined } };

describe('server lifecycle', () => {
  it('validates the config before any I/O', () => {
    expect(() => createServer({ listen: 'bad' })).toThrow(/config\.listen/);
  });

  it('drains on close: live tunnels get 1001 "server shutting down" and listen() cannot be called again', async () => {
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
