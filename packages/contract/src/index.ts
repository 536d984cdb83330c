// @hawser/contract: what the server and the agent agree on. It imports
// nothing outside itself (node:crypto only, for the SPKI hash) and does no
// I/O, so either side can depend on it without pulling in the other.
export { AgentPaths, AgentWireErrorCodes, ERROR_CODE_HEADER, TunnelCloseCodes, TunnelCloseReasons, meansDeregistered, RENEW_SIGNAL } from './agent-api.js';
export type { AgentWireErrorCode, ErrorBody, IssuedCertificate, TunnelCloseCode } from './agent-api.js';
export { BOOTSTRAP_AUDIENCE } from './bootstrap-claims.js';
export type { AgentBootstrapClaims, BootstrapClaims } from './bootstrap-claims.js';
export {
  AUTHORIZATION_MODES,
  DEFAULT_AUTHORIZATION_MODE,
  DEFAULT_IMPERSONATION_PREFIX,
  IMPERSONATION_PREFIX_RULE,
  TIERS,
  isAuthorizationMode,
  isImpersonationPrefix,
  tierGroup,
  AGENT_MODES,
  isAgentMode,
} from './impersonation.js';
export type { AuthorizationMode, Tier, AgentModeName } from './impersonation.js';
export { isDiscoveryPath, kubeStatus, warningHeader } from './kube-status.js';
export { REDACT_PATHS } from './redaction.js';
export { HAWSER_COOKIE_PREFIX, HAWSER_HEADER_PREFIX, REQUEST_ID_EXTRA, forwardableCookie } from './relay-headers.js';
export { classifyRequest, parseRequestInfo, MAX_TARGET_BYTES } from './request-info.js';
export type { Classification, RequestInfo } from './request-info.js';
export { SPKI_HASH_PATTERN, spkiHash } from './spki-hash.js';
export * from './stream-head.js';
export { LOG_FORMATS, LOG_LEVEL_NAMES, LogFields, isLogFormat, logLineProblems, prettyLogLine, resolveLogFormat, sharedLogOptions } from './log-schema.js';
export type { LogFormat, LogLevelName } from './log-schema.js';
export { ERROR_RULE_HEADER } from './agent-api.js';
