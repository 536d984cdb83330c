import { isSuccess, requestJson } from '@hawser/https-json';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { ClusterJoinRecord } from '../store/store.js';

/** Asymmetric algorithms only: the allow-list keeps `none` and HMAC-with-a-public-key forgeries out. */
export const JOIN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
/** Tokens longer than this are refused before parsing. */
const MAX_TOKEN_LENGTH = 8192;
/** How long fetched keys are used before they are fetched again. */
const KEYS_TTL_MS = 5 * 60_000;
/** An unknown `kid` fetches again, but not more often than this (the issuer may have rotated its key). */
const REFETCH_MIN_MS = 10_000;
const FETCH_TIMEOUT_MS = 10_000;

/** Why a ServiceAccount token was refused; audited, and named in the refusal (none of them is a secret). */
export const JoinRefusals = {
  MALFORMED: 'malformed',
  BAD_SIGNATURE: 'bad-signature',
  EXPIRED: 'expired',
  WRONG_AUDIENCE: 'wrong-audience',
  WRONG_ISSUER: 'wrong-issuer',
  WRONG_SERVICE_ACCOUNT: 'wrong-service-account',
  ALGORITHM_NOT_ALLOWED: 'algorithm-not-allowed',
  KEYS_UNAVAILABLE: 'issuer-keys-unavailable',
  NOT_A_JOIN_CLUSTER: 'cluster-does-not-join-with-kubernetes',
} as const;
export type JoinRefusal = (typeof JoinRefusals)[keyof typeof JoinRefusals];

export type JoinVerification =
  | { readonly ok: true; readonly claims: JWTPayload }
  | { readonly ok: false; readonly reason: JoinRefusal; readonly detail: string };

const JOSE_REASONS: Readonly<Record<string, JoinRefusal>> = {
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm-not-allowed',
  ERR_JOSE_NOT_SUPPORTED: 'algorithm-not-allowed',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad-signature',
  ERR_JWKS_NO_MATCHING_KEY: 'bad-signature',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'bad-signature',
  ERR_JWT_EXPIRED: 'expired',
};
const CLAIM_REASONS: Readonly<Record<string, JoinRefusal>> = { aud: 'wrong-audience', iss: 'wrong-issuer' };

/** `system:serviceaccount:NS:NAME`, the `sub` of a Kubernetes ServiceAccount token. */
export const SERVICE_ACCOUNT_SUBJECT = /^system:serviceaccount:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?:[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/** Checks a JWKS's shape: an object with a non-empty `keys` array of public keys. */
export function checkJwks(value: unknown, where: string): JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null && typeof (k as { kty?: unknown }).kty === 'string')) {
    throw new HawserServerError(ErrorCodes.JOIN_CONFIG_INVALID, `${where}: expected a JWKS ({"keys": [...]} with at least one key)`);
  }
  if (keys.some((k) => 'd' in (k as object) || 'k' in (k as object))) {
    throw new HawserServerError(ErrorCodes.JOIN_CONFIG_INVALID, `${where}: holds private or symmetric key material; give only the public keys`);
  }
  return value as JSONWebKeySet;
}

async function getJson(url: URL, ca: string | null, what: string): Promise<unknown> {
  let res;
  try {
    // The API server serves its JWKS only as application/jwk-set+json (406 for plain JSON).
    res = await requestJson({ method: 'GET', url, ca: ca ?? undefined, timeoutMs: FETCH_TIMEOUT_MS, headers: { accept: 'application/json, application/jwk-set+json' } });
  } catch (err) {
    throw new HawserServerError(ErrorCodes.JOIN_DISCOVERY_FAILED, `cannot fetch ${what} from ${url.href}: ${(err as Error).message}`, { cause: err });
  }
  if (!isSuccess(res)) {
    const hint = res.status === 401 || res.status === 403 ? ' (anonymous discovery needs the system:service-account-issuer-discovery ClusterRole bound to system:unauthenticated)' : '';
    throw new HawserServerError(ErrorCodes.JOIN_DISCOVERY_FAILED, `${what} at ${url.href} answered ${res.status}${hint}`);
  }
  return res.json;
}

