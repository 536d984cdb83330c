import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ERROR_CODE_HEADER } from '@hawser/contract';
import { HtnErrorCode, isHtnError, type Session, type TunnelStream } from '@hawser/protocol';
import { WebSocketServer } from 'ws';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import type { KeyedCertificate } from '../registration/certificate-authority.js';
import { decodeEnvelope, PeerResetCodes } from './peer-envelope.js';
import { joinForwarded, openPeerSession, PEER_TUNNEL_PATH, type PeerSessionOptions } from './peer-session.js';
import { authenticatedReplica, type ReplicaIdentity } from './replica-certificate.js';
import type { TunnelOwnership } from './tunnel-ownership.js';

export interface PeerListenerOptions extends PeerSessionOptions {
  identity: ReplicaIdentity;
  /** The CA bundle a replica's client certificate must chain to (read again at each renewal). */
  trust: () => readonly string[];
  /** Fencing: only a replica that holds the lease serves a forwarded stream. */
  ownership: Pick<TunnelOwnership, 'replicaId' | 'holds' | 'owner'>;
  /** This replica's agent tunnels (the tunnel registry). */
  tunnels: { session(clusterId: string): Session | undefined };
  log: Logger;
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${ERROR_CODE_HEADER}: ${code}\r\n\r\n${body}`,
  );
}

/**
 * The replica-to-replica listener (`--peer-listen`): HTTPS that demands a
 * client certificate from our CA (an untrusted one fails the handshake),
 * takes `GET /peer/v1/tunnel` from a replica certificate only (an agent's
 * gets 403), and runs a protocol Session on the WebSocket. The dialing
 * replica opens one stream per forwarded request; this side checks the
 * lease (fencing) and its own agent tunnel, then joins the stream to a new
 * stream on the agent's session. Admission, authorization and audit
 * already happened on the dialing replica: this side only moves bytes.
 */
export class PeerListener {
  readonly #o: PeerListenerOptions;
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  readonly #sessions = new Set<Session>();
  readonly #unrenew: () => void;

  constructor(options: PeerListenerOptions) {
    this.#o = options;
    this.#server = createServer({ ...this.#tls(options.identity.current), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) =>
      this.#plain(req, res),
    );
    this.#unrenew = options.identity.onRenew((cert) => this.#server.setSecureContext(this.#tls(cert)));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    // A failed handshake (untrusted CA, no certificate) is the expected refusal, not an error to crash on.
    this.#server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      options.log.warn({ err: err.message, sourceIp: socket.remoteAddress }, 'peer connection refused during the TLS handshake');
    });
  }

  #tls(cert: KeyedCertificate): { key: string; cert: string; ca: string[] } {
    return { key: cert.keyPem, cert: cert.certPem, ca: [...this.#o.trust()] };
  }

  /** Binds; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /** Live peer sessions (replicas that dialed us). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  #plain(_req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(404, { 'content-type': 'application/json', [ERROR_CODE_HEADER]: ErrorCodes.ROUTE_NOT_FOUND });
    res.end(JSON.stringify({ error: { code: ErrorCodes.ROUTE_NOT_FOUND, message: `only ${PEER_TUNNEL_PATH} (WebSocket) is served here` } }));
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== PEER_TUNNEL_PATH) return refuse(socket, 404, ErrorCodes.ROUTE_NOT_FOUND, `no WebSocket endpoint at ${path}`);
    const replica = authenticatedReplica(socket as TLSSocket, 'client');
    if (!replica) {
      this.#o.log.warn({ sourceIp: req.socket.remoteAddress }, 'peer tunnel refused: not a replica certificate');
      return refuse(socket, 403, ErrorCodes.PEER_CERTIFICATE_REFUSED, 'the peer listener takes replica certificates of this fleet only');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // Wrapped in the same tick: the dialer's HELLO may already be here.
      const session = openPeerSession(ws, 'server', this.#o);
      const log = this.#o.log.child({ peerReplica: replica });
      this.#sessions.add(session);
      session.on('stream', (stream: TunnelStream) => this.#forward(stream, log));
      void session.ready.then(() => log.info('peer session ready'), () => undefined);
      void session.closed.then((err) => {
        this.#sessions.delete(session);
        log.info({ err: err?.message }, 'peer session closed');
      });
    });
  }

  #forward(stream: TunnelStream, log: Logger): void {
    let envelope: ReturnType<typeof decodeEnvelope>;
    try {
      envelope = decodeEnvelope(stream.openPayload);
    } catch (err) {
      return void stream.reset(PeerResetCodes.ENVELOPE_INVALID, (err as Error).message);
    }
    const { clusterId, epoch, inner } = envelope;
    // Fencing: a replica that lost the lease never serves as the owner, and
    // a forwarder that saw a newer claim than ours is not served by us.
    const lease = this.#o.ownership.owner(clusterId);
    if (!this.#o.ownership.holds(clusterId) || (lease?.replicaId === this.#o.ownership.replicaId && epoch > lease.epoch)) {
      log.info({ clusterId, epoch, leaseEpoch: lease?.epoch }, 'forwarded stream refused: not the owner');
      return void stream.reset(PeerResetCodes.NOT_OWNER, `replica ${this.#o.ownership.replicaId} does not hold the tunnel`);
    }
    const agent = this.#o.tunnels.session(clusterId);
    if (!agent || agent.isClosed || agent.draining) {
      return void stream.reset(PeerResetCodes.AGENT_GONE, 'the agent tunnel is gone or draining');
    }
    let upstream: TunnelStream;
    try {
      upstream = agent.openStream(inner);
    } catch (err) {
      const busy = isHtnError(err) && err.code === HtnErrorCode.STREAM_LIMIT;
      return void stream.reset(busy ? PeerResetCodes.AGENT_BUSY : PeerResetCodes.AGENT_GONE, (err as Error).message.slice(0, 200));
    }
    joinForwarded(stream, upstream);
  }

  /** Drain: peers open no new streams; open ones get `timeoutMs` (default: the session's drain deadline). */
  async close(timeoutMs?: number): Promise<void> {
    this.#unrenew();
    const closing = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([...this.#sessions].map((s) => s.goAway({ message: 'replica draining', ...(timeoutMs !== undefined ? { timeoutMs } : {}) })));
    this.#server.closeAllConnections();
    await closing;
  }

  /** Abort: every peer session and connection at once. */
  destroy(): void {
    this.#unrenew();
    for (const s of this.#sessions) s.destroy(new Error('replica stopped'));
    this.#server.closeAllConnections();
    this.#server.close();
  }
}
