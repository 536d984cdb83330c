import { createPublicKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { BOOTSTRAP_AUDIENCE, type BootstrapClaims } from '@hawser/contract';
import { SignJWT, jwtVerify } from 'jose';

export { BOOTSTRAP_AUDIENCE };
export type { BootstrapClaims };

/** JOSE header `typ`; checked on verify so no other JWT of ours can pass as one. */
export const BOOTSTRAP_TOKEN_TYPE = 'hawser-bootstrap+jwt';
/** The only algorithm accepted: the allow-list is what stops `alg: none` and HS256-with-the-public-key forgeries. */
export const BOOTSTRAP_ALGORITHMS = ['ES256'] as const;
/** Tokens longer than this are refused before parsing. */
const MAX_TOKEN_LENGTH = 4096;

/** Why a token was refused. Logged and audited; the caller only ever hears "invalid". */
export const BootstrapRefusals = {
  MALFORMED: 'malformed',
  ALGORITHM_NOT_ALLOWED: 'algorithm-not-allowed',
  BAD_SIGNATURE: 'bad-signature',
  EXPIRED: 'expired',
  WRONG_AUDIENCE: 'wrong-audience',
  WRONG_ISSUER: 'wrong-issuer',
  WRONG_TYPE: 'wrong-type',
  MISSING_CLAIMS: 'missing-claims',
} as const;
export type BootstrapRefusal = (typeof BootstrapRefusals)[keyof typeof BootstrapRefusals];

export type BootstrapVerification =
  | { readonly ok: true; readonly claims: BootstrapClaims }
  | { readonly ok: false; readonly reason: BootstrapRefusal; readonly detail: string };

const JOSE_REASONS: Readonly<Record<string, BootstrapRefusal>> = {
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm-not-allowed',
  ERR_JOSE_NOT_SUPPORTED: 'algorithm-not-allowed',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad-signature',
  ERR_JWT_EXPIRED: 'expired',
  ERR_JWS_INVALID: 'malformed',
  ERR_JWT_INVALID: 'malformed',
};

const CLAIM_REASONS: Readonly<Record<string, BootstrapRefusal>> = {
  aud: 'wrong-audience',
  iss: 'wrong-issuer',
  typ: 'wrong-type',
};

/**
 * Mints and verifies bootstrap tokens (signed JWTs, ES256). Verification here
 * covers signature and claims only; single use is the store's job
 * (`consumeBootstrapToken`).
 */
export class BootstrapTokens {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #issuer: string;

  /**
   * @param signingKey EC P-256 private key
   * @param issuer `iss` written and required; stable for one installation
   */
  constructor(signingKey: KeyObject, issuer: string) {
    this.#privateKey = signingKey;
    this.#publicKey = createPublicKey(signingKey);
    this.#issuer = issuer;
  }

  get issuer(): string {
    return this.#issuer;
  }

  /** The verification key (for tests and for agents that want to check offline). */
  get publicKey(): KeyObject {
    return this.#publicKey;
  }

  /** Signs a new token; `jti` is 128 random bits unless given (tests). */
  async mint(input: {
    clusterId: string;
    clusterName: string;
    agentUrl: string;
    caHash: string;
    ttlMs: number;
    now?: Date;
    jti?: string;
  }): Promise<{ token: string; claims: BootstrapClaims }> {
    const iat = Math.floor((input.now ?? new Date()).getTime() / 1000);
    const claims: BootstrapClaims = {
      jti: input.jti ?? randomBytes(16).toString('base64url'),
      cid: input.clusterId,
      cnm: input.clusterName,
      url: input.agentUrl,
      cah: input.caHash,
      aud: BOOTSTRAP_AUDIENCE,
      iss: this.#issuer,
      iat,
      exp: iat + Math.max(1, Math.round(input.ttlMs / 1000)),
    };
    const token = await new SignJWT({ cid: claims.cid, cnm: claims.cnm, url: claims.url, cah: claims.cah })
      .setProtectedHeader({ alg: 'ES256', typ: BOOTSTRAP_TOKEN_TYPE })
      .setJti(claims.jti)
      .setAudience(claims.aud)
      .setIssuer(claims.iss)
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
      .sign(this.#privateKey);
    return { token, claims };
  }

  /** Checks algorithm, signature, type, audience, issuer, expiry and claim shapes. */
  async verify(token: unknown, now?: Date): Promise<BootstrapVerification> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return { ok: false, reason: 'malformed', detail: 'not a string of acceptable length' };
    }
    try {
      const { payload } = await jwtVerify(token, this.#publicKey, {
        algorithms: [...BOOTSTRAP_ALGORITHMS],
        audience: BOOTSTRAP_AUDIENCE,
        issuer: this.#issuer,
        typ: BOOTSTRAP_TOKEN_TYPE,
        requiredClaims: ['jti', 'exp', 'iat'],
        ...(now ? { currentDate: now } : {}),
      });
      const { jti, cid, cnm, url, cah } = payload as Record<string, unknown>;
      for (const [name, value] of Object.entries({ jti, cid, cnm, url, cah })) {
        if (typeof value !== 'string' || value === '') {
          return { ok: false, reason: 'missing-claims', detail: `claim ${name} missing or not a string` };
        }
      }
      return { ok: true, claims: payload as unknown as BootstrapClaims };
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      const claim = (err as { claim?: string }).claim ?? '';
      const reason =
        code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
          ? (CLAIM_REASONS[claim] ?? 'missing-claims')
          : (JOSE_REASONS[code] ?? 'malformed');
      return { ok: false, reason, detail: (err as Error).message };
    }
  }
}
