/**
 * Every error the agent raises carries a stable `code` (HAG_ERR_*), listed in
 * docs/errors.md. Callers and log queries match on the code, never on the
 * message.
 */
export const AgentErrorCodes = {
  CONFIG_INVALID: 'HAG_ERR_CONFIG_INVALID',
  TOKEN_MALFORMED: 'HAG_ERR_TOKEN_MALFORMED',
  NO_IDENTITY: 'HAG_ERR_NO_IDENTITY',
  SERVER_CA_MISMATCH: 'HAG_ERR_SERVER_CA_MISMATCH',
  REGISTRATION_REFUSED: 'HAG_ERR_REGISTRATION_REFUSED',
  RENEWAL_FAILED: 'HAG_ERR_RENEWAL_FAILED',
  CERTIFICATE_EXPIRED: 'HAG_ERR_CERTIFICATE_EXPIRED',
  DEREGISTERED: 'HAG_ERR_DEREGISTERED',
  STATE_UNAVAILABLE: 'HAG_ERR_STATE_UNAVAILABLE',
  PROXY_CONNECT_FAILED: 'HAG_ERR_PROXY_CONNECT_FAILED',
  POLICY_DENIED: 'HAG_ERR_POLICY_DENIED',
  REQUEST_AMBIGUOUS: 'HAG_ERR_REQUEST_AMBIGUOUS',
  UPSTREAM_FAILED: 'HAG_ERR_UPSTREAM_FAILED',
  AGENT_RBAC_DENIED: 'HAG_ERR_AGENT_RBAC_DENIED',
  REQUEST_HEAD_INVALID: 'HAG_ERR_REQUEST_HEAD_INVALID',
  REQUEST_BODY_MISMATCH: 'HAG_ERR_REQUEST_BODY_MISMATCH',
  PROTECTED_NAMESPACE: 'HAG_ERR_PROTECTED_NAMESPACE',
} as const;

export type AgentErrorCode = (typeof AgentErrorCodes)[keyof typeof AgentErrorCodes];

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }
}
