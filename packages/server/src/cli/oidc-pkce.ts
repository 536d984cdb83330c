import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeJwt, type JWTPayload } from 'jose';
import { ErrorCodes, HawserServerError } from '../errors.js';

/**
 * One sign-in attempt of `hawser login --oidc`: the authorization code flow
 * for a native app (RFC 8252) with PKCE S256 (RFC 7636). `state` ties the
 * redirect to this attempt (a redirect carrying another state is refused
 * before any code is exchanged), `nonce` ties the ID token to it, and the
 * verifier never leaves this process, so a code caught on the way is
 * useless to whoever caught it.
 */
export interface PkceAttempt {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly redirectUri: string;
  /** Where the browser goes. */
  readonly url: string;
}

const random = (bytes: number) => randomBytes(bytes).toString('base64url');

/** BASE64URL(SHA256(verifier)): what the provider checks the verifier against. */
export function codeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export function pkceAttempt(opts: { authorizationEndpoint: string; clientId: string; redirectUri: string; scopes: readonly string[] }): PkceAttempt {
  const state = random(24);
  const nonce = random(24);
  // 43 characters: the least RFC 7636 allows, from 256 random bits.
  const verifier = random(32);
  const url = new URL(opts.authorizationEndpoint);
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: opts.clientId,
    redirect_uri: opts.redirectUri,
    scope: opts.scopes.join(' '),
    state,
    nonce,
    code_challenge: codeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  // Providers hand out a refresh token for offline_access only after an
  // explicit consent (OpenID Connect Core 11; Google, oidc-provider).
  if (opts.scopes.includes('offline_access')) params.set('prompt', 'consent');
  for (const [k, v] of params) url.searchParams.set(k, v);
  return { state, nonce, verifier, redirectUri: opts.redirectUri, url: url.toString() };
}

function failed(message: string): HawserServerError {
  return new HawserServerError(ErrorCodes.OIDC_LOGIN_FAILED, message);
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The code of a loopback redirect, or why there is none. The state is
 * checked first: a redirect this attempt did not cause is refused even when
 * it reports an error, so a forged one cannot put words in the CLI's mouth.
 */
export function redirectCode(query: URLSearchParams, expectedState: string): string {
  const state = query.get('state');
  if (state === null || !sameString(state, expectedState)) {
    throw failed('the redirect to the CLI carried a state this sign-in did not send (a stale or forged redirect); nothing was exchanged, sign in again');
  }
  const error = query.get('error');
  if (error !== null) {
    const description = query.get('error_description');
    throw failed(`the OpenID provider refused the sign-in: ${error}${description ? ` (${description})` : ''}`);
  }
  const code = query.get('code');
  if (!code) throw failed('the redirect to the CLI carried no authorization code');
  return code;
}

/**
 * The claims of an ID token the token endpoint returned, checked for what
 * binds it to this client and attempt: issuer, audience, nonce (on the
 * first exchange; refreshed tokens carry none or the old one), and that it
 * has not expired. Its signature is the server's to verify
 * (oidc-authenticator.ts); it came straight from the provider over the
 * connection the CLI opened (OpenID Connect Core 3.1.3.7, point 6).
 */
export function idTokenClaims(idToken: string, expect: { issuer: string; clientId: string; nonce?: string; now?: number }): JWTPayload & { exp: number } {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(idToken);
  } catch (err) {
    throw failed(`the OpenID provider returned an ID token that is not a JWT: ${(err as Error).message}`);
  }
  if (claims.iss !== expect.issuer) throw failed(`the ID token's issuer is ${JSON.stringify(claims.iss)}, not ${expect.issuer}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(expect.clientId)) throw failed(`the ID token is not for client ${expect.clientId} (aud ${JSON.stringify(claims.aud)})`);
  if (expect.nonce !== undefined && (typeof claims.nonce !== 'string' || !sameString(claims.nonce, expect.nonce))) {
    throw failed('the ID token does not carry the nonce this sign-in sent (a replayed token?); sign in again');
  }
  if (typeof claims.exp !== 'number') throw failed('the ID token has no expiry (exp)');
  if (claims.exp * 1000 <= (expect.now ?? Date.now())) throw failed('the OpenID provider returned an ID token that has already expired (check this machine\'s clock)');
  return claims as JWTPayload & { exp: number };
}
