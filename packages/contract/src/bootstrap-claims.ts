/** `aud` of every bootstrap token. */
export const BOOTSTRAP_AUDIENCE = 'hawser-agent-bootstrap';

/**
 * The claims of a bootstrap token. The server signs and verifies them; the
 * agent decodes them without verifying (only the server can) to find the
 * server and pin its CA before it sends the token anywhere, as kubeadm's
 * discovery token does.
 */
export interface BootstrapClaims {
  /** Unique token id; the store records its single use. */
  readonly jti: string;
  /** Cluster id (uuid). */
  readonly cid: string;
  /** Cluster name. */
  readonly cnm: string;
  /** Agent endpoint URL the agent dials (`https://host:port`). */
  readonly url: string;
  /** `sha256:<hex>` of the server CA's SubjectPublicKeyInfo, to pin on first contact. */
  readonly cah: string;
  readonly aud: typeof BOOTSTRAP_AUDIENCE;
  readonly iss: string;
  readonly iat: number;
  readonly exp: number;
}

/** The claims the agent checks and uses; the others it leaves to the server. */
export type AgentBootstrapClaims = Pick<BootstrapClaims, 'cid' | 'url' | 'cah' | 'exp'> & Partial<Pick<BootstrapClaims, 'cnm'>>;
