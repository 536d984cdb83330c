import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/** A user of the issuer: the claims its ID tokens carry. */
export interface IssuerUser {
  readonly email: string;
  readonly groups: readonly string[];
}

/**
 * A real OpenID provider on loopback: the npm `oidc-provider` (a certified
 * implementation), with its development login and consent pages, which a
 * test's browser fills in like a person would. The issuer URL is known
 * before the client is: start() listens first, client() configures the
 * provider once the relying party's redirect URI is known.
 */
export class OidcIssuer {
  readonly issuer: string;
  #server: Server;
  #provider: Provider | undefined;

  private constructor(server: Server) {
    this.#server = server;
    this.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<OidcIssuer> {
    const holder: { self?: OidcIssuer } = {};
    const server = createServer((req, res) => {
      const provider = holder.self ? holder.self.#provider : undefined;
      if (!provider) return void res.writeHead(503).end('issuer not configured yet');
      void provider.callback()(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.self = new OidcIssuer(server);
    return holder.self;
  }

  /**
   * One public client (PKCE required) and a fixed directory of users, by
   * login name. `native`: a CLI's client (RFC 8252), whose loopback
   * redirect (http://127.0.0.1/callback) matches on any port, and which may
   * have refresh tokens (offline_access).
   */
  client(opts: { clientId: string; redirectUri: string; users: Record<string, IssuerUser>; native?: boolean }): void {
    this.#provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: opts.clientId,
          token_endpoint_auth_method: 'none',
          redirect_uris: [opts.redirectUri],
          grant_types: opts.native ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
          response_types: ['code'],
          ...(opts.native ? { application_type: 'native' as const } : {}),
        },
      ],
      pkce: { required: () => true },
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
      // Scope claims in the ID token itself, which is what Hawser verifies.
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: true } },
      findAccount: (_ctx, id) => {
        const user = opts.users[id];
        if (!user) return undefined;
        return { accountId: id, claims: () => ({ sub: id, email: user.email, email_verified: true, groups: [...user.groups] }) };
      },
    });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
