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
