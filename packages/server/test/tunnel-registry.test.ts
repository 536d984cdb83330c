import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session, fromWebSocket } from '@hawser/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Metrics } from '../src/audit/metrics.js';
import type { ClusterRecord } from '../src/store/store.js';
import type { TunnelContext } from '../src/tunnel/tunnel-handler.js';
import { TunnelRegistry, type TunnelConnection } from '../src/tunnel/tunnel-registry.js';

const cluster = { id: 'c-1', name: 'one' } as ClusterRecord;

interface Tunnel {
  connection: TunnelConnection;
  agent: Session;
  /** Resolves once the server side's handshake completed. */
  ready: Promise<void>;
}

/**
 * A real WebSocket on 127.0.0.1, admitted the way TunnelEndpoint does it
 * (add, then open), with an agent-side Session on the other end.
 */
async function connect(registry: TunnelRegistry, ready: Map<string, () => void>, wss: WebSocketServer, id: string): Promise<Tunnel> {
  const accepted = new Promise<{ ws: WebSocket; request: IncomingMessage }>((resolve) => wss.once('connection', (ws, request) => resolve({ ws, request })));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const agent = new Session(fromWebSocket(client), { role: 'client', software: 'hawser-agent/test' });
  const { ws, request } = await accepted;
  const connection: TunnelConnection = {
    id,
    clusterId: cluster.id,
    clusterName: cluster.name,
    connectedAt: new Date(),
    remoteAddress: '127.0.0.1',
    certificateFingerprint: 'fp',
    close: async (code, reason) => void ws.close(code, reason),
  };
  const isReady = new Promise<void>((resolve) => ready.set(id, resolve));
  registry.add(connection);
  ws.once('close', () => registry.remove(connection));
  const context = { socket: ws, cluster, request, connectionId: id, log: pino({ level: 'silent' }) } as unknown as TunnelContext;
  registry.open(context);
  return { connection, agent, ready: isReady };
}

describe('the tunnel registry', () => {
  let wss: WebSocketServer | undefined;
  afterEach(() => new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve())));

  it('shows a tunnel to the admin API, the relay and the metrics alike, and a closed session leaves all three at once', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    const ready = new Map<string, () => void>();
    const registry = new TunnelRegistry({ software: 'hawser/test', onReady: (context) => ready.get(context.connectionId)?.() });
    const metrics = new Metrics({ tunnels: registry, clusters: async () => [{ id: cluster.id, name: cluster.name }], version: 'test' });

    const tunnel = await connect(registry, ready, wss, 'conn-1');
    await tunnel.ready;
    const session = registry.session(cluster.id);
    expect(session).toBeDefined();
    expect(registry.isConnected(cluster.id)).toBe(true);
    expect(registry.list().map((c) => c.id)).toEqual(['conn-1']);
    expect(await metrics.render()).toMatch(/^hawser_tunnels(_connected)? 1$/m);
    expect(await metrics.render()).toContain(`hawser_cluster_connected{cluster="${cluster.name}"} 1`);

    // The agent ends the session; the server's session closes and, in the
    // same turn, the tunnel is gone from every view (the WebSocket's own
    // close event has not necessarily arrived yet).
    tunnel.agent.destroy(new Error('agent leaving'));
    await session!.closed;
    expect(registry.session(cluster.id)).toBeUndefined();
    expect(registry.isConnected(cluster.id)).toBe(false);
    expect(registry.list()).toEqual([]);
    expect(registry.size).toBe(0);
    expect(await metrics.render()).toMatch(/^hawser_tunnels(_connected)? 0$/m);
    expect(await metrics.render()).toContain(`hawser_cluster_connected{cluster="${cluster.name}"} 0`);
  });

  it('routes to the newer tunnel of a cluster and drops the superseded one from every view', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    const ready = new Map<string, () => void>();
    const registry = new TunnelRegistry({ software: 'hawser/test', onReady: (context) => ready.get(context.connectionId)?.() });

    const first = await connect(registry, ready, wss, 'conn-1');
    await first.ready;
    const firstSession = registry.session(cluster.id)!;
    const second = await connect(registry, ready, wss, 'conn-2');
    await second.ready;
    await firstSession.closed;
    expect(registry.session(cluster.id)).not.toBe(firstSession);
    expect(registry.list().map((c) => c.id)).toEqual(['conn-2']);
    second.agent.destroy();
    await registry.session(cluster.id)!.closed;
    expect(registry.isConnected(cluster.id)).toBe(false);
  });
});
