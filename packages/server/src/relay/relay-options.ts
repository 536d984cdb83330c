import type { TunnelStream } from '@hawser/protocol';
import type { AuthorizationConfig, OperatorIdentity } from '../auth/authorization.js';
import type { Logger } from '../log.js';
import type { ClusterRecord } from '../store/store.js';

/**
 * What the relay needs of a cluster's tunnel: the agent's protocol Session
 * when this replica holds it, or a peer tunnel that forwards to the replica
 * that does (fleet/fleet-directory.ts). A Session satisfies it.
 */
export interface RelayTunnel {
  readonly isClosed: boolean;
  readonly draining: boolean;
  /** The agent's HELLO (software, capabilities, settings), as far as the relay reads it. */
  readonly peer:
    | { readonly software: string; readonly capabilities: readonly string[]; readonly settings: { readonly maxHeaderSize: number } }
    | undefined;
  openStream(payload: Uint8Array): TunnelStream;
  /** Set on a forwarded tunnel: the replica that holds the agent's tunnel. */
  readonly forwardedTo?: string;
}

/** Where live tunnels are found by cluster id. */
export interface TunnelDirectory {
  session(clusterId: string): RelayTunnel | undefined;
  /** When the cluster's last tunnel session closed (ms since the epoch), if this process saw one. */
  lastLost?(clusterId: string): number | undefined;
}

/** One relayed request, as the audit records it. */
export interface RelayAuditEvent {
  requestId: string;
  user: string;
  groups: readonly string[];
  tier: string | undefined;
  cluster: string;
  clusterId: string | undefined;
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
  status: number;
  /** Response bytes relayed to the client. */
  bytes: number;
  durationMs: number;
  sourceIp: string | undefined;
  /** Why Hawser refused or failed it, when it did. */
  reason?: string;
  /** The stable code of a refusal by Hawser: HSR_ERR_* (the server) or HAG_ERR_* (the agent's x-hawser-error). */
  code?: string;
  /** The agent policy rule of an agent refusal (its x-hawser-rule header). */
  rule?: string;
}

export interface ClusterRelayOptions {
  authenticate(authorization: string | undefined, request?: { method?: string | undefined; headers: Readonly<Record<string, string | string[] | undefined>> }): Promise<OperatorIdentity>;
  findCluster(name: string): Promise<ClusterRecord | undefined>;
  tunnels: TunnelDirectory;
  authorization: AuthorizationConfig;
  audit(event: RelayAuditEvent): void;
  /**
   * Makes the request's audit record durable; awaited before a tunnel
   * stream opens. A rejection answers 503 and nothing reaches the cluster.
   */
  begin?(event: RelayAuditEvent): Promise<void>;
  /** Live requests by credential, so a revocation can end them (auth/operator-streams.ts). */
  streams?: { track(credentialId: string, end: (reason: string) => void): () => void };
  log: Logger;
  /** How long after a tunnel was lost "not connected" still says retry (Retry-After). Default 30 s. */
  reconnectWindowMs?: number;
  /** How long the agent may take to answer with response headers. Default 60 s. */
  responseTimeoutMs?: number;
  /** Retry-After for "not connected", seconds. Default 5. */
  retryAfterSeconds?: number;
}
