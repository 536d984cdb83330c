import { describe, expect, it } from 'vitest';
import { Refusal } from '../src/api.js';
import { refusalSentence } from '../src/refusal-sentence.js';

describe('refusals as sentences', () => {
  it("words the operator's RBAC refusal as what they cannot do, where, on which cluster, with the API server's words after", () => {
    const message = 'secrets is forbidden: User "hawser:carol" cannot list resource "secrets" in API group "" in the namespace "payments"';
    const s = refusalSentence(new Refusal(403, message, 'Forbidden'), { verb: 'list', resource: 'secrets', namespace: 'payments', cluster: 'prod-eu' });
    expect(s).toBe(`you cannot list secrets in namespace payments on prod-eu: RBAC (${message})`);
    const all = refusalSentence(new Refusal(403, message.replace(/ in the namespace.*/, ' at the cluster scope'), 'Forbidden'), { verb: 'list', resource: 'secrets', cluster: 'prod-eu' });
    expect(all).toMatch(/^you cannot list secrets in any namespace on prod-eu: RBAC/);
  });

  it("shows Hawser's and the agent's own refusals as they are", () => {
    const agent = 'this cluster\'s agent is read-only: it refuses "delete" (HAG_ERR_MODE_REFUSED)';
    expect(refusalSentence(new Refusal(403, agent, 'Forbidden'), { verb: 'list', resource: 'pods', cluster: 'c' })).toBe(agent);
    // The agent's own ServiceAccount refused is the chart's business, worded by the agent: not "you cannot".
    const sa = 'pods is forbidden: User "system:serviceaccount:hawser:hawser-agent" cannot impersonate-on:user-info:list resource "pods"';
    expect(refusalSentence(new Refusal(403, sa, 'Forbidden'), { verb: 'list', resource: 'pods', cluster: 'c' })).toBe(sa);
    expect(refusalSentence(new Refusal(503, 'cluster c is not connected', 'ServiceUnavailable'), { verb: 'list', resource: 'pods', cluster: 'c' })).toBe('cluster c is not connected');
  });
});