/**
 * The issuer's public keys by OIDC discovery: `/.well-known/openid-configuration`
 * at the discovery URL (default: the issuer), whose `issuer` must be the
 * configured one, then its `jwks_uri`. With a discovery URL, the JWKS is read
 * from the jwks_uri's path on that URL, since API servers advertise an
 * address inside their cluster.
 */
export async function discoverJwks(join: Pick<ClusterJoinRecord, 'issuer' | 'discoveryUrl' | 'discoveryCa'>): Promise<JSONWebKeySet> {
  const base = join.discoveryUrl ?? join.issuer;
  const doc = (await getJson(new URL('.well-known/openid-configuration', base.endsWith('/') ? base : `${base}/`), join.discoveryCa, 'OIDC discovery')) as {
    issuer?: unknown;
    jwks_uri?: unknown;
  } | null;
  if (doc?.issuer !== join.issuer) {
    throw new HawserServerError(ErrorCodes.JOIN_DISCOVERY_FAILED, `the discovery document at ${base} names issuer ${JSON.stringify(doc?.issuer)}, not ${join.issuer}`);
  }
  if (typeof doc.jwks_uri !== 'string') throw new HawserServerError(ErrorCodes.JOIN_DISCOVERY_FAILED, `the discovery document at ${base} has no jwks_uri`);
  const advertised = new URL(doc.jwks_uri);
  const jwksUrl = join.discoveryUrl ? new URL(advertised.pathname + advertised.search, join.discoveryUrl) : advertised;
  return checkJwks(await getJson(jwksUrl, join.discoveryCa, 'JWKS'), `JWKS at ${jwksUrl.href}`);
}

/**
 * Verifies the projected ServiceAccount tokens of clusters that join with
 * their own identity: signature by the issuer's keys, issuer, audience,
 * expiry and the exact ServiceAccount. Keys come from the cluster's static
 * JWKS, or from discovery, cached for a few minutes and fetched again for
 * an unknown key id.
 */
export class ServiceAccountJoin {
  readonly #keys = new Map<string, { jwks: JSONWebKeySet; fetchedAt: number }>();
  readonly #discover: typeof discoverJwks;

  constructor(opts: { discover?: typeof discoverJwks } = {}) {
    this.#discover = opts.discover ?? discoverJwks;
  }

  async verify(join: ClusterJoinRecord, token: unknown, now?: Date): Promise<JoinVerification> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return { ok: false, reason: 'malformed', detail: 'not a string of acceptable length' };
    }
    let result = await this.#verifyOnce(join, token, false, now);
    if (!result.ok && result.reason === 'bad-signature' && !join.jwks) result = await this.#verifyOnce(join, token, true, now);
    return result;
  }

  async #verifyOnce(join: ClusterJoinRecord, token: string, refetch: boolean, now?: Date): Promise<JoinVerification> {
    let jwks: JSONWebKeySet;
    try {
      jwks = await this.#jwks(join, refetch);
    } catch (err) {
      return { ok: false, reason: 'issuer-keys-unavailable', detail: (err as Error).message };
    }
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
        algorithms: [...JOIN_ALGORITHMS],
        issuer: join.issuer,
        audience: join.audience,
        requiredClaims: ['exp', 'iat', 'sub'],
        ...(now ? { currentDate: now } : {}),
      });
      if (payload.sub !== join.subject) {
        return { ok: false, reason: 'wrong-service-account', detail: `token for ${String(payload.sub).slice(0, 300)}` };
      }
      return { ok: true, claims: payload };
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      const claim = (err as { claim?: string }).claim ?? '';
      const reason = code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? (CLAIM_REASONS[claim] ?? 'malformed') : (JOSE_REASONS[code] ?? 'malformed');
      return { ok: false, reason, detail: (err as Error).message };
    }
  }

  async #jwks(join: ClusterJoinRecord, refetch: boolean): Promise<JSONWebKeySet> {
    if (join.jwks) return join.jwks as unknown as JSONWebKeySet;
    const cached = this.#keys.get(join.clusterId);
    const age = cached ? Date.now() - cached.fetchedAt : Infinity;
    if (cached && age < KEYS_TTL_MS && !(refetch && age >= REFETCH_MIN_MS)) return cached.jwks;
    const jwks = await this.#discover(join);
    this.#keys.set(join.clusterId, { jwks, fetchedAt: Date.now() });
    return jwks;
  }
}
