import { createHash, randomBytes } from 'node:crypto';
import { HAWSER_COOKIE_PREFIX } from '@hawser/contract';
import { decodeJwt } from 'jose';
import type { OperatorIdentity } from '../auth/authorization.js';
import type { OidcAuthenticator, OidcConfig } from '../auth/oidc-authenticator.js';

/**
 * The pending login's state, verifier and nonce ride in their own short-lived
 * cookie. SameSite=Lax, not Strict: the IdP's redirect back is a cross-site
 * top-level navigation, which Strict would strip. `__Host-` keeps sibling
 * hosts from planting one (login CSRF).
 */
export const LOGIN_COOKIE = `${HAWSER_COOKIE_PREFIX}oidc`;
const LOGIN_TTL_S = 600;

interface Endpoints {
  authorization_endpoint: string;
  token_endpoint: string;
}

function b64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Console sign-in with the configured OpenID provider: the authorization
 * code flow with PKCE (S256), a state bound to the browser by cookie and a
 * nonce bound to the ID token. The client is public (no secret to keep):
 * its id is the audience Hawser already expects in ID tokens. The ID token
 * the provider returns is verified exactly as kubectl's are
 * (oidc-authenticator.ts), so the console grants nothing kubectl would not.
 */
export class ConsoleOidcLogin {
  readonly #config: OidcConfig;
  readonly #verifier: OidcAuthenticator;
  readonly #callbackUrl: () => string;
  #endpoints: Endpoints | undefined;

  constructor(config: OidcConfig, verifier: OidcAuthenticator, callbackUrl: () => string) {
    this.#config = config;
    this.#verifier = verifier;
    this.#callbackUrl = callbackUrl;
  }

  async #discover(): Promise<Endpoints> {
    if (this.#endpoints) return this.#endpoints;
    const res = await fetch(new URL('.well-known/openid-configuration', this.#config.issuer.replace(/\/?$/, '/')));
    if (!res.ok) throw new Error(`OIDC discovery at ${this.#config.issuer} answered ${res.status}`);
    const doc = (await res.json()) as Partial<Endpoints>;
    if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error(`OIDC discovery at ${this.#config.issuer} names no authorization or token endpoint`);
    this.#endpoints = { authorization_endpoint: doc.authorization_endpoint, token_endpoint: doc.token_endpoint };
    return this.#endpoints;
  }

  /** Where to send the browser, and the cookie that remembers this attempt. */
  async start(): Promise<{ location: string; setCookie: string }> {
    const { authorization_endpoint } = await this.#discover();
    const state = b64url(randomBytes(24));
    const verifier = b64url(randomBytes(32));
    const nonce = b64url(randomBytes(24));
    const url = new URL(authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.#config.audience,
      redirect_uri: this.#callbackUrl(),
      scope: 'openid email profile groups',
      state,
      nonce,
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
    }).toString();
    return {
      location: url.toString(),
      setCookie: `${LOGIN_COOKIE}=${state}.${verifier}.${nonce}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${LOGIN_TTL_S}`,
    };
  }

  /**
   * The provider's redirect back: checks the state against the cookie,
   * redeems the code with the verifier, verifies the ID token and its nonce.
   * Throws with a reason for the log.
   */
  async finish(query: { code?: string; state?: string; error?: string }, cookieHeader: string | undefined): Promise<{ identity: OperatorIdentity; expiresAt: Date }> {
    if (query.error) throw new Error(`the identity provider refused: ${query.error}`);
    const [state, verifier, nonce] = (cookieValue(cookieHeader, LOGIN_COOKIE) ?? '').split('.');
    if (!state || !verifier || !nonce) throw new Error('no sign-in in progress in this browser (cookie missing or expired)');
    if (!query.state || query.state !== state) throw new Error('the state does not match this browser\'s sign-in');
    if (!query.code) throw new Error('no authorization code');
    const { token_endpoint } = await this.#discover();
    const res = await fetch(token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: query.code,
        redirect_uri: this.#callbackUrl(),
        client_id: this.#config.audience,
        code_verifier: verifier,
      }).toString(),
    });
    const body = (await res.json().catch(() => ({}))) as { id_token?: string; error?: string };
    if (!res.ok || !body.id_token) throw new Error(`the token endpoint answered ${res.status}${body.error ? ` (${body.error})` : ''}`);
    const identity = await this.#verifier.verify(body.id_token);
    const claims = decodeJwt(body.id_token);
    if (claims.nonce !== nonce) throw new Error('the ID token\'s nonce is not this sign-in\'s');
    return { identity, expiresAt: new Date((claims.exp ?? 0) * 1000) };
  }

  /** Clears the login cookie once used. */
  static clearCookie(): string {
    return `${LOGIN_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;
  }
}
