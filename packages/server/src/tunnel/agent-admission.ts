import type { PeerInfo } from '@hawser/protocol';
import { agentInstall, checkAgentHello } from './agent-metadata.js';
import { AuditEventTypes } from '../audit/audit.js';
import type { AuditLog } from '../audit/audit.js';
import { printable } from '../printable.js';
import { ErrorCodes } from '../errors.js';
import type { Store } from '../store/store.js';
import { TunnelCloseCodes } from './tunnel-handler.js';
import type { TunnelContext } from './tunnel-handler.js';

/** A WebSocket close reason is at most 123 bytes; ours are ASCII. */
function closeReason(code: string, text: string): string {
  return `${code}: ${text}`.slice(0, 123);
}

/**
 * Admits an agent's tunnel once its HELLO is in, before the relay may use
 * it: the HELLO's values must pass checkAgentHello, and a cluster uid, once
 * recorded for the cluster (at registration or first connection), is fixed.
 * A refusal is logged and audited (`agent.refused`) and closes the tunnel
 * with 4400 or 4412 and the error code in the reason.
 */
export async function admitAgent(
  tunnel: TunnelContext,
  peer: PeerInfo,
  store: Store,
  audit: AuditLog,
): Promise<{ code: number; reason: string } | undefined> {
  const { cluster, log } = tunnel;
  const refuse = async (closeCode: number, code: string, why: string, details: Record<string, unknown>) => {
    // Logs are JSON, which escapes C0 controls but not C1 or bidi
    // characters: agent values pass the CLI's sanitizer first.
    log.warn({ code, reason: why, ...details }, 'agent tunnel refused');
    await audit.record({
      type: AuditEventTypes.AGENT_REFUSED,
      actor: `agent:${cluster.id}`,
      clusterId: cluster.id,
      sourceIp: tunnel.request.socket.remoteAddress,
      outcome: 'failure',
      reason: code,
      details: { connectionId: tunnel.connectionId, why, ...details },
    });
    return { code: closeCode, reason: closeReason(code, why) };
  };

  const problem = checkAgentHello(peer);
  if (problem) {
    // Bounded and escaped: the refused values themselves are what an attacker controls.
    return refuse(TunnelCloseCodes.METADATA_INVALID, ErrorCodes.AGENT_METADATA_INVALID, `agent metadata refused: ${problem}`, {
      software: printable(peer.software.slice(0, 200)),
    });
  }
  const uid = peer.metadata.clusterUid;
  if (uid !== undefined) {
    const recorded = await store.pinClusterUid(cluster.id, uid);
    if (recorded !== undefined && recorded !== uid) {
      return refuse(
        TunnelCloseCodes.CLUSTER_UID_CHANGED,
        ErrorCodes.CLUSTER_UID_CHANGED,
        'cluster uid differs from the one recorded for this cluster',
        { recordedUid: recorded, reportedUid: printable(uid) },
      );
    }
  }
  return undefined;
}

/**
 * Once a tunnel is ready: records what the agent said of itself (its
 * version, mode and chart version, its cluster's Kubernetes version) with the cluster, for
 * `hawser cluster list` and the admin API.
 */
export async function recordAgentInfo(tunnel: TunnelContext, peer: PeerInfo, store: Store): Promise<void> {
  await store.updateAgentInfo(tunnel.cluster.id, {
    agentVersion: peer.software.replace(/^hawser-agent\//, ''),
    kubernetesVersion: peer.metadata.kubernetesVersion,
    install: agentInstall(peer.metadata),
  });
}
