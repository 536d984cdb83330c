/**
 * Names around a relayed request that the server and the agent must read
 * alike. The identity travels in the request head (stream-head.ts), never
 * in a header; the header sets neither end forwards are stream-head.ts's
 * HOP_BY_HOP and isForwardableRequestHeader.
 */

/** Every header name under this prefix is Hawser's own and is stripped from what callers send. */
export const HAWSER_HEADER_PREFIX = 'x-hawser-';

/** The impersonated extra the cluster's audit log shows, matching Hawser's own audit event. */
export const REQUEST_ID_EXTRA = 'hawser.dev/request-id';

/**
 * Hawser's own browser cookies (the console session, a pending OIDC sign-in)
 * all start with this. They are credentials for the Hawser server and must
 * never travel toward a cluster: an agent or API server there could replay
 * them against Hawser, for every other cluster.
 */
export const HAWSER_COOKIE_PREFIX = '__Host-hawser-';

/**
 * A Cookie header as it may travel toward an API server: the operator's
 * other cookies (a service proxied through the API server may use them),
 * without Hawser's. Undefined when nothing is left.
 */
export function forwardableCookie(value: string): string | undefined {
  const kept = value
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c && !c.startsWith(HAWSER_COOKIE_PREFIX));
  return kept.length > 0 ? kept.join('; ') : undefined;
}
