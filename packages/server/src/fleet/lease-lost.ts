import type { PeerInfo } from '@hawser/protocol';
import type { LeasedAgent } from './tunnel-ownership.js';

/**
 * How a replica closes an agent's tunnel whose lease it lost (another
 * replica claimed the cluster, or this one could not renew: cut off from
 * PostgreSQL) or could not claim: 1012 "service restart", which agents
 * treat as any non-final close and reconnect at once, through the load
 * balancer, to whichever replica it picks.
 */
export const LeaseLostClose = { code: 1012, reason: 'tunnel lease lost on this server replica; reconnect' } as const;

/** What other replicas must know of an agent to forward to it, from its HELLO (small: it rides on NOTIFY). */
export function leasedAgentOf(peer: PeerInfo): LeasedAgent {
  return { software: peer.software, capabilities: [...peer.capabilities], maxHeaderSize: peer.settings.maxHeaderSize };
}
