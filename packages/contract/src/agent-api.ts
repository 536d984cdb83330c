/**
 * The agent listener's wire contract: its paths, the WebSocket close codes
 * the server ends a tunnel with, the error codes an agent acts on, and the
 * error body both register and renew answer with. The agent decides what to
 * do from these codes, never from message text.
 */

/** Paths of the agent listener. */
export const AgentPaths = {
  /** POST, no client certificate: the bootstrap token is the credential. */
  REGISTER: '/agent/v1/register',
  /** POST over mTLS with the current certificate. */
  RENEW: '/agent/v1/renew',
  /** WebSocket upgrade over mTLS: the tunnel. */
  TUNNEL: '/agent/v1/tunnel',
} as const;

/**
 * WebSocket close codes the server sends to agents. 4000-4999 is the
 * application range; 4403 mirrors HTTP 403 so an agent can tell "stop, you
 * are no longer allowed" from "reconnect later".
 */
export const TunnelCloseCodes = {
  /** Server drain or shutdown: reconnect (elsewhere) with backoff. */
  GOING_AWAY: 1001,
  /** Cluster deregistered or certificate revoked: stop retrying; re-register only with a new token. */
  DEREGISTERED: 4403,
  /** The agent's HELLO had values the server does not store (too long, control characters): fix the agent, then reconnect. */
  METADATA_INVALID: 4400,
  /** The agent reported a cluster uid other than the one recorded for its cluster: it was pointed at another cluster's identity. */
  CLUSTER_UID_CHANGED: 4412,
  /** The CA that issued this agent's certificate was retired (`hawser ca retire --force`): register or join again. */
  CA_RETIRED: 4495,
} as const;
export type TunnelCloseCode = (typeof TunnelCloseCodes)[keyof typeof TunnelCloseCodes];

/** The reason texts that go with the close codes (WebSocket reasons are at most 123 bytes); for people, not for matching. */
export const TunnelCloseReasons = {
  GOING_AWAY: 'server shutting down',
  DEREGISTERED: 'cluster deregistered',
  CA_RETIRED: 'the CA of this certificate was retired; register again',
} as const;

/**
 * Server error codes an agent receives from the agent listener (in the JSON
 * error body and, on a refused tunnel upgrade, the {@link ERROR_CODE_HEADER}).
 */
export const AgentWireErrorCodes = {
  /** The cluster was deregistered: stop; only a new bootstrap token helps. */
  CLUSTER_DEREGISTERED: 'HSR_ERR_CLUSTER_DEREGISTERED',
  /** This certificate was revoked: stop, as for a deregistered cluster. */
  CERTIFICATE_REVOKED: 'HSR_ERR_CERTIFICATE_REVOKED',
  /** The bootstrap token is invalid, expired or used. */
  TOKEN_INVALID: 'HSR_ERR_TOKEN_INVALID',
  CSR_INVALID: 'HSR_ERR_CSR_INVALID',
  CERTIFICATE_REQUIRED: 'HSR_ERR_CERTIFICATE_REQUIRED',
  CERTIFICATE_INVALID: 'HSR_ERR_CERTIFICATE_INVALID',
  /** A ServiceAccount token presented to join (`--join kubernetes`) was refused: expired, another audience, issuer or ServiceAccount, or a bad signature. */
  JOIN_TOKEN_INVALID: 'HSR_ERR_JOIN_TOKEN_INVALID',
} as const;
export type AgentWireErrorCode = (typeof AgentWireErrorCodes)[keyof typeof AgentWireErrorCodes];

/** Codes after which an agent stops dialing and waits for a new identity. */
export function meansDeregistered(code: string): boolean {
  return code === AgentWireErrorCodes.CLUSTER_DEREGISTERED || code === AgentWireErrorCodes.CERTIFICATE_REVOKED;
}

/** Carries the error code on a refused tunnel upgrade, where a WebSocket client sees headers more easily than a body. */
export const ERROR_CODE_HEADER = 'x-hawser-error';

/** The JSON body of every error response of both listeners. */
export interface ErrorBody {
  error: { code: string; message: string; requestId?: string };
}

/** The server's answer to register and renew. */
export interface IssuedCertificate {
  clusterId: string;
  clusterName: string;
  /** PEM of the agent's new client certificate. */
  certificate: string;
  /** PEMs the agent trusts the server by from now on. */
  caBundle: string[];
  /** ISO 8601. */
  notAfter: string;
}

/**
 * The OPEN payload of a stream the server opens to ask the agent to renew
 * its certificate now (during a CA rotation). The agent ends the stream and
 * renews; an older agent resets it as an unreadable request head, which
 * costs nothing. It cannot be taken for a request head (a JSON object).
 */
export const RENEW_SIGNAL = 'hawser:renew-certificate/v1';

/** The agent policy rule behind a refusal (`verb-ceiling`, ...), next to its x-hawser-error code: the server's metrics count refusals by it. */
export const ERROR_RULE_HEADER = 'x-hawser-rule';
