import { TIERS, tierGroup, type AuthorizationMode, type Tier } from '@hawser/contract';

/** Group an API token needs for the admin API. */
export const ADMIN_GROUP = 'hawser:admins';

/** Who an operator is, once authenticated (before any prefixing). */
export interface OperatorIdentity {
  readonly username: string;
  readonly groups: readonly string[];
  /** How they proved it. */
  readonly via: 'oidc' | 'api-token' | 'kubernetes';
  /**
   * The tier already decided by the server's kubernetesAuth mapping (a
   * ServiceAccount token, via 'kubernetes'); tier mode uses it instead of
   * tierGroups, which name IdP groups.
   */
  readonly tier?: Tier;
  /**
   * The credential: `api-token:<id>` or `oidc:<issuer>#<sub>`. Revoking it
   * ends the requests it opened (operator-streams.ts).
   */
  readonly credentialId: string;
}

/**
 * How the server turns an operator into the identity the agent impersonates.
 * - `tier` (default): IdP groups map to one of five tiers, highest wins; the
 *   agent impersonates `<prefix><username>` in group `<prefix>tier:<tier>`.
 * - `raw`: `<prefix><username>` with every IdP group prefixed.
 * - `shared`: the agent acts as itself; no per-user attribution in the cluster.
 */
export interface AuthorizationConfig {
  readonly mode: AuthorizationMode;
  /** Default `hawser:`; must match the agents' HAWSER_IMPERSONATION_PREFIX. */
  readonly prefix: string;
  /** IdP groups (or API-token groups) that grant each tier. */
  readonly tierGroups: Readonly<Record<Tier, readonly string[]>>;
}

export type Authorization =
  | { readonly allowed: true; readonly user?: string; readonly groups: readonly string[]; readonly tier?: Tier }
  | { readonly allowed: false; readonly reason: string };

/**
 * A user or group name Hawser will pass on: 1-256 characters, no control
 * characters (they cannot travel in a header; an IdP that sends them is
 * broken or hostile).
 */
export function isPrintableName(name: string): boolean {
  if (name.length === 0 || name.length > 256) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

export function authorize(identity: OperatorIdentity, config: AuthorizationConfig): Authorization {
  if (!isPrintableName(identity.username)) return { allowed: false, reason: 'the user name is empty, too long or has control characters' };
  const badGroup = identity.groups.find((g) => !isPrintableName(g));
  if (badGroup !== undefined) return { allowed: false, reason: 'a group name is empty, too long or has control characters' };
  const user = `${config.prefix}${identity.username}`;
  switch (config.mode) {
    case 'shared':
      return { allowed: true, groups: [] };
    case 'raw':
      return { allowed: true, user, groups: identity.groups.map((g) => `${config.prefix}${g}`) };
    case 'tier': {
      if (identity.via === 'kubernetes') {
        if (!identity.tier) return { allowed: false, reason: `ServiceAccount "${identity.username}" and its groups map to no Hawser tier (kubernetesAuth.tiers)` };
        return { allowed: true, user, groups: [tierGroup(config.prefix, identity.tier)], tier: identity.tier };
      }
      let best = -1;
      for (const [i, tier] of TIERS.entries()) {
        if (config.tierGroups[tier].some((g) => identity.groups.includes(g))) best = Math.max(best, i);
      }
      if (best < 0) {
        return { allowed: false, reason: `user "${identity.username}" is in no group that maps to a Hawser tier` };
      }
      const tier = TIERS[best]!;
      return { allowed: true, user, groups: [tierGroup(config.prefix, tier)], tier };
    }
  }
}
