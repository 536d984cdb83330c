import { oidcCredential } from './operator-streams.js';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { OperatorIdentity } from './authorization.js';

/** OIDC settings; see docs/operations.md. */
export interface OidcConfig {
  /** Issuer URL, exactly as in the tokens' `iss`. */
  readonly issuer: string;
  /** Expected `aud` (the client id). */
  readonly audience: string;
  /** Claim that names the user. Default `email`; `sub` for opaque ids. */
  readonly usernameClaim: string;
  /** Claim that lists groups. Default `groups`. */
  readonly groupsClaim: string;
  /** JWKS URL; default: discovered from `<issuer>/.well-known/openid-configuration`. */
  readonly jwksUrl?: string;
  /** Allowed clock skew in seconds. Default 60. */
  readonly clockSkewSeconds: number;
  /**
   * Least time between two JWKS fetches, in ms: a token naming an unknown
   * key id refetches the set at most this often, so forged key ids cannot
   * make Hawser hammer the IdP. Default 30 s.
   */
  readonly jwksCooldownMs?: number;
}

/** Asymmetric algorithms only: `none` and HMAC (key confusion) are never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * Verifies operators' OIDC ID tokens against the issuer's JWKS. jose caches
 * the key set and refetches it when a token names an unknown key id (key
 * rotation), at most once per cooldown.
 */
export class OidcAuthenticator {
  readonly #config: OidcConfig;
  #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(config: OidcConfig) {
    this.#config = config;
  }

  /** Throws (with a reason for the log) when the token is not valid. */
  async verify(token: string): Promise<OperatorIdentity> {
    const { payload } = await jwtVerify(token, await this.#keySet(), {
      issuer: this.#config.issuer,
      audience: this.#config.audience,
      algorithms: ALGORITHMS,
      clockTolerance: this.#config.clockSkewSeconds,
      requiredClaims: ['exp'],
    });
    const username = claim(payload, this.#config.usernameClaim);
    if (typeof username !== 'string' || !username) throw new Error(`the token has no "${this.#config.usernameClaim}" claim`);
    const rawGroups = claim(payload, this.#config.groupsClaim);
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : [];
    // Streams are ended by subject (operator-streams.ts); a token without
    // one is keyed by its user name claim.
    const subject = typeof payload.sub === 'string' && payload.sub ? payload.sub : `name:${username}`;
    return { username, groups, via: 'oidc', credentialId: oidcCredential(this.#config.issuer, subject) };
  }

  async #keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.#jwks) return this.#jwks;
    let url = this.#config.jwksUrl;
    if (!url) {
      const res = await fetch(new URL('.well-known/openid-configuration', this.#config.issuer.replace(/\/?$/, '/')));
      if (!res.ok) throw new Error(`OIDC discovery at ${this.#config.issuer} answered ${res.status}`);
      const doc = (await res.json()) as { jwks_uri?: string };
      if (!doc.jwks_uri) throw new Error(`OIDC discovery at ${this.#config.issuer} has no jwks_uri`);
      url = doc.jwks_uri;
    }
    this.#jwks = createRemoteJWKSet(new URL(url), { cooldownDuration: this.#config.jwksCooldownMs ?? 30_000, cacheMaxAge: 10 * 60_000 });
    return this.#jwks;
  }
}

/** Reads a claim by name; a dotted name reaches into nested objects. */
function claim(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  return name.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), payload);
}
