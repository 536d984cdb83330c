import type { AddressInfo } from 'node:net';
import { MOVE_CAPABILITY, Session, fromWebSocket, type TunnelStream } from '@hawser/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ClusterRecord } from '../src/store/store.js';
import type { TunnelContext } from '../src/tunnel/tunnel-handler.js';
import { TunnelRegistry } from '../src/tunnel/tunnel-registry.js';
import { LocalOwnership } from '../src/fleet/local-ownership.js';
import type { LeasedAgent, TunnelOwnership } from '../src/fleet/tunnel-ownership.js';

const cluster = { id: 'c-1', name: 'one' } as ClusterRecord;

/** A real WebSocket on 127.0.0.1 admitted as TunnelEndpoint does, with an agent Session; resolves with the agent's close code. */
async function connect(registry: TunnelRegistry, wss: WebSocketServer, id: string, capabilities = ['request-head']): Promise<{ agent: Session; closed: Promise<number>; close(code: number, reason: string): Promise<void> }> {
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const closed = new Promise<number>((resolve) => client.once('close', resolve));
  const agent = new Session(fromWebSocket(client), { role: 'client', software: 'hawser-agent/test', capabilities });
  const ws = await accepted;
  const connection = {
    id,
    clusterId: cluster.id,
    clusterName: cluster.name,
    connectedAt: new Date(),
    remoteAddress: '127.0.0.1',
    certificateFingerprint: 'fp',
    close: async (code: number, reason: string): Promise<void> => void ws.close(code, reason),
  };
  registry.add(connection);
  ws.once('close', () => registry.remove(connection));
  const tunnel = registry.open({ socket: ws, cluster, connectionId: id, log: pino({ level: 'silent' }) } as unknown as TunnelContext);
  // What the endpoint's connection.close does: the registry's own close (drain, lease loss).
  connection.close = async (code: number, reason: string) => tunnel.close(code, reason);
  return { agent, closed, close: async (code, reason) => tunnel.close(code, reason) };
}

/** LocalOwnership whose claims can be refused and whose leases can be taken away, as on PostgreSQL. */
class ScriptedOwnership extends LocalOwnership {
  refuse = false;
  readonly claims: { clusterId: string; connectionId: string; agent: LeasedAgent }[] = [];
  readonly releases: string[] = [];
  readonly #lost = new Set<(clusterId: string, reason: string) => void>();

  override claim(clusterId: string, connectionId: string, agent: LeasedAgent): Promise<number> {
    if (this.refuse) return Promise.reject(new Error('PostgreSQL unreachable'));
    this.claims.push({ clusterId, connectionId, agent });
    return super.claim(clusterId, connectionId, agent);
  }

  override release(clusterId: string, connectionId: string): Promise<void> {
    this.releases.push(connectionId);
    return super.release(clusterId, connectionId);
  }

  override onLost(fn: (clusterId: string, reason: string) => void): () => void {
    this.#lost.add(fn);
    return () => this.#lost.delete(fn);
  }

  lose(clusterId: string): void {
    for (const fn of this.#lost) fn(clusterId, 'taken over by replica r-other');
  }
}

describe('the tunnel registry with leases', () => {
  let wss: WebSocketServer | undefined;
  afterEach(() => new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve())));

  async function setUp(): Promise<{ registry: TunnelRegistry; ownership: ScriptedOwnership; ready: () => Promise<void> }> {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    const ownership = new ScriptedOwnership('r-test');
    const readied: (() => void)[] = [];
    const registry = new TunnelRegistry({ software: 'hawser/test', ownership: ownership as TunnelOwnership, onReady: () => readied.shift()?.() });
    return { registry, ownership, ready: () => new Promise((resolve) => readied.push(resolve)) };
  }

  it('claims the lease with what the agent said in its HELLO once the session is ready, and releases it when the tunnel closes', async () => {
    const { registry, ownership, ready } = await setUp();
    const isReady = ready();
    const { agent, closed } = await connect(registry, wss!, 'conn-1');
    await isReady;
    expect(ownership.claims).toEqual([{ clusterId: 'c-1', connectionId: 'conn-1', agent: { software: 'hawser-agent/test', capabilities: ['request-head'], maxHeaderSize: expect.any(Number) } }]);
    expect(ownership.holds('c-1')).toBe(true);
    agent.destroy();
    await closed;
    await expect.poll(() => ownership.releases).toEqual(['conn-1']);
    expect(ownership.holds('c-1')).toBe(false);
  });

  it('closes the tunnel with 1012 (reconnect at once) when its lease is lost to another replica', async () => {
    const { registry, ownership, ready } = await setUp();
    const isReady = ready();
    const { closed } = await connect(registry, wss!, 'conn-1');
    await isReady;
    ownership.lose('c-1');
    expect(await closed).toBe(1012);
    await expect.poll(() => registry.isConnected('c-1')).toBe(false);
  });

  it('lets a draining tunnel finish its open stream when the lease moves to the agent\'s next tunnel elsewhere', async () => {
    const { registry, ownership, ready } = await setUp();
    const isReady = ready();
    const { agent, closed } = await connect(registry, wss!, 'conn-1');
    await isReady;
    const taken = new Promise<TunnelStream>((resolve) => agent.once('stream', resolve));
    const request = registry.session('c-1')!.openStream(new Uint8Array([1]));
    const agentSide = await taken;
    const drained = registry.closeAll(1001, 'going away');
    // The agent dialed its next tunnel at the GOAWAY; that replica took the lease.
    ownership.lose('c-1');
    const body: Buffer[] = [];
    request.on('data', (d: Buffer) => body.push(d));
    const ended = new Promise((r) => request.once('end', r));
    request.end();
    agentSide.end('finished on the draining tunnel');
    await ended;
    expect(Buffer.concat(body).toString()).toBe('finished on the draining tunnel');
    await drained;
    expect(await closed).toBe(1001);
  });

