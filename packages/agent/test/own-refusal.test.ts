import { describe, expect, it } from 'vitest';
import { describeOwnRefusal, readOwnRefusal } from '../src/own-refusal.js';

const sa = 'system:serviceaccount:hawser:hawser-agent';

describe("the API server's refusals of the agent's own rights", () => {
  it('reads a constrained impersonate-on refusal on a resource', () => {
    const r = readOwnRefusal(`configmaps is forbidden: User "${sa}" cannot impersonate-on:user-info:create resource "configmaps" in API group "" in the namespace "x"`);
    expect(r).toEqual({ serviceAccount: sa, verb: 'impersonate-on:user-info:create', action: 'create', target: 'resource "configmaps" in API group ""' });
    expect(describeOwnRefusal(r!)).toBe(
      `hawser-agent's chart does not grant "create" on resource "configmaps" in API group "" through Hawser; the chart value agent.mode sets the verbs it grants (read-only: get, list, watch; read-write and full add create, update, patch, delete) and must match the agent's own mode: the API server refused the agent's ServiceAccount ${sa} "impersonate-on:user-info:create" on resource "configmaps" in API group ""`,
    );
  });

  it('reads a refusal on a non-resource path', () => {
    const r = readOwnRefusal(`forbidden: User "${sa}" cannot impersonate-on:user-info:get path "/metrics"`);
    expect(describeOwnRefusal(r!)).toMatch(/^hawser-agent's chart does not let operators get path "\/metrics" through Hawser/);
  });

  it('reads a refusal of the identity itself and names authorization.mode', () => {
    const r = readOwnRefusal(`groups "hawser:ops" is forbidden: User "${sa}" cannot impersonate:user-info resource "groups" in API group "authentication.k8s.io" at the cluster scope`);
    expect(r).toMatchObject({ verb: 'impersonate:user-info' });
    expect(describeOwnRefusal(r!)).toContain('the chart value authorization.mode sets whom it may impersonate');
    expect(readOwnRefusal(`users "x" is forbidden: User "${sa}" cannot impersonate resource "users" in API group "" at the cluster scope`)).toMatchObject({ verb: 'impersonate' });
  });

  it('leaves refusals of the operator, and ordinary refusals of the agent, alone', () => {
    expect(readOwnRefusal('secrets is forbidden: User "hawser:alice" cannot get resource "secrets" in API group ""')).toBeUndefined();
    expect(readOwnRefusal(`secrets is forbidden: User "${sa}" cannot list resource "secrets" in API group ""`)).toBeUndefined();
  });
});
