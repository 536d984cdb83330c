import { AgentError, AgentErrorCodes, type AgentErrorCode } from './errors.js';

/**
 * Why getting an identity failed, and how soon to try again. A fresh
 * install often starts the agent before the server's DNS name, load
 * balancer or the server itself is up: those failures pass in seconds, so
 * they back off as the tunnel does. Only an answer that will not change by
 * itself (the server refused the token, the CA hash does not match, there
 * is no token) waits long, so a broken install does not hammer the server.
 */
export interface RegistrationFailure {
  readonly code: AgentErrorCode;
  /** True: retry with the tunnel's backoff (seconds). False: wait the slow interval. */
  readonly transient: boolean;
  /** What happened and what the operator can do about it, one sentence. */
  readonly message: string;
}

/** Socket and resolver error codes that mean "not reachable right now". */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
const DNS_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME']);
/** Answers from a proxy or load balancer in front of the server, or a server that is starting. */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** Local failures that no amount of retrying fixes; everything else from the state store is passing. */
const PERMANENT: ReadonlySet<string> = new Set<string>([
  AgentErrorCodes.NO_IDENTITY,
  AgentErrorCodes.CERTIFICATE_EXPIRED,
  AgentErrorCodes.SERVER_CA_MISMATCH,
  AgentErrorCodes.TOKEN_MALFORMED,
  AgentErrorCodes.REGISTRATION_REFUSED,
  AgentErrorCodes.DEREGISTERED,
  AgentErrorCodes.CONFIG_INVALID,
  AgentErrorCodes.STATE_CORRUPT,
]);

function errnoOf(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || DNS_CODES.has(e.code))) return e.code;
  }
  return undefined;
}

/** Messages Node gives without a code: a TLS handshake cut short, a reply cut short, our own connect timeout. */
function looksInterrupted(message: string): boolean {
  return /socket hang up|disconnected before secure TLS connection|timed out|ECONNRESET|ECONNREFUSED/i.test(message);
}

/**
 * The AgentError for a connection to the server that did not get an
 * answer: SERVER_NAME_UNRESOLVED for DNS, SERVER_UNREACHABLE otherwise.
 * Undefined when `err` is not a network failure (a certificate error, say).
 */
export function networkFailure(err: unknown, host: string, hostname = host): AgentError | undefined {
  if (err instanceof AgentError) return undefined;
  const errno = errnoOf(err);
  const message = (err as Error | undefined)?.message ?? String(err);
  if (errno && DNS_CODES.has(errno)) {
    return new AgentError(
      AgentErrorCodes.SERVER_NAME_UNRESOLVED,
      `cannot resolve the server name ${hostname} (${errno}): check the server URL in the bootstrap token (or --server-url) and this cluster's DNS; if the name was just created, this passes by itself`,
      { cause: err },
    );
  }
  if (errno || looksInterrupted(message)) {
    return new AgentError(
      AgentErrorCodes.SERVER_UNREACHABLE,
      `cannot reach the Hawser server at ${host} (${errno ?? message}): check that the server runs and that this cluster may connect to ${host} (firewall, NetworkPolicy, HTTPS proxy)`,
      { cause: err },
    );
  }
  return undefined;
}

/** Classifies whatever registration (or loading the stored identity) threw. */
export function classifyRegistrationFailure(err: unknown, serverHost: string): RegistrationFailure {
  if (err instanceof AgentError) {
    if (err.code === AgentErrorCodes.SERVER_UNREACHABLE || err.code === AgentErrorCodes.SERVER_NAME_UNRESOLVED || err.code === AgentErrorCodes.SERVER_UNAVAILABLE) {
      return { code: err.code, transient: true, message: err.message };
    }
    return { code: err.code, transient: !PERMANENT.has(err.code), message: err.message };
  }
  const host = serverHost;
  const network = networkFailure(err, host, host.replace(/:\d+$/, ''));
  if (network) return { code: network.code, transient: true, message: network.message };
  // Anything else unexpected (a bug, a certificate the TLS layer rejected): say so, and do not hammer.
  return { code: AgentErrorCodes.REGISTRATION_REFUSED, transient: false, message: (err as Error | undefined)?.message ?? String(err) };
}
