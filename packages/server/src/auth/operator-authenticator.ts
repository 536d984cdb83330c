import { hashApiToken, looksLikeApiToken } from './api-token.js';
import { ADMIN_GROUP, type OperatorIdentity } from './authorization.js';
import { apiTokenCredential } from './operator-streams.js';
import { OidcAuthenticator, type OidcConfig } from './oidc-authenticator.js';
import type { Store } from '../store/store.js';
import type { ConsoleSessions, SessionRequest } from '../console/console-session.js';
import { TokenReviewAuthenticator, type KubernetesAuthConfig } from './token-review-authenticator.js';

/**
 * How long a verified API token is trusted without asking the store again.
 * Every relayed request authenticates, and a database round trip per small
 * GET costs more than the rest of the relay; a revocation made on this
 * replica takes effect at once (the cache is cleared), on other replicas
 * within this time.
 */
const API_TOKEN_CACHE_MS = 10_000;
const API_TOKEN_CACHE_MAX = 10_000;

export interface OperatorAuthenticator {
  /**
   * `request` lets a browser in the console authenticate with its session
   * cookie when it sends no Authorization header (console-session.ts).
   */
  (authorization: string | undefined, request?: SessionRequest): Promise<OperatorIdentity>;
  /** Forget cached API tokens (after a revocation). */
  forget(): void;
}

/**
 * Authenticates operators on the relay: a Hawser API token (hashed lookup),
 * or an OIDC ID token when an issuer is configured. Throws with a specific
 * reason for the log; the caller answers every failure with one generic 401.
 */
export function operatorAuthenticator(opts: {
  store: Store;
  oidc: OidcConfig | undefined;
  kubernetes?: KubernetesAuthConfig | undefined;
  sessions?: ConsoleSessions;
}): OperatorAuthenticator {
  const oidc = opts.oidc ? new OidcAuthenticator(opts.oidc) : undefined;
  const kubernetes = opts.kubernetes ? new TokenReviewAuthenticator(opts.kubernetes) : undefined;
  const cache = new Map<string, { identity: OperatorIdentity; until: number; expiresAt: number }>();
  const authenticate = async (authorization: string | undefined, request?: SessionRequest): Promise<OperatorIdentity> => {
    if (authorization === undefined && request && opts.sessions) return (await opts.sessions.identify(request)).identity;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new Error(authorization ? 'not a bearer token' : 'no Authorization header');
    const token = m[1]!;
    if (looksLikeApiToken(token)) {
      const hash = hashApiToken(token);
      const now = Date.now();
      const hit = cache.get(hash);
      if (hit && hit.until > now && hit.expiresAt > now) return hit.identity;
      const record = await opts.store.findApiTokenByHash(hash);
      if (!record) throw new Error('unknown, revoked or expired API token');
      // The admin token manages Hawser; it is no identity in any cluster.
      if (record.groups.includes(ADMIN_GROUP)) throw new Error('the admin token cannot be used on clusters');
      const identity: OperatorIdentity = {
        username: record.user,
        groups: [...record.groups],
        via: 'api-token',
        credentialId: apiTokenCredential(record.id),
      };
      if (cache.size >= API_TOKEN_CACHE_MAX) cache.clear();
      cache.set(hash, { identity, until: now + API_TOKEN_CACHE_MS, expiresAt: record.expiresAt?.getTime() ?? Infinity });
      return identity;
    }
    // A JWT from the OIDC issuer goes to OIDC; any other one, when
    // kubernetesAuth is configured, to a TokenReview. The unverified issuer
    // only routes: each path verifies the token itself.
    if (kubernetes && (!oidc || unverifiedIssuer(token) !== opts.oidc?.issuer)) return kubernetes.verify(token);
    if (!oidc) throw new Error('not a Hawser API token, and no OIDC issuer or kubernetesAuth is configured');
    return oidc.verify(token);
  };
  return Object.assign(authenticate, { forget: () => cache.clear() });
}

/** The `iss` claim of a JWT, unverified (for routing only), or undefined. */
function unverifiedIssuer(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const iss = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
