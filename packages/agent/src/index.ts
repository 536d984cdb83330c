export { AgentError, AgentErrorCodes } from './errors.js';
export type { AgentErrorCode } from './errors.js';
export { loadConfig, AgentModes } from './config.js';
export type { AgentConfig, AgentMode, ConfigInput, KubeAccess, StateLocation } from './config.js';
export { Policy, PolicyRules } from './policy.js';
export type { Identity, PolicyDecision, PolicyOptions, PolicyRule } from './policy.js';
// What the agent shares with the server (request classification, headers,
// codes, claims, request and response heads) lives in @hawser/contract.
export { Relay } from './relay.js';
export type { RelayTarget } from './relay-target.js';
export { RelayResetCode } from './relay-response.js';
export { readBootstrapToken } from './bootstrap-token.js';
