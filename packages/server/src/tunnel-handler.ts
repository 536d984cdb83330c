import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Logger } from './log.js';
import type { ClusterRecord } from './store.js';

/**
 * WebSocket close codes the server sends to agents. 4000-4999 is the
 * application range; 4403 mirrors HTTP 403 so an agent can tell "stop, you
 * are no longer allowed" from "reconnect later".
 */
export const TunnelCloseCodes = {
  /** Server drain or shutdown: reconnect (elsewhere) with backoff. */
  GOING_AWAY: 1001,
  /** Cluster deregistered or certificate revoked: stop retrying; re-register only with a new token. */
  DEREGISTERED: 4403,
  /** A newer tunnel from the same cluster replaced this one. */
  SUPERSEDED: 4409,
  /** The agent's HELLO had values the server does not store (too long, control characters). */
  METADATA_INVALID: 4400,
  /** The agent reported a cluster uid other than the one recorded for its cluster. */
  CLUSTER_UID_CHANGED: 4412,
} as const;
export type TunnelCloseCode = (typeof TunnelCloseCodes)[keyof typeof TunnelCloseCodes];

/** The reason texts that go with the close codes (WebSocket reasons are at most 123 bytes). */
export const TunnelCloseReasons = {
  GOING_AWAY: 'server shutting down',
  DEREGISTERED: 'cluster deregistered',
  SUPERSEDED: 'superseded by a newer tunnel',
} as const;

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

/** Default handler until the protocol is wired: holds the tunnel open and does nothing. */
export const holdOpenTunnelHandler: TunnelHandler = {
  open(context) {
    context.log.debug('tunnel held open (no protocol handler configured)');
  },
};
