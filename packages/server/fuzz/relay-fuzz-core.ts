/**
 * The relay fuzzer's core: raw HTTP/1.1 bytes into Node's real HTTP parser
 * (an http.Server that never listens, fed in-memory connections), the
 * server's real relayListener / ClusterRelay.handleUpgrade, the real
 * protocol Session pair over the in-memory transport, the agent's real
 * Relay, and a recording stand-in API server reached without sockets
 * (agent/test/support/recording-upstream.ts, startMemoryUpstream).
 *
 * The oracle, checked as each request reaches the stand-in: it carries the
 * request id of exactly one request the server admitted (recorded in the
 * relay's `begin` hook, with the client's method, target and bearer token
 * captured before the relay ran), and arrives with that method and target
 * and with exactly the identity that token's operator and tier map to; no
 * X-Hawser-*, X-Remote-*, client credential or other Impersonate-* header
 * arrives. No response or audit event is a 500, no exception escapes, and
 * every input finishes within a bound.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { Policy, Relay } from '@hawser/agent';
import { REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { createMemoryTransportPair, Session } from '@hawser/protocol';
import { memorySocketPair, startMemoryUpstream, type SeenRequest } from '../../agent/test/support/recording-upstream.js';
import { ClusterRelay, type RelayAuditEvent } from '../src/relay/cluster-relay.js';
import { relayListener } from '../src/relay/relay-listener.js';
import { parseRelayRoute } from '../src/relay/relay-route.js';
import type { ClusterRecord } from '../src/store/store.js';
import { Rng, nextInput } from './relay-inputs.js';

export interface RelayFuzzOptions {
  inputs: number;
  seed: number;
  /** Inputs in flight at once (default 192). */
  concurrency?: number;
  /** Longest one input may take, connection closed included (default 10 s). */
  inputTimeoutMs?: number;
  /** Called every `progressEvery` inputs. */
  progress?: (stats: RelayFuzzStats) => void;
  progressEvery?: number;
}

export interface RelayFuzzStats {
  inputs: number;
  /** Requests Node's parser produced (request and upgrade events). */
  parsed: number;
  upgrades: number;
  /** Inputs Node's parser refused (clientError). */
  parserRefused: number;
  /** Refused by the server before any stream opened (401, 400, 404, 403, 431...). */
  serverRefused: number;
  /** Admitted: a stream opened with a request head. */
  admitted: number;
  /** Reached the stand-in API server (aborted bodies included). */
  forwarded: number;
  /** Admitted, never forwarded, answered 400/403 (the agent's gate or policy). */
  agentRefused: number;
  /** Admitted, never forwarded, ended otherwise (client left, 5xx). */
  admittedOther: number;
  auditByStatus: Record<string, number>;
  seconds: number;
  inputsPerSecond: number;
}

export class RelayFuzzFinding extends Error {
  readonly seed: number;
  readonly index: number | undefined;
  readonly input: string | undefined;
  readonly detail: unknown;

  constructor(what: string, seed: number, index: number | undefined, input: string | undefined, detail: unknown) {
    super(what);
    this.name = 'RelayFuzzFinding';
    this.seed = seed;
    this.index = index;
    this.input = input;
    this.detail = detail;
  }
}

/**
 * How long a connection stays open for answers once its bytes are in when
 * some request on it is still unanswered (a truncated body never will be).
 */
