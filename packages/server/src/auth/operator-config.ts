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
import type { KubernetesAuthConfig } from './token-review-authenticator.js';

/** How operators are authenticated and authorized, as callers give it. */
export interface OperatorConfigInput {
  /** tier (default) | raw | shared. */
  authorizationMode?: string;
  /** Default `hawser:`. */
  impersonationPrefix?: string;
  /** IdP groups per tier, e.g. `{ read: ['devs'], admin: ['sre'] }`. */
  tierGroups?: Partial<Record<string, readonly string[]>>;
  /** Workloads' ServiceAccount tokens, verified by TokenReview (docs/security.md, "Automation identities"). */
  kubernetesAuth?: {
    audience?: string;
    apiServer?: string;
    caFile?: string;
    tokenFile?: string;
    tiers?: Partial<Record<string, readonly string[]>>;
    cacheSeconds?: number;
  };
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

/** Where a pod finds its ServiceAccount's token and CA. */
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const SERVICE_ACCOUNT = /^system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+$/;
const SERVICE_ACCOUNT_GROUP = /^system:serviceaccounts(:[a-z0-9-]+)?$/;

/**
 * kubernetesAuth, validated once: an audience (required: a token minted for
 * the API server itself must not work here), the API server (in-cluster by
 * default), and tiers naming only ServiceAccounts and ServiceAccount groups.
 */
export function resolveKubernetesAuth(input: OperatorConfigInput['kubernetesAuth'], env: NodeJS.ProcessEnv = process.env): KubernetesAuthConfig | undefined {
  if (input === undefined) return undefined;
  if (typeof input !== 'object' || input === null) invalid('kubernetesAuth', 'an object', input);
  const audience = input.audience;
  if (typeof audience !== 'string' || !/^[\x21-\x7e]{1,253}$/.test(audience)) invalid('kubernetesAuth.audience', 'the audience workload tokens are minted for, e.g. https://hawser.example.com', audience);
  const host = env.KUBERNETES_SERVICE_HOST;
  const inCluster = host ? `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}` : undefined;
  const apiServer = input.apiServer ?? inCluster;
  let ok = false;
  try {
    ok = new URL(String(apiServer)).protocol === 'https:';
  } catch {
    // reported below
  }
  if (!ok) invalid('kubernetesAuth.apiServer', 'an https:// URL (default: in-cluster, from KUBERNETES_SERVICE_HOST)', apiServer);
  for (const key of Object.keys(input.tiers ?? {})) {
    if (!(TIERS as readonly string[]).includes(key)) invalid(`kubernetesAuth.tiers.${key}`, `a tier (${TIERS.join(', ')})`, key);
  }
  const tiers = {} as Record<Tier, readonly string[]>;
  for (const tier of TIERS) {
    const names = input.tiers?.[tier] ?? [];
    if (!Array.isArray(names)) invalid(`kubernetesAuth.tiers.${tier}`, 'a list', names);
    for (const n of names) {
      if (typeof n !== 'string' || !(SERVICE_ACCOUNT.test(n) || SERVICE_ACCOUNT_GROUP.test(n))) {
        invalid(`kubernetesAuth.tiers.${tier}`, 'system:serviceaccount:NAMESPACE:NAME or system:serviceaccounts[:NAMESPACE] names', n);
      }
    }
    tiers[tier] = Object.freeze([...names]);
  }
  const cacheSeconds = input.cacheSeconds ?? 10;
  if (!Number.isInteger(cacheSeconds) || cacheSeconds < 0 || cacheSeconds > 300) invalid('kubernetesAuth.cacheSeconds', 'an integer 0..300', cacheSeconds);
  return Object.freeze({
    audience,
    apiServer: String(apiServer),
    caFile: input.caFile ?? `${SA_DIR}/ca.crt`,
    tokenFile: input.tokenFile ?? `${SA_DIR}/token`,
    tiers: Object.freeze(tiers),
    cacheMs: cacheSeconds * 1000,
  });
}
