import { SPKI_HASH_PATTERN, type AgentBootstrapClaims } from '@hawser/contract';
import { AgentError, AgentErrorCodes } from './errors.js';

/**
 * Reads a bootstrap token's claims without verifying its signature: only the
 * server can do that. The agent uses the claims to find the server and to
 * pin its CA before it sends the token anywhere, as kubeadm's discovery
 * token does.
 */
export function readBootstrapToken(token: string): AgentBootstrapClaims {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw malformed('it is not a JWT (three dot-separated parts)');
  let claims: Partial<AgentBootstrapClaims>;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Partial<AgentBootstrapClaims>;
  } catch {
    throw malformed('its payload is not base64url-encoded JSON');
  }
  if (typeof claims.cid !== 'string' || !claims.cid) throw malformed('it has no cluster id (cid)');
  if (typeof claims.url !== 'string' || !/^https:\/\//.test(claims.url)) throw malformed('it has no https server URL (url)');
  if (typeof claims.cah !== 'string' || !SPKI_HASH_PATTERN.test(claims.cah)) throw malformed('it has no CA hash (cah)');
  if (typeof claims.exp !== 'number') throw malformed('it has no expiry (exp)');
  return claims as AgentBootstrapClaims;
}

function malformed(why: string): AgentError {
  return new AgentError(AgentErrorCodes.TOKEN_MALFORMED, `the bootstrap token is malformed: ${why}; mint a new one with "hawser cluster token NAME"`);
}
