import { TIERS, tierGroup, type AuthorizationMode, type RequestInfo } from '@hawser/contract';
import type { AgentMode } from './config.js';
import { AgentErrorCodes, type AgentErrorCode } from './errors.js';

/**
 * The agent's last word on what it will do in its cluster, whatever the
 * server asks. Impersonation is not capped by the agent's own RBAC (the API
 * server authorizes an impersonated request as the impersonated identity),
 * so this ceiling is what keeps a read-only agent read-only.
 */
export interface PolicyOptions {
  mode: AgentMode;
  authzMode: AuthorizationMode;
  impersonationPrefix: string;
  denyResources: readonly string[];
  /**
   * Namespaces no write, exec, attach, port-forward or proxy may touch in
   * read-write or full mode (the Namespace objects of those names
   * included). Reads are unaffected.
   */
  protectedNamespaces?: readonly string[];
}

/** The identity the server asks the agent to act as. */
export interface Identity {
  user?: string;
  groups: string[];
}

/** Names of the rules, as they appear in refusals, logs and docs/security.md. */
export const PolicyRules = {
  IDENTITY_REQUIRED: 'identity-required',
  IDENTITY_PREFIX: 'identity-prefix',
  SYSTEM_IDENTITY: 'no-system-identities',
  TIER_GROUP: 'tier-groups-only',
  VERB_CEILING: 'verb-ceiling',
  SUBRESOURCE_CEILING: 'exec-attach-port-forward-proxy',
  DENY_LIST: 'resource-deny-list',
  PROTECTED_NAMESPACE: 'protected-namespace',
} as const;

export type PolicyRule = (typeof PolicyRules)[keyof typeof PolicyRules];

export type PolicyDecision =
  | { allowed: true; impersonate?: { user: string; groups: string[] } }
  | { allowed: false; rule: PolicyRule; reason: string; code?: AgentErrorCode };

const READ_VERBS = ['get', 'list', 'watch'];
const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'];
/** Verbs each mode allows on ordinary resources. */
const modeVerbs: Record<AgentMode, readonly string[]> = {
  'read-only': READ_VERBS,
  'read-write': [...READ_VERBS, ...WRITE_VERBS],
  full: [...READ_VERBS, ...WRITE_VERBS],
};
/**
 * Subresources that run code or open a path into pods and nodes: a GET on
 * pods/exec is a WebSocket exec and a GET on nodes/proxy reaches the
 * kubelet, so they are gated by mode, not by verb.
 */
const interactiveSubresources = new Set(['exec', 'attach', 'portforward', 'proxy']);
/**
 * Creates that only ask the API server a question about the caller
 * (`kubectl auth can-i`, `kubectl auth whoami`); they change nothing.
 */
const reviewResources = new Set([
  'authorization.k8s.io/selfsubjectaccessreviews',
  'authorization.k8s.io/selfsubjectrulesreviews',
  'authentication.k8s.io/selfsubjectreviews',
]);

export class Policy {
  readonly #opts: PolicyOptions;
  readonly #tierGroups: Set<string>;
  readonly #protected: ReadonlySet<string>;

  constructor(opts: PolicyOptions) {
    this.#opts = opts;
    this.#protected = new Set(opts.protectedNamespaces ?? []);
    this.#tierGroups = new Set(TIERS.map((t) => tierGroup(opts.impersonationPrefix, t)));
  }

  decide(info: RequestInfo, identity: Identity): PolicyDecision {
    const who = this.#checkIdentity(identity);
    if (!who.allowed) return who;
    const what = this.#checkRequest(info);
    if (!what.allowed) return what;
    return who;
  }

  #checkIdentity(identity: Identity): PolicyDecision {
    const { authzMode, impersonationPrefix: prefix } = this.#opts;
    // In shared mode the agent acts as itself and impersonates nobody,
    // whatever identity the server names.
    if (authzMode === 'shared') return { allowed: true };
    if (!identity.user) {
      return { allowed: false, rule: PolicyRules.IDENTITY_REQUIRED, reason: `authorization mode ${authzMode} requires a user to impersonate` };
    }
    for (const name of [identity.user, ...identity.groups]) {
      if (name.startsWith('system:')) {
        return { allowed: false, rule: PolicyRules.SYSTEM_IDENTITY, reason: `"${name}" is a system: identity` };
      }
      if (!name.startsWith(prefix) || name.length === prefix.length) {
        return { allowed: false, rule: PolicyRules.IDENTITY_PREFIX, reason: `"${name}" does not carry the prefix "${prefix}"` };
      }
    }
    if (authzMode === 'tier') {
      const bad = identity.groups.find((g) => !this.#tierGroups.has(g));
      if (bad) return { allowed: false, rule: PolicyRules.TIER_GROUP, reason: `"${bad}" is not a tier group` };
    }
    return { allowed: true, impersonate: { user: identity.user, groups: [...identity.groups] } };
  }

