import { AGENT_MODES } from '@hawser/contract';
import type { PeerInfo } from '@hawser/protocol';

/**
 * What an agent says about itself (its HELLO on the tunnel, its fields at
 * registration) is attacker-controlled: a stolen or modified agent can send
 * anything. The server stores and prints these values, so they are checked
 * here before either: short, printable ASCII only. Anything else refuses the
 * agent; nothing is "cleaned up" and stored, so a record never carries a
 * value the agent did not send.
 */
export const AgentMetadataLimits = {
  SOFTWARE_MAX: 128,
  CAPABILITIES_MAX: 32,
  CAPABILITY_MAX: 64,
  METADATA_KEYS_MAX: 16,
  METADATA_KEY_MAX: 64,
  METADATA_VALUE_MAX: 256,
} as const;

/** Printable ASCII, space included: no control characters, no Unicode tricks (bidi overrides, look-alikes). */
const PRINTABLE = /^[\x20-\x7e]*$/;
/** Capability names and metadata keys: identifiers. */
const IDENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** kube-system's metadata.uid: a UUID in practice; letters, digits and dashes at most. */
const CLUSTER_UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
/** A Kubernetes version (v1.31.2, v1.30.0-eks-1234, v1.31.0+k3s1). */
const VERSION = /^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$/;

/** An agent mode name (read-only, read-write, full, or one a newer agent knows). */
const MODE = /^[a-z][a-z-]{0,31}$/;

/** Why a value was refused; short, no echo of the value (logs quote it JSON-escaped separately). */
export type MetadataProblem = string;

function checkText(what: string, value: string, max: number): MetadataProblem | undefined {
  if (value.length > max) return `${what} is longer than ${max} characters`;
  if (!PRINTABLE.test(value)) return `${what} has characters other than printable ASCII`;
  return undefined;
}

/** Checks one agent-supplied field as stored: agent version, Kubernetes version, cluster uid. */
export function checkAgentInfo(info: {
  agentVersion?: string | undefined;
  kubernetesVersion?: string | undefined;
  clusterUid?: string | undefined;
}): MetadataProblem | undefined {
  if (info.agentVersion !== undefined) {
    const p = checkText('the agent version', info.agentVersion, AgentMetadataLimits.SOFTWARE_MAX);
    if (p) return p;
  }
  if (info.kubernetesVersion !== undefined && !VERSION.test(info.kubernetesVersion)) {
    return 'kubernetesVersion is not a version string (letters, digits, . + _ -, at most 64)';
  }
  if (info.clusterUid !== undefined && !CLUSTER_UID.test(info.clusterUid)) {
    return 'clusterUid is not a uid (letters, digits and dashes, at most 64)';
  }
  return undefined;
}

/** Checks an agent's HELLO: software, capabilities and metadata. Undefined when acceptable. */
export function checkAgentHello(peer: Pick<PeerInfo, 'software' | 'capabilities' | 'metadata'>): MetadataProblem | undefined {
  const L = AgentMetadataLimits;
  const software = checkText('software', peer.software, L.SOFTWARE_MAX);
  if (software) return software;
  if (peer.capabilities.length > L.CAPABILITIES_MAX) return `more than ${L.CAPABILITIES_MAX} capabilities`;
  for (const c of peer.capabilities) {
    if (c.length > L.CAPABILITY_MAX || !IDENT.test(c)) return `a capability is not a name (letters, digits, . _ -, at most ${L.CAPABILITY_MAX})`;
  }
  const entries = Object.entries(peer.metadata);
  if (entries.length > L.METADATA_KEYS_MAX) return `more than ${L.METADATA_KEYS_MAX} metadata entries`;
  for (const [key, value] of entries) {
    if (key.length > L.METADATA_KEY_MAX || !IDENT.test(key)) return `a metadata key is not a name (letters, digits, . _ -, at most ${L.METADATA_KEY_MAX})`;
    const p = checkText(`metadata ${key}`, value, L.METADATA_VALUE_MAX);
    if (p) return p;
  }
  const { mode, chartVersion } = peer.metadata;
  // Not the enum: a newer agent may know a mode this server does not; shown as sent.
  if (mode !== undefined && !MODE.test(mode)) return `mode is not a mode name (lowercase letters and dashes, at most 32; e.g. ${AGENT_MODES.join(', ')})`;
  if (chartVersion !== undefined && !VERSION.test(chartVersion)) return 'chartVersion is not a version string (letters, digits, . + _ -, at most 64)';
  return checkAgentInfo({
    kubernetesVersion: peer.metadata.kubernetesVersion,
    clusterUid: peer.metadata.clusterUid,
  });
}

/**
 * How the agent is installed, from a HELLO that passed checkAgentHello:
 * its mode and the chart version that set it. Both are stored as sent on
 * every connect, absent as null, so a `helm upgrade` that raised or
 * lowered the mode shows once the agent reconnects with it.
 */
export function agentInstall(metadata: Readonly<Record<string, string>>): { agentMode: string | null; chartVersion: string | null } {
  return { agentMode: metadata.mode ?? null, chartVersion: metadata.chartVersion ?? null };
}
