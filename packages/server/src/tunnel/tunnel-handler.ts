import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
// The close codes a tunnel ends with are part of the agent contract.
export { TunnelCloseCodes, TunnelCloseReasons } from '@hawser/contract';
export type { TunnelCloseCode } from '@hawser/contract';
import type { Logger } from '../log.js';
import type { ClusterRecord } from '../store/store.js';

/** The verified client certificate a tunnel was opened with. */
export interface PeerCertificateInfo {
  /** Lower-case hex, no leading zeros. */
  readonly serial: string;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprint: string;
  /** Subject CN: the cluster id. */
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** What a TunnelHandler receives for each accepted agent WebSocket. */
export interface TunnelContext {
  /** The upgraded WebSocket (binary frames; ws answers pings by itself). */
  readonly socket: WebSocket;
  /** The cluster, active at accept time. */
  readonly cluster: ClusterRecord;
  readonly certificate: PeerCertificateInfo;
  /** The HTTP upgrade request (headers such as User-Agent, remote address). */
  readonly request: IncomingMessage;
  /** Unique per connection; appears in logs and the registry. */
  readonly connectionId: string;
  /** Child logger tagged with cluster and connection. */
  readonly log: Logger;
}

/**
 * A live protocol session on a tunnel. When present, `close` is used for
 * server-initiated closes (deregistration, drain) so the protocol can send
 * its own "go away" before the WebSocket closes; it must end with the
 * WebSocket closed with the given code and reason.
 */
export interface TunnelSession {
  close(code: number, reason: string): void | Promise<void>;
}

/**
 * The seam the tunnel protocol plugs into: called once per accepted agent
 * WebSocket, after mTLS, revocation and cluster checks passed and the
 * connection is in the TunnelRegistry. Returning nothing leaves closing to
 * the WebSocket itself.
 */
export interface TunnelHandler {
  open(context: TunnelContext): TunnelSession | void | Promise<TunnelSession | void>;
}
