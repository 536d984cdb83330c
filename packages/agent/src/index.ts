export { AgentError, AgentErrorCodes } from './errors.js';
export type { AgentErrorCode } from './errors.js';
export { loadConfig, AgentModes } from './config.js';
export type { AgentConfig, AgentMode, ConfigInput, KubeAccess, StateLocation } from './config.js';
export { Policy, PolicyRules } from './policy.js';
export type { Identity, PolicyDecision, PolicyOptions, PolicyRule } from './policy.js';
// What the agent shares with the server (request classification, headers,
// codes, claims) lives in @hawser/contract, not here.
export { Relay } from './relay.js';
export { readBootstrapToken } from './bootstrap-token.js';