  it('closes the tunnel with 1012 when the lease cannot be claimed, and never serves it', async () => {
    const { registry, ownership } = await setUp();
    ownership.refuse = true;
    const { closed } = await connect(registry, wss!, 'conn-1');
    expect(await closed).toBe(1012);
    expect(registry.session('c-1')).toBeUndefined();
    expect(ownership.releases).toEqual([]);
  });
});

describe('the tunnel registry when its store fails', () => {
  let wss: WebSocketServer | undefined;
  afterEach(() => new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve())));

  // A rejection nobody handled used to end the whole server process (PostgreSQL restarting under an agent's connect).
  it('closes a tunnel it cannot admit with 1011, so the agent reconnects, and keeps one whose bookkeeping failed', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    const refusing = new TunnelRegistry({ software: 'hawser/test', admit: () => Promise.reject(new Error('connection terminated')) });
    const first = await connect(refusing, wss, 'conn-1');
    expect(await first.closed).toBe(1011);

    let recorded!: () => void;
    const failedBookkeeping = new Promise<void>((resolve) => (recorded = resolve));
    const forgetful = new TunnelRegistry({
      software: 'hawser/test',
      onReady: () => {
        recorded();
        return Promise.reject(new Error('connection terminated'));
      },
    });
    const second = await connect(forgetful, wss, 'conn-2');
    await failedBookkeeping;
    await expect.poll(() => forgetful.session('c-1')).toBeDefined();
    second.agent.destroy();
    await second.closed;
  });
});

describe('the tunnel registry draining a fleet replica (make-before-break)', () => {
  let wss: WebSocketServer | undefined;
  afterEach(() => new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve())));

  async function moving(moveWindowMs: number): Promise<{ registry: TunnelRegistry; agent: Session; closed: Promise<number> }> {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    let readied!: () => void;
    const ready = new Promise<void>((resolve) => (readied = resolve));
    const registry = new TunnelRegistry({ software: 'hawser/test', moveWindowMs, onReady: () => readied() });
    const { agent, closed } = await connect(registry, wss, 'conn-1', ['request-head', MOVE_CAPABILITY]);
    await ready;
    return { registry, agent, closed };
  }

  it('asks an agent that can move to move, keeps relaying on its tunnel until the agent retires it, then is done', async () => {
    const { registry, agent, closed } = await moving(10_000);
    const moved = new Promise((resolve) => agent.once('move', resolve));
    const drained = registry.closeAll(1001, 'server shutting down');
    expect(await moved).toMatchObject({ message: 'server shutting down' });
    // The agent dials its next tunnel elsewhere; meanwhile requests still come through this one.
    const taken = new Promise<TunnelStream>((resolve) => agent.once('stream', resolve));
    const request = registry.session('c-1')!.openStream(new Uint8Array([1]));
    (await taken).end('served while moving');
    const body: Buffer[] = [];
    request.on('data', (d: Buffer) => body.push(d));
    await new Promise((r) => request.once('end', r));
    request.end();
    expect(Buffer.concat(body).toString()).toBe('served while moving');
    // Its next tunnel is up: the agent retires this one.
    await agent.goAway({ message: 'moved to a new session' });
    await drained;
    // The server's side closes the socket, with the drain's code.
    expect(await closed).toBe(1001);
  });

  it('tells an agent that did not move within the window to go away', async () => {
    const { registry, agent } = await moving(200);
    const goaway = new Promise((resolve) => agent.once('goaway', resolve));
    void registry.closeAll(1001, 'server shutting down');
    expect(await goaway).toMatchObject({ message: 'server shutting down', retryAfterMs: 1000 });
  });

  it('sends GOAWAY at once when no other replica is there to move to', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    const alone = Object.assign(new ScriptedOwnership('r-alone'), { otherReplicas: () => Promise.resolve(0) });
    const registry = new TunnelRegistry({ software: 'hawser/test', moveWindowMs: 10_000, ownership: alone as TunnelOwnership });
    const { agent } = await connect(registry, wss, 'conn-1', ['request-head', MOVE_CAPABILITY]);
    await expect.poll(() => registry.session('c-1')).toBeDefined();
    let moved = false;
    agent.once('move', () => (moved = true));
    const goaway = new Promise((resolve) => agent.once('goaway', resolve));
    void registry.closeAll(1001, 'server shutting down');
    await goaway;
    expect(moved).toBe(false);
  });

  it('sends GOAWAY at once to an agent that cannot move', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss!.once('listening', resolve));
    const registry = new TunnelRegistry({ software: 'hawser/test', moveWindowMs: 10_000 });
    const { agent } = await connect(registry, wss, 'conn-1');
    await expect.poll(() => registry.session('c-1')).toBeDefined();
    const started = Date.now();
    const goaway = new Promise((resolve) => agent.once('goaway', resolve));
    void registry.closeAll(1001, 'server shutting down');
    await goaway;
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
