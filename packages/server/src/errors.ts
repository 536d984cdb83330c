import { AgentWireErrorCodes } from '@hawser/contract';

/**
 * Stable error codes of the server. Callers and log queries match on `code`,
 * never on the message. docs/errors.md lists every code; a test keeps the two
 * in sync both ways.
 */
export const ErrorCodes = {
  // The codes an agent acts on are part of the agent contract.
  ...AgentWireErrorCodes,
  CONFIG_INVALID: 'HSR_ERR_CONFIG_INVALID',
  CLUSTER_NAME_INVALID: 'HSR_ERR_CLUSTER_NAME_INVALID',
  CLUSTER_LABEL_INVALID: 'HSR_ERR_CLUSTER_LABEL_INVALID',
  CLUSTER_EXISTS: 'HSR_ERR_CLUSTER_EXISTS',
  CLUSTER_NOT_FOUND: 'HSR_ERR_CLUSTER_NOT_FOUND',
  UNAUTHORIZED: 'HSR_ERR_UNAUTHORIZED',
  REQUEST_INVALID: 'HSR_ERR_REQUEST_INVALID',
  ROUTE_NOT_FOUND: 'HSR_ERR_ROUTE_NOT_FOUND',
  DURATION_INVALID: 'HSR_ERR_DURATION_INVALID',
  STORE_FAILED: 'HSR_ERR_STORE_FAILED',
  MIGRATION_FAILED: 'HSR_ERR_MIGRATION_FAILED',
  PKI_FAILED: 'HSR_ERR_PKI_FAILED',
  SERVER_CLOSED: 'HSR_ERR_SERVER_CLOSED',
  SERVER_UNREACHABLE: 'HSR_ERR_SERVER_UNREACHABLE',
  CLI_USAGE: 'HSR_ERR_CLI_USAGE',
  INTERNAL: 'HSR_ERR_INTERNAL',
  RELAY_PATH_INVALID: 'HSR_ERR_RELAY_PATH_INVALID',
  RELAY_TARGET_AMBIGUOUS: 'HSR_ERR_RELAY_TARGET_AMBIGUOUS',
  RELAY_BODY_NOT_ALLOWED: 'HSR_ERR_RELAY_BODY_NOT_ALLOWED',
  RELAY_HEAD_TOO_LARGE: 'HSR_ERR_RELAY_HEAD_TOO_LARGE',
  RELAY_FORBIDDEN: 'HSR_ERR_RELAY_FORBIDDEN',
  CLUSTER_NOT_CONNECTED: 'HSR_ERR_CLUSTER_NOT_CONNECTED',
  AGENT_OUTDATED: 'HSR_ERR_AGENT_OUTDATED',
  TUNNEL_BUSY: 'HSR_ERR_TUNNEL_BUSY',
  RELAY_TIMEOUT: 'HSR_ERR_RELAY_TIMEOUT',
  RELAY_AGENT_FAILED: 'HSR_ERR_RELAY_AGENT_FAILED',
  DATA_DIR_LOCKED: 'HSR_ERR_DATA_DIR_LOCKED',
  AGENT_METADATA_INVALID: 'HSR_ERR_AGENT_METADATA_INVALID',
  CLUSTER_UID_CHANGED: 'HSR_ERR_CLUSTER_UID_CHANGED',
  LAST_ADMIN_TOKEN: 'HSR_ERR_LAST_ADMIN_TOKEN',
  AUDIT_UNAVAILABLE: 'HSR_ERR_AUDIT_UNAVAILABLE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** HTTP status each code maps to when it reaches an API caller. */
const STATUS: Readonly<Record<ErrorCode, number>> = {
  HSR_ERR_CONFIG_INVALID: 500,
  HSR_ERR_CLUSTER_NAME_INVALID: 400,
  HSR_ERR_CLUSTER_LABEL_INVALID: 400,
  HSR_ERR_CLUSTER_EXISTS: 409,
  HSR_ERR_CLUSTER_NOT_FOUND: 404,
  HSR_ERR_CLUSTER_DEREGISTERED: 403,
  HSR_ERR_TOKEN_INVALID: 401,
  HSR_ERR_CSR_INVALID: 400,
  HSR_ERR_CERTIFICATE_REQUIRED: 401,
  HSR_ERR_CERTIFICATE_INVALID: 403,
  HSR_ERR_CERTIFICATE_REVOKED: 403,
  HSR_ERR_UNAUTHORIZED: 401,
  HSR_ERR_REQUEST_INVALID: 400,
  HSR_ERR_ROUTE_NOT_FOUND: 404,
  HSR_ERR_DURATION_INVALID: 400,
  HSR_ERR_STORE_FAILED: 500,
  HSR_ERR_MIGRATION_FAILED: 500,
  HSR_ERR_PKI_FAILED: 500,
  HSR_ERR_SERVER_CLOSED: 503,
  HSR_ERR_SERVER_UNREACHABLE: 503,
  HSR_ERR_CLI_USAGE: 400,
  HSR_ERR_INTERNAL: 500,
  HSR_ERR_RELAY_PATH_INVALID: 400,
  HSR_ERR_RELAY_TARGET_AMBIGUOUS: 400,
  HSR_ERR_RELAY_BODY_NOT_ALLOWED: 400,
  HSR_ERR_RELAY_HEAD_TOO_LARGE: 431,
  HSR_ERR_RELAY_FORBIDDEN: 403,
  HSR_ERR_CLUSTER_NOT_CONNECTED: 503,
  HSR_ERR_AGENT_OUTDATED: 503,
  HSR_ERR_TUNNEL_BUSY: 503,
  HSR_ERR_RELAY_TIMEOUT: 504,
  HSR_ERR_RELAY_AGENT_FAILED: 502,
  HSR_ERR_DATA_DIR_LOCKED: 409,
  HSR_ERR_AGENT_METADATA_INVALID: 400,
  HSR_ERR_CLUSTER_UID_CHANGED: 409,
  HSR_ERR_LAST_ADMIN_TOKEN: 409,
  HSR_ERR_AUDIT_UNAVAILABLE: 503,
};

/**
 * The one error class of @hawser/server. `code` is stable; `statusCode` is
 * what an HTTP caller receives; `cause` keeps the underlying error for logs
 * but is never sent to a caller.
 */
export class HawserServerError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HawserServerError';
    this.code = code;
    this.statusCode = options?.statusCode ?? STATUS[code];
  }
}

/** True when `err` is a HawserServerError, optionally with the given code. */
export function isServerError(err: unknown, code?: ErrorCode): err is HawserServerError {
  return err instanceof HawserServerError && (code === undefined || err.code === code);
}
