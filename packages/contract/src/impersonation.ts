/**
 * How an operator becomes the identity the agent impersonates. The server
 * computes the identity, the agent checks it against the same rules; a
 * mismatch here would be a refusal on every request, so both read them from
 * this one place.
 */

/** The five tiers, lowest first; a higher tier includes the lower ones. */
export const TIERS = ['read', 'triage', 'write', 'maintain', 'admin'] as const;
export type Tier = (typeof TIERS)[number];

/**
 * The agent's verb ceilings (chart value agent.mode), lowest first. The
 * agent enforces them; the server shows each cluster's and prints what
 * raising or lowering one changes (`hawser cluster mode`).
 */
export const AGENT_MODES = ['read-only', 'read-write', 'full'] as const;
export type AgentModeName = (typeof AGENT_MODES)[number];

export function isAgentMode(mode: string): mode is AgentModeName {
  return (AGENT_MODES as readonly string[]).includes(mode);
}

/** tier (default): tiers from IdP groups; raw: prefixed user and groups; shared: the agent's own identity. */
export const AUTHORIZATION_MODES = ['tier', 'raw', 'shared'] as const;
export type AuthorizationMode = (typeof AUTHORIZATION_MODES)[number];

export const DEFAULT_AUTHORIZATION_MODE: AuthorizationMode = 'tier';
export const DEFAULT_IMPERSONATION_PREFIX = 'hawser:';

/** What {@link isImpersonationPrefix} accepts, as a sentence for error messages. */
export const IMPERSONATION_PREFIX_RULE = 'lowercase letters, digits, "." or "-" ending in ":", not "system:"';

/**
 * An empty prefix, or one under `system:`, would let the server name any
 * identity in the cluster, so both ends refuse to start with one.
 */
export function isImpersonationPrefix(prefix: string): boolean {
  return /^[a-z0-9][a-z0-9.-]*:$/.test(prefix) && !prefix.startsWith('system:');
}

export function isAuthorizationMode(mode: string): mode is AuthorizationMode {
  return (AUTHORIZATION_MODES as readonly string[]).includes(mode);
}

/** The group a tier is impersonated as: `<prefix>tier:<tier>`. */
export function tierGroup(prefix: string, tier: Tier): string {
  return `${prefix}tier:${tier}`;
}
