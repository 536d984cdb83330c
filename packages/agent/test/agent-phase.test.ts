import { describe, expect, it } from 'vitest';
import { AgentLifecycle, AgentPhases } from '../src/agent-phase.js';

describe('agent phase', () => {
  it('starts in starting and follows the legal path to connected', () => {
    const life = new AgentLifecycle();
    expect(life.phase).toBe(AgentPhases.STARTING);
    expect(life.to(AgentPhases.REGISTERING)).toBe(true);
    expect(life.to(AgentPhases.RECONNECTING)).toBe(true);
    expect(life.tunnelWanted).toBe(true);
    expect(life.to(AgentPhases.CONNECTED)).toBe(true);
    expect(life.phase).toBe(AgentPhases.CONNECTED);
  });

  it('keeps deregistered when the tunnel closes after the server deregistered the cluster', () => {
    const life = new AgentLifecycle();
    life.to(AgentPhases.REGISTERING);
    life.to(AgentPhases.RECONNECTING);
    life.to(AgentPhases.CONNECTED);
    expect(life.to(AgentPhases.DEREGISTERED)).toBe(true);
    expect(life.to(AgentPhases.CONNECTED)).toBe(false);
    expect(life.to(AgentPhases.RECONNECTING)).toBe(false);
    expect(life.tunnelWanted).toBe(false);
    expect(life.to(AgentPhases.REGISTERING)).toBe(true);
  });

  it('refuses every move out of stopping except to stopped', () => {
    const life = new AgentLifecycle();
    life.to(AgentPhases.STOPPING);
    expect(life.stopping).toBe(true);
    for (const next of [AgentPhases.REGISTERING, AgentPhases.RECONNECTING, AgentPhases.CONNECTED, AgentPhases.DEREGISTERED]) {
      expect(life.to(next)).toBe(false);
    }
    expect(life.to(AgentPhases.STOPPED)).toBe(true);
    expect(AgentLifecycle.canMove(AgentPhases.STOPPED, AgentPhases.STARTING)).toBe(false);
  });
});
