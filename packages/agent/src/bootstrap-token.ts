import { AgentError, AgentErrorCodes } from './errors.js';

/** The claims the agent needs from a bootstrap token (see docs/registration). */
export interface BootstrapClaims {
  /** Cluster id the token registers. */
  cid: string;
  /** Cluster name, for logs. */
  cnm?: string;
  /** The server's agent endpoint. */
  url: string;
  /** `sha256:<hex>` of the server CA's SubjectPublicKeyInfo. */
  cah: string;
  exp: number;
}

/**
 * Reads a bootstrap token's claims without verifying its signature: only the
 * server can do that. The agent uses the claims to find the server and to
 * pin its CA before it sends the token anywhere, as kubeadm's discovery
 * token does.
 */
export function readBootstrapToken(token: string): BootstrapClaims {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw malformed('it is not a JWT (three dot-separated parts)');
  let claims: Partial<BootstrapClaims>;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Partial<BootstrapClaims>;
  } catch {
    throw malformed('its payload is not base64url-encoded JSON');
  }
  if (typeof claims.cid !== 'string' || !claims.cid) throw malformed('it has no cluster id (cid)');
  if (typeof claims.url !== 'string' || !/^https:\/\//.test(claims.url)) throw malformed('it has no https server URL (url)');
  if (typeof claims.cah !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(claims.cah)) throw malformed('it has no CA hash (cah)');
  if (typeof claims.exp !== 'number') throw malformed('it has no expiry (exp)');
  return claims as BootstrapClaims;
}

function malformed(why: string): AgentError {
  return new AgentError(AgentErrorCodes.TOKEN_MALFORMED, `the bootstrap token is malformed: ${why}; mint a new one with "hawser cluster token NAME"`);
}
