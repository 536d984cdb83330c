import {
  AUTHORIZATION_MODES,
  DEFAULT_AUTHORIZATION_MODE,
  DEFAULT_IMPERSONATION_PREFIX,
  IMPERSONATION_PREFIX_RULE,
  TIERS,
  isAuthorizationMode,
  isImpersonationPrefix,
  type Tier,
} from '@hawser/contract';
import type { AuthorizationConfig } from './authorization.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { OidcConfig } from './oidc-authenticator.js';

/** How operators are authenticated and authorized, as callers give it. */
export interface OperatorConfigInput {
  /** tier (default) | raw | shared. */
  authorizationMode?: string;
  /** Default `hawser:`. */
  impersonationPrefix?: string;
  /** IdP groups per tier, e.g. `{ read: ['devs'], admin: ['sre'] }`. */
  tierGroups?: Partial<Record<string, readonly string[]>>;
  oidc?: {
    issuer?: string;
    audience?: string;
    usernameClaim?: string;
    groupsClaim?: string;
    jwksUrl?: string;
    clockSkewSeconds?: number;
  };
}

function invalid(field: string, expected: string, got: unknown): never {
  throw new HawserServerError(ErrorCodes.CONFIG_INVALID, `config.${field}: expected ${expected}, got ${JSON.stringify(got)}`);
}

export function resolveAuthorization(input: OperatorConfigInput): AuthorizationConfig {
  const mode = input.authorizationMode ?? DEFAULT_AUTHORIZATION_MODE;
  if (!isAuthorizationMode(mode)) invalid('authorizationMode', AUTHORIZATION_MODES.join(' | '), mode);
  const prefix = input.impersonationPrefix ?? DEFAULT_IMPERSONATION_PREFIX;
  // The agents apply the same rule (@hawser/contract), so a prefix one end accepts the other does too.
  if (!isImpersonationPrefix(prefix)) invalid('impersonationPrefix', IMPERSONATION_PREFIX_RULE, prefix);
  const tierGroups = {} as Record<Tier, readonly string[]>;
  for (const key of Object.keys(input.tierGroups ?? {})) {
    if (!(TIERS as readonly string[]).includes(key)) invalid(`tierGroups.${key}`, `a tier (${TIERS.join(', ')})`, key);
  }
  for (const tier of TIERS) {
    const groups = input.tierGroups?.[tier] ?? [];
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || g === '')) invalid(`tierGroups.${tier}`, 'a list of group names', groups);
    tierGroups[tier] = Object.freeze([...groups]);
  }
  return Object.freeze({ mode, prefix, tierGroups: Object.freeze(tierGroups) });
}

export function resolveOidc(input: OperatorConfigInput['oidc']): OidcConfig | undefined {
  if (!input || (!input.issuer && !input.audience)) return undefined;
  const url = (field: string, v: unknown) => {
    try {
      const u = new URL(String(v));
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))) throw new Error();
    } catch {
      invalid(`oidc.${field}`, 'an https:// URL (http:// only on loopback, for tests)', v);
    }
    return String(v);
  };
  if (!input.issuer) invalid('oidc.issuer', 'the issuer URL when OIDC is configured', input.issuer);
  if (!input.audience) invalid('oidc.audience', 'the client id (aud) when OIDC is configured', input.audience);
  const skew = input.clockSkewSeconds ?? 60;
  if (!Number.isInteger(skew) || skew < 0 || skew > 600) invalid('oidc.clockSkewSeconds', 'an integer 0..600', skew);
  return Object.freeze({
    issuer: url('issuer', input.issuer),
    audience: input.audience,
    usernameClaim: input.usernameClaim || 'email',
    groupsClaim: input.groupsClaim || 'groups',
    ...(input.jwksUrl ? { jwksUrl: url('jwksUrl', input.jwksUrl) } : {}),
    clockSkewSeconds: skew,
  });
}
