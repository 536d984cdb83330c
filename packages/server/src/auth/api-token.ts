import { createHash, randomBytes } from 'node:crypto';

/** Hawser API tokens are recognisable at a glance (and by secret scanners). */
export const API_TOKEN_PREFIX = 'hwt_';

/** A new random API token; shown once, stored only as its hash. */
export function mintApiToken(): string {
  return API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** SHA-256 hex of a token: what the store keeps and looks up by. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function looksLikeApiToken(token: string): boolean {
  return token.startsWith(API_TOKEN_PREFIX) && token.length === API_TOKEN_PREFIX.length + 43;
}
