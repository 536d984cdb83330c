import { APPLICATION_WIRE_CODE_BASE, HtnErrorCode, Session, fromWebSocket, isHtnError, splice, type SessionLimits, type SessionRole, type SessionTimings, type TunnelStream, type WebSocketLike } from '@hawser/protocol';
import { PeerResetCodes } from './peer-envelope.js';

/** Where a replica's peer listener takes the peer tunnel's WebSocket. */
export const PEER_TUNNEL_PATH = '/peer/v1/tunnel';
/** Announced in the HELLO of both ends of a peer session. */
export const PEER_CAPABILITY = 'hawser.peer/v1';

/**
 * Limits of a peer session. The OPEN payload carries an agent's request
 * head (at most the agent's maxHeaderSize, 16 KiB by default) plus the
 * envelope, so the header limit is larger than a tunnel's; the buffer
 * budget is a tunnel's, as one peer session carries many clusters' streams.
 */
export const PEER_SESSION_LIMITS: Partial<SessionLimits> = Object.freeze({
  maxHeaderSize: 64 * 1024,
  maxConcurrentStreams: 8192,
  maxBufferedBytes: 256 * 1024 * 1024,
});

/** Options both ends of a peer session share; `timings` only in tests. */
export interface PeerSessionOptions {
  software: string;
  timings?: Partial<SessionTimings>;
}

/** A peer Session on a (possibly still connecting) WebSocket: the dialer is the client, the listener the server. */
export function openPeerSession(ws: WebSocketLike, role: SessionRole, opts: PeerSessionOptions): Session {
  return new Session(fromWebSocket(ws), {
    role,
    software: opts.software,
    capabilities: [PEER_CAPABILITY],
    limits: PEER_SESSION_LIMITS,
    ...(opts.timings ? { timings: opts.timings } : {}),
  });
}

/**
 * Joins a forwarded stream (from the peer session) to the agent's stream,
 * both ways, with the splice rule the relay uses for upgrades; a reset on
 * one side travels to the other with its own wire code, so the forwarder
 * sees the agent's HAG codes and the agent sees the operator's cancel.
 */
export function joinForwarded(peer: TunnelStream, agent: TunnelStream): void {
  // Registered before splice's listeners: the reset goes out with its code, splice's destroy is then a no-op.
  peer.on('error', (err) => passReset(err, agent));
  agent.on('error', (err) => passReset(err, peer, PeerResetCodes.AGENT_GONE));
  splice(peer, agent);
}

function passReset(err: Error, to: TunnelStream, localCode?: number): void {
  if (to.destroyed) return;
  if (isHtnError(err) && err.remote && err.wireCode >= APPLICATION_WIRE_CODE_BASE) {
    to.reset(err.wireCode, err.message.replace(/^HTN_ERR_\w+: stream \d+ reset by peer: /, ''));
  } else if (localCode !== undefined && isHtnError(err) && err.code === HtnErrorCode.STREAM_REFUSED) {
    // The agent did not take the stream (its tunnel is moving or draining):
    // nothing reached the cluster, so the forwarding replica may say retry.
    to.reset(localCode, "the agent's tunnel is moving; the request was not processed");
  } else if (!(isHtnError(err) && err.remote) && localCode !== undefined) {
    // Our side of the agent's tunnel failed (session closed, heartbeat lost).
    to.reset(localCode, "the agent's tunnel closed");
  } else to.destroy();
}
