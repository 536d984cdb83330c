import { ErrorCodes, HawserServerError } from '../errors.js';
import { idTokenClaims } from './oidc-pkce.js';
import type { OidcProviderClient } from './oidc-provider-client.js';
import type { OidcTokenCache } from './oidc-token-cache.js';

/**
 * An ID token with less than this left is refreshed before kubectl gets it,
 * and kubectl is told the token expires this much early: a request that
 * starts just before the real expiry could otherwise reach the server after
 * it and be refused mid-command.
 */
export const REFRESH_MARGIN_S = 60;

/**
 * The client.authentication.k8s.io/v1 ExecCredential kubectl reads from an
 * exec plugin's stdout. kubectl keeps the token until expirationTimestamp
 * and runs the plugin again after it.
 */
export function execCredential(idToken: string, exp: number, now = Date.now()): string {
  const early = exp - REFRESH_MARGIN_S;
  // A token shorter-lived than the margin is handed out until its real end.
  const until = early * 1000 > now ? early : exp;
  return `${JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: idToken, expirationTimestamp: new Date(until * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  })}\n`;
}

function loginRequired(why: string): HawserServerError {
  return new HawserServerError(ErrorCodes.OIDC_LOGIN_REQUIRED, `${why}; run hawser login --oidc again`);
}

function validFor(idToken: string, issuer: string, clientId: string, now: number): { exp: number } | undefined {
  try {
    const { exp } = idTokenClaims(idToken, { issuer, clientId, now });
    return exp - REFRESH_MARGIN_S > now / 1000 ? { exp } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cached ID token when it has more than the margin left; else a fresh
 * one from the refresh token, written back (with the new refresh token when
 * the provider rotates them) before it is returned. Under the cache's lock,
 * re-reading first: a parallel kubectl may have refreshed already.
 */
export async function currentIdToken(opts: { cache: OidcTokenCache; client: OidcProviderClient; issuer: string; clientId: string; now?: () => number }): Promise<{ idToken: string; exp: number }> {
  const now = opts.now ?? Date.now;
  const quick = opts.cache.read();
  if (!quick) throw loginRequired(`no sign-in to ${opts.issuer} is cached (${opts.cache.path})`);
  const fresh = validFor(quick.idToken, opts.issuer, opts.clientId, now());
  if (fresh) return { idToken: quick.idToken, exp: fresh.exp };
  return opts.cache.withLock(async () => {
    const entry = opts.cache.read();
    if (!entry) throw loginRequired(`no sign-in to ${opts.issuer} is cached (${opts.cache.path})`);
    const again = validFor(entry.idToken, opts.issuer, opts.clientId, now());
    if (again) return { idToken: entry.idToken, exp: again.exp };
    if (!entry.refreshToken) throw loginRequired('the ID token has expired and the provider gave no refresh token (offline_access not granted)');
    const tokens = await opts.client.refresh(entry.tokenEndpoint, entry.refreshToken);
    let exp: number;
    try {
      ({ exp } = idTokenClaims(tokens.idToken, { issuer: opts.issuer, clientId: opts.clientId, now: now() }));
    } catch (err) {
      throw loginRequired(`the refreshed ID token is unusable: ${(err as Error).message}`);
    }
    opts.cache.write({ ...entry, idToken: tokens.idToken, refreshToken: tokens.refreshToken ?? entry.refreshToken });
    return { idToken: tokens.idToken, exp };
  });
}
