/**
 * Headers of a relayed request that the server and the agent must read
 * alike: the ones the server uses to tell the agent who is asking. The
 * ones neither end ever forwards are stream-head.ts's HOP_BY_HOP.
 */

/** Set by the server on every relayed request; the agent reads them and never forwards them. */
export const IdentityHeaders = {
  USER: 'x-hawser-user',
  GROUP: 'x-hawser-group',
  REQUEST_ID: 'x-hawser-request-id',
} as const;

/** Every header name under this prefix is Hawser's own and is stripped from what callers send. */
export const HAWSER_HEADER_PREFIX = 'x-hawser-';

/** The impersonated extra the cluster's audit log shows, matching Hawser's own audit event. */
export const REQUEST_ID_EXTRA = 'hawser.dev/request-id';