const SETTLE_MS = 60;
const AGENT_TOKEN = 'Bearer agent-sa-token';
/** How the server's OperatorAuthenticator reads a bearer token (auth/operator-authenticator.ts). */
const BEARER = /^Bearer\s+(\S+)\s*$/i;
const REQUEST_ID_HEADER = 'impersonate-extra-hawser.dev%2frequest-id';
const ALLOWED_IMPERSONATE = new Set(['impersonate-user', 'impersonate-group', REQUEST_ID_HEADER]);
/** Independent of the server's authorization code: token -> the identity the API server must see. */
const EXPECTED: Record<string, { user: string; tier: string }> = { mallory: { user: 'mallory', tier: 'read' }, alice: { user: 'alice', tier: 'admin' } };
const OPERATORS: Record<string, { username: string; groups: string[] }> = {
  mallory: { username: 'mallory', groups: ['readers'] },
  alice: { username: 'alice', groups: ['admins'] },
};
const cluster: ClusterRecord = {
  id: 'c-1', name: 'prod', labels: {}, status: 'active', createdAt: new Date(0), deregisteredAt: null,
  lastSeen: null, agentVersion: null, kubernetesVersion: null, clusterUid: null, certificateNotAfter: null, agentMode: null, chartVersion: null,
};

/** What the client sent, captured before the relay sees the request. */
interface ClientRequestContext {
  index: number;
  method: string;
  url: string;
  authorization: string | undefined;
}

interface Admitted {
  index: number;
  method: string;
  target: string;
  user: string;
  tier: string;
  forwarded: boolean;
}

interface Connection {
  index: number;
  parsed: number;
  audited: number;
  onAudit?: () => void;
}