  #checkRequest(info: RequestInfo): PolicyDecision {
    const { mode, denyResources } = this.#opts;
    if (!info.isResourceRequest) {
      // Discovery, /version, /openapi: reads. Anything else has no business here.
      if (info.verb === 'get' || info.verb === 'head') return { allowed: true };
      return { allowed: false, rule: PolicyRules.VERB_CEILING, reason: `${info.verb.toUpperCase()} on a non-resource path` };
    }
    const qualified = info.apiGroup ? `${info.resource}.${info.apiGroup}` : info.resource;
    if (denyResources.includes(info.resource) || denyResources.includes(qualified)) {
      return { allowed: false, rule: PolicyRules.DENY_LIST, reason: `${qualified} is on the agent's deny list` };
    }
    // The subresource decides, not the HTTP method: a GET upgrade of
    // pods/exec runs a command. The deprecated /proxy/ path prefix makes the
    // verb itself "proxy", with no subresource.
    const sub = info.verb === 'proxy' ? 'proxy' : info.subresource;
    const guarded = this.#checkProtected(info, sub);
    if (guarded) return guarded;
    if (interactiveSubresources.has(sub)) {
      if (mode === 'full') return { allowed: true };
      return { allowed: false, rule: PolicyRules.SUBRESOURCE_CEILING, reason: `${info.resource}/${sub} needs agent mode full; this agent runs ${mode}` };
    }
    if (info.verb === 'create' && reviewResources.has(`${info.apiGroup}/${info.resource}`)) return { allowed: true };
    if (!modeVerbs[mode].includes(info.verb)) {
      return {
        allowed: false,
        rule: PolicyRules.VERB_CEILING,
        reason: `${info.verb} is above this agent's ceiling (mode ${mode} allows ${modeVerbs[mode].join(', ')})`,
      };
    }
    return { allowed: true };
  }

  /**
   * The protected-namespace rule. The namespace is the one the API server
   * reads from the path (request-info.ts): for the Namespace object itself
   * (`/api/v1/namespaces/kube-system`, its /status and /finalize) that is
   * its own name, so `delete namespace kube-system` is caught here too. A
   * deletecollection of namespaces would take every protected one with it.
   * Only read-write and full can get here with a write at all; read-only
   * refuses them by its verb ceiling, so the rule names itself only where it
   * is the reason.
   */
  #checkProtected(info: RequestInfo, sub: string): PolicyDecision | undefined {
    if (this.#protected.size === 0 || this.#opts.mode === 'read-only') return undefined;
    const writes = WRITE_VERBS.includes(info.verb) || interactiveSubresources.has(sub);
    if (!writes) return undefined;
    if (info.verb === 'create' && reviewResources.has(`${info.apiGroup}/${info.resource}`)) return undefined;
    const namespaceObjects = info.apiGroup === '' && info.resource === 'namespaces';
    if (info.namespace && this.#protected.has(info.namespace)) {
      const what = namespaceObjects && !sub ? `${info.verb} of the Namespace object ${info.namespace}` : `${info.verb} on ${info.resource}${sub ? `/${sub}` : ''} in namespace ${info.namespace}`;
      return this.#refuseProtected(what);
    }
    if (namespaceObjects && info.verb === 'deletecollection') {
      return this.#refuseProtected('deletecollection of namespaces would delete the protected ones too');
    }
    return undefined;
  }

  #refuseProtected(what: string): PolicyDecision {
    return {
      allowed: false,
      rule: PolicyRules.PROTECTED_NAMESPACE,
      code: AgentErrorCodes.PROTECTED_NAMESPACE,
      reason: `${what} is refused: protected namespaces (${[...this.#protected].join(', ')}) allow reads only`,
    };
  }
}
