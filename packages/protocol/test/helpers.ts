import { createMemoryTransportPair, Session } from '../src/index.js';
import type { MemoryTransport, MemoryTransportOptions, SessionOptions, TunnelStream } from '../src/index.js';
import type { Readable } from 'node:stream';

export interface Pair {
  client: Session;
  server: Session;
  clientTransport: MemoryTransport;
  serverTransport: MemoryTransport;
}

type Overrides = Partial<Omit<SessionOptions, 'role'>>;

/** A client (agent role) and a server session over an in-memory pair. */
export function createSessionPair(client: Overrides = {}, server: Overrides = {}, transport: MemoryTransportOptions = {}): Pair {
  const [clientTransport, serverTransport] = createMemoryTransportPair(transport);
  return {
    client: new Session(clientTransport, { software: 'hawser-agent/test', ...client, role: 'client' }),
    server: new Session(serverTransport, { software: 'hawser-server/test', ...server, role: 'server' }),
    clientTransport,
    serverTransport,
  };
}

export async function readyPair(client: Overrides = {}, server: Overrides = {}, transport: MemoryTransportOptions = {}): Promise<Pair> {
  const pair = createSessionPair(client, server, transport);
  await Promise.all([pair.client.ready, pair.server.ready]);
  return pair;
}

export function nextStream(session: Session): Promise<TunnelStream> {
  return new Promise((resolve) => session.once('stream', resolve));
}

/** Read to 'end' without destroying the stream (for-await would destroy a half-open Duplex). */
export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

export function closePair(pair: Pair): void {
  pair.client.destroy();
  pair.server.destroy();
}

export { until } from '../../../test/support/eventually.js';

/**
 * A later positive event that proves earlier DATA has arrived: a probe
 * stream's byte and FIN cross after every DATA frame the client had
 * already handed to its transport. For "no more than X arrived" checks,
 * which would pass if nothing had arrived yet.
 */
export async function barrier(pair: Pair): Promise<void> {
  const accepted = nextStream(pair.server);
  pair.client.openStream('barrier').end('x');
  const remote = await accepted;
  await readAll(remote);
  remote.end();
}

/** Deterministic pseudo-random bytes. */
export function patternBytes(n: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}
