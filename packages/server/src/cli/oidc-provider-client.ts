import { ErrorCodes, HawserServerError, type ErrorCode } from '../errors.js';

/** The two endpoints the CLI needs, from the provider's discovery document. */
export interface OidcEndpoints {
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
}

/** What a token endpoint answered (RFC 6749 5.1, OpenID Connect Core 3.1.3.3). */
export interface TokenSet {
  readonly idToken: string;
  /** Absent when the provider issues none (no offline_access) or keeps the old one on refresh. */
  readonly refreshToken?: string | undefined;
}

const TIMEOUT_MS = 30_000;

/**
 * The CLI's side of the OpenID provider: discovery, the code exchange and
 * the refresh grant, as a public client (client_id, no secret). It uses
 * fetch, as the server's verifier does: a provider on a private CA needs
 * NODE_EXTRA_CA_CERTS (docs/operations.md, "Signing in from the CLI").
 */
export class OidcProviderClient {
  readonly #issuer: string;
  readonly #clientId: string;

  constructor(issuer: string, clientId: string) {
    this.#issuer = issuer;
    this.#clientId = clientId;
  }

  async discover(): Promise<OidcEndpoints> {
    const url = new URL('.well-known/openid-configuration', this.#issuer.replace(/\/?$/, '/'));
    const doc = await this.#json(url, undefined, ErrorCodes.OIDC_LOGIN_FAILED, 'OIDC discovery');
    const authorizationEndpoint = doc.authorization_endpoint;
    const tokenEndpoint = doc.token_endpoint;
    if (typeof authorizationEndpoint !== 'string' || typeof tokenEndpoint !== 'string') {
      throw new HawserServerError(ErrorCodes.OIDC_LOGIN_FAILED, `OIDC discovery at ${url} names no authorization_endpoint or token_endpoint`);
    }
    return { authorizationEndpoint, tokenEndpoint };
  }

  /** The authorization code for tokens, proving the PKCE verifier. */
  exchangeCode(tokenEndpoint: string, opts: { code: string; verifier: string; redirectUri: string }): Promise<TokenSet> {
    return this.#token(
      tokenEndpoint,
      { grant_type: 'authorization_code', code: opts.code, code_verifier: opts.verifier, redirect_uri: opts.redirectUri },
      ErrorCodes.OIDC_LOGIN_FAILED,
    );
  }

  /** A fresh ID token for the refresh token; a refusal means signing in again. */
  refresh(tokenEndpoint: string, refreshToken: string): Promise<TokenSet> {
    return this.#token(tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshToken }, ErrorCodes.OIDC_LOGIN_REQUIRED);
  }

  async #token(endpoint: string, form: Record<string, string>, code: ErrorCode): Promise<TokenSet> {
    const body = new URLSearchParams({ ...form, client_id: this.#clientId });
    const what = `the token endpoint (${form.grant_type})`;
    const doc = await this.#json(new URL(endpoint), body, code, what);
    if (typeof doc.id_token !== 'string' || !doc.id_token) {
      throw new HawserServerError(code, `${what} returned no ID token; is the openid scope allowed for client ${this.#clientId}?`);
    }
    return { idToken: doc.id_token, refreshToken: typeof doc.refresh_token === 'string' && doc.refresh_token ? doc.refresh_token : undefined };
  }

  async #json(url: URL, form: URLSearchParams | undefined, code: ErrorCode, what: string): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, {
        method: form ? 'POST' : 'GET',
        headers: { accept: 'application/json', ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: form,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new HawserServerError(code, `cannot reach ${what} at ${url.origin}: ${cause}`, { cause: err });
    }
    const text = await res.text();
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      doc = undefined;
    }
    if (!res.ok || !doc || typeof doc !== 'object') {
      const e = (doc ?? {}) as { error?: unknown; error_description?: unknown };
      const detail = typeof e.error === 'string' ? `${e.error}${typeof e.error_description === 'string' ? ` (${e.error_description})` : ''}` : `HTTP ${res.status}`;
      throw new HawserServerError(code, `${what} at ${url.origin} refused: ${detail}`);
    }
    return doc as Record<string, unknown>;
  }
}
