import { ADMIN_GROUP } from './admin-api.js';
import { hashApiToken, looksLikeApiToken } from './api-token.js';
import type { OperatorIdentity } from './authorization.js';
import { OidcAuthenticator, type OidcConfig } from './oidc-authenticator.js';
import type { Store } from './store.js';

/**
 * Authenticates operators on the relay: a Hawser API token (hashed lookup),
 * or an OIDC ID token when an issuer is configured. Throws with a specific
 * reason for the log; the caller answers every failure with one generic 401.
 */
export function operatorAuthenticator(opts: { store: Store; oidc: OidcConfig | undefined }): (authorization: string | undefined) => Promise<OperatorIdentity> {
  const oidc = opts.oidc ? new OidcAuthenticator(opts.oidc) : undefined;
  return async (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new Error(authorization ? 'not a bearer token' : 'no Authorization header');
    const token = m[1]!;
    if (looksLikeApiToken(token)) {
      const record = await opts.store.findApiTokenByHash(hashApiToken(token));
      if (!record) throw new Error('unknown, revoked or expired API token');
      // The admin token manages Hawser; it is no identity in any cluster.
      if (record.groups.includes(ADMIN_GROUP)) throw new Error('the admin token cannot be used on clusters');
      return { username: record.user, groups: [...record.groups], via: 'api-token' };
    }
    if (!oidc) throw new Error('not a Hawser API token, and no OIDC issuer is configured');
    return oidc.verify(token);
  };
}
