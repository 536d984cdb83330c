export { AgentError, AgentErrorCodes } from './errors.js';
export type { AgentErrorCode } from './errors.js';
export { loadConfig, AgentModes, AuthzModes } from './config.js';
export type { AgentConfig, AgentMode, AuthzMode, ConfigInput, KubeAccess, StateLocation } from './config.js';
export { Policy, PolicyRules, TIERS } from './policy.js';
export type { Identity, PolicyDecision, PolicyOptions, PolicyRule } from './policy.js';
// The Kubernetes request vocabulary the server shares with the agent, so
// both sides (and the audit) name a request's verb and resource alike.
export { classifyRequest, parseRequestInfo, MAX_TARGET_BYTES } from './request-info.js';
export type { Classification, RequestInfo } from './request-info.js';
export { kubeStatus } from './kube-status.js';
export { IdentityHeaders, REQUEST_ID_EXTRA, Relay } from './relay.js';
export { readBootstrapToken } from './bootstrap-token.js';
export type { BootstrapClaims } from './bootstrap-token.js';
export { spkiHash } from './server-connection.js';