export async function runRelayFuzz(opts: RelayFuzzOptions): Promise<RelayFuzzStats> {
  const concurrency = opts.concurrency ?? 192;
  const inputTimeoutMs = opts.inputTimeoutMs ?? 10_000;
  const rng = new Rng(opts.seed);
  const stats: RelayFuzzStats = {
    inputs: 0, parsed: 0, upgrades: 0, parserRefused: 0, serverRefused: 0, admitted: 0, forwarded: 0,
    agentRefused: 0, admittedOther: 0, auditByStatus: {}, seconds: 0, inputsPerSecond: 0,
  };
  let finding: RelayFuzzFinding | undefined;
  /** The latest inputs: a request may reach the API server after its client has gone. */
  const recent = new Map<number, string>();
  const found = (what: string, index: number | undefined, detail: unknown): void => {
    finding ??= new RelayFuzzFinding(what, opts.seed, index, index === undefined ? undefined : recent.get(index), detail);
  };
  const onUncaught = (err: unknown): void => found('uncaught exception', undefined, err instanceof Error ? err.stack : err);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  const admitted = new Map<string, Admitted>();
  const connections = new Map<string, Connection>();
  const als = new AsyncLocalStorage<ClientRequestContext>();
  const silent = pino({ level: 'silent' });

  // The stand-in API server and the oracle's main check.
  const upstream = await startMemoryUpstream({ keepSeen: false });
  upstream.onSeen = (seen: SeenRequest): void => {
    stats.forwarded++;
    for (const name of Object.keys(seen.headers)) {
      if (name.startsWith('x-hawser-') || name.startsWith('x-remote-')) return found(`an identity header (${name}) reached the API server`, undefined, seen);
      if (name.startsWith('impersonate-') && !ALLOWED_IMPERSONATE.has(name)) return found(`a client impersonation header (${name}) reached the API server`, undefined, seen);
      if (name === 'proxy-authorization') return found('a client credential (proxy-authorization) reached the API server', undefined, seen);
    }
    if (seen.headers.authorization?.join('\n') !== AGENT_TOKEN) return found('a client credential reached the API server', undefined, seen);
    const ids = seen.headers[REQUEST_ID_HEADER];
    if (ids?.length !== 1) return found('a request without exactly one request id reached the API server', undefined, seen);
    const a = admitted.get(ids[0]!);
    if (!a) return found('a request reached the API server that the server never admitted', undefined, seen);
    if (a.forwarded) return found('one admitted request reached the API server twice', a.index, seen);
    a.forwarded = true;
    const expected = { method: a.method, url: a.target, user: [`hawser:${a.user}`], groups: [`hawser:tier:${a.tier}`] };
    const got = { method: seen.method, url: seen.url, user: seen.headers['impersonate-user'], groups: seen.headers['impersonate-group'] };
    if (JSON.stringify(expected) !== JSON.stringify(got)) found('the API server saw another identity, method or target than the server authorized', a.index, { expected, got });
  };

  // The tunnel: the real Session pair on the in-memory transport, the agent's real Relay.
  const [agentSide, serverSide] = createMemoryTransportPair();
  const agentSession = new Session(agentSide, { role: 'client', software: 'hawser-agent/fuzz', capabilities: [REQUEST_HEAD_CAPABILITY] });
  const serverSession = new Session(serverSide, { role: 'server', software: 'hawser-server/fuzz' });
  await Promise.all([agentSession.ready, serverSession.ready]);
  const relay = new Relay({
    target: { url: upstream.url, agent: upstream.agent, authorization: () => AGENT_TOKEN },
    policy: new Policy({ mode: 'full', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: [] }),
    log: silent,
  });
  agentSession.on('stream', (s) => relay.accept(s));
  // The tunnel must outlive every input: one client's bytes ending it is a finding (a denial of service).
  let closing = false;
  for (const [side, session] of [['agent', agentSession], ['server', serverSession]] as const) {
    session.on('close', (err?: Error) => {
      if (!closing) found(`the ${side} tunnel session closed during the run`, undefined, err instanceof Error ? err.stack : err);
    });
  }

  const clusterRelay = new ClusterRelay({
    authenticate: async (authorization) => {
      const who = OPERATORS[BEARER.exec(authorization ?? '')?.[1] ?? ''];
      if (!who) throw new Error('unknown token');
      return { ...who, via: 'api-token', credentialId: `api-token:${who.username}` };
    },
    findCluster: async (name) => (name === cluster.name ? cluster : undefined),
    tunnels: { session: (id) => (id === cluster.id ? serverSession : undefined) },
    authorization: { mode: 'tier', prefix: 'hawser:', tierGroups: { read: ['readers'], triage: [], write: [], maintain: [], admin: ['admins'] } },
    // Called once per admitted request, before its stream opens: what the server authorized.
    begin: async (event) => {
      const ctx = als.getStore();
      if (!ctx) return found('an admitted request has no client request', undefined, event);
      const token = BEARER.exec(ctx.authorization ?? '')?.[1] ?? '';
      const want = EXPECTED[token];
      if (!want || want.user !== event.user || want.tier !== event.tier) {
        return found('the server admitted another identity than the bearer token names', ctx.index, { token, event });
      }
      stats.admitted++;
      admitted.set(event.requestId, { index: ctx.index, method: ctx.method, target: parseRelayRoute(ctx.url).target, user: want.user, tier: want.tier, forwarded: false });
    },
    audit: (e: RelayAuditEvent) => {
      stats.auditByStatus[e.status] = (stats.auditByStatus[e.status] ?? 0) + 1;
      if (e.status === 500) found('the relay answered 500', connections.get(e.sourceIp ?? '')?.index, e);
      // The stand-in answers every complete request at once: a 504 is a request that outlived its client.
      if (e.status === 504) found('a request stayed open until the response timeout', Number(e.sourceIp?.slice(5)), e);
      const a = admitted.get(e.requestId);
      if (!a) stats.serverRefused++;
      else if (a.forwarded) { /* counted as forwarded */ } else if (e.status === 400 || e.status === 403) stats.agentRefused++;
      else stats.admittedOther++;
      const conn = connections.get(e.sourceIp ?? '');
      if (conn) {
        conn.audited++;
        conn.onAudit?.();
      }
    },
    log: silent,
    responseTimeoutMs: 5_000,
  });

  // Node's real HTTP parser, never listening: connections arrive by emit('connection').
  const relayed = relayListener(clusterRelay, silent);
  const conn = (req: IncomingMessage): Connection | undefined => connections.get(req.socket.remoteAddress ?? '');
  const http: Server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    stats.parsed++;
    const c = conn(req);
    if (c) c.parsed++;
    als.run({ index: c?.index ?? -1, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization }, () => relayed(req, res));
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    stats.parsed++;
    stats.upgrades++;
    const c = conn(req);
    if (c) c.parsed++;
    als.run({ index: c?.index ?? -1, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization }, () => {
      clusterRelay.handleUpgrade(req, socket, head).catch((err: unknown) => {
        found('handleUpgrade rejected', c?.index, err instanceof Error ? err.stack : err);
        socket.destroy();
      });
    });
  });
  http.on('clientError', (_err, socket: Duplex) => {
    stats.parserRefused++;
    // Node's default: a 400 when it can, then close.
    if ((socket as Duplex & { writable: boolean }).writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  /** One input on one fresh in-memory connection; resolves once the connection has closed. */
  const runOne = (index: number, input: string, halfClose: boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      const id = `fuzz:${index}`;
      const state: Connection = { index, parsed: 0, audited: 0 };
      connections.set(id, state);
      const [client, end] = memorySocketPair(id);
      let received = '';
      let settleTimer: NodeJS.Timeout | undefined;
      const hang = setTimeout(() => {
        found(`the input did not finish within ${inputTimeoutMs} ms`, index, { parsed: state.parsed, audited: state.audited, received: received.slice(0, 2000) });
        client.destroy();
      }, inputTimeoutMs);
      const finish = (): void => {
        clearTimeout(hang);
        clearTimeout(settleTimer);
        state.onAudit = undefined;
        connections.delete(id);
        if (/(^|\n)HTTP\/1\.[01] 500 /.test(received)) found('a 500 reached the client', index, received.slice(0, 4000));
        resolve();
      };
      client.on('data', (d: Buffer) => (received += d.toString('latin1')));
      client.on('error', () => {});
      client.on('close', finish);
      http.emit('connection', end);
      client.write(input, 'latin1');
      if (halfClose) return void client.end();
      // Keep the connection open until every request Node parsed on it was
      // answered (or a truncated one stalls), then leave.
      const leave = (): void => {
        state.onAudit = undefined;
        clearTimeout(settleTimer);
        if (!client.writableEnded) client.end();
      };
      setImmediate(() => {
        const check = (): void => {
          if (state.audited >= state.parsed) leave();
        };
        state.onAudit = check;
        settleTimer = setTimeout(leave, SETTLE_MS);
        check();
      });
    });

  const started = performance.now();
  let next = 0;
  let previous = '';
  const worker = async (): Promise<void> => {
    while (!finding && next < opts.inputs) {
      const index = next++;
      const input = nextInput(rng, previous);
      const halfClose = rng.next() < 0.15;
      previous = input;
      recent.set(index, input);
      recent.delete(index - 20_000);
      await runOne(index, input, halfClose);
      stats.inputs++;
      if (opts.progress && stats.inputs % (opts.progressEvery ?? 100_000) === 0) {
        stats.seconds = (performance.now() - started) / 1000;
        stats.inputsPerSecond = Math.round(stats.inputs / stats.seconds);
        opts.progress(stats);
      }
      // Admitted requests long finished are forgotten (a late arrival for one would be a finding, loudly).
      if (index % 10_000 === 0) for (const [rid, a] of admitted) if (a.index < index - 20_000) admitted.delete(rid);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
    // Let stragglers (an aborted body reported late) reach the oracle.
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    stats.seconds = (performance.now() - started) / 1000;
    stats.inputsPerSecond = Math.round(stats.inputs / stats.seconds);
    closing = true;
    await relay.close();
    agentSession.destroy();
    serverSession.destroy();
    http.closeAllConnections();
    // An upgraded loopback connection may still be open; do not wait on it.
    await Promise.race([upstream.close(), new Promise((resolve) => setTimeout(resolve, 500))]);
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  if (finding) throw finding;
  return stats;
}
