import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** A token request the provider answered, for assertions. */
export interface TokenRequest {
  grantType: string;
  clientId: string;
  username: string;
}

/**
 * An OpenID Connect provider on loopback: discovery, a JWKS whose signing key
 * a test can rotate, and a token endpoint (password grant) that issues ID
 * tokens for a fixed directory of users. No identity provider can be built on this machine, so this is the
 * one stand-in of the OIDC end-to-end test; everything it talks to is real.
 */
export class OidcProvider {
  readonly issuer: string;
  readonly tokenRequests: TokenRequest[] = [];
  /** When the key set was served, in ms since the epoch. */
  readonly jwksFetches: number[] = [];
  #server: Server;
  #keys: { kid: string; pair: KeyPair; jwk: JWK }[] = [];
  #next = 1;

  private constructor(server: Server, issuer: string) {
    this.#server = server;
    this.issuer = issuer;
  }

  static async start(opts: { audience: string; users: Record<string, string[]> }): Promise<OidcProvider> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const provider = new OidcProvider(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await provider.rotate();
    server.on('request', (req, res) => {
      const url = req.url ?? '';
      if (req.method === 'GET' && url === '/.well-known/openid-configuration') {
        const i = provider.issuer;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer: i, jwks_uri: `${i}/jwks`, token_endpoint: `${i}/token`, authorization_endpoint: `${i}/authorize`, id_token_signing_alg_values_supported: ['ES256'] }));
      } else if (req.method === 'GET' && url === '/jwks') {
        provider.jwksFetches.push(Date.now());
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: provider.#keys.map((k) => k.jwk) }));
      } else if (req.method === 'POST' && url === '/token') {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          const form = new URLSearchParams(body);
          const request = { grantType: form.get('grant_type') ?? '', clientId: form.get('client_id') ?? '', username: form.get('username') ?? '' };
          provider.tokenRequests.push(request);
          const groups = opts.users[request.username];
          if (request.grantType !== 'password' || request.clientId !== opts.audience || groups === undefined) {
            res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request' }));
            return;
          }
          void provider.idToken({ email: request.username, groups }, opts.audience).then((token) => {
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ id_token: token, token_type: 'Bearer', expires_in: 300 }));
          });
        });
      } else {
        res.writeHead(404).end();
      }
    });
    return provider;
  }

  /** Publish a new signing key and sign with it from now on; the old key stays published. */
  async rotate(): Promise<void> {
    const pair = await generateKeyPair('ES256');
    const kid = `key-${this.#next++}`;
    this.#keys.push({ kid, pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' } });
  }

  /** An ID token for `claims`, signed with the current key (or a key nobody published). */
  async idToken(claims: Record<string, unknown>, audience: string, opts: { unpublishedKey?: boolean; expiresIn?: string } = {}): Promise<string> {
    const current = this.#keys[this.#keys.length - 1]!;
    const pair = opts.unpublishedKey ? await generateKeyPair('ES256') : current.pair;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: opts.unpublishedKey ? 'not-published' : current.kid })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(opts.expiresIn ?? '5m')
      .sign(pair.privateKey);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
