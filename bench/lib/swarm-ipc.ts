/** The swarm's IPC between bench/lib/swarm.ts (the parent) and its workers (swarm-worker.ts). */
import type { SeededAgent } from './swarm-seed.js';

export type SwarmRequest =
  | {
      type: 'start';
      id: number;
      agentUrl: string;
      caPem: string;
      keys: string[];
      /** `n`: the agent's index in the whole swarm. */
      agents: (SeededAgent & { n: number })[];
      /** 127.0.0.x source addresses, round-robin over the agents. */
      sourceAddresses: string[];
      /** First dials in flight at most, per worker, during the initial ramp. */
      rampLimit: number;
    }
  | { type: 'counts' | 'reset' | 'stop'; id: number }
  /** Stop the agents whose index is `keep` or more (and, with connectedOnly, those not connected now). */
  | { type: 'trim'; id: number; keep: number; connectedOnly?: boolean };

/** One worker's tallies (or the sum over workers). */
export interface SwarmCounts {
  agents: number;
  /** Sessions ready now. */
  connected: number;
  /** Sessions that became ready since the last reset. */
  readyEvents: number;
  /** Date.now() of the last of those (0: none). */
  lastReadyAt: number;
  /** Sessions ready per wall-clock second (epoch seconds) since the last reset. */
  readyBySecond: Record<number, number>;
  /** Refusals, failed dials and closed sessions since the last reset, by kind. */
  failures: Record<string, number>;
  /** The worker's RSS (bytes); summed over workers. */
  rss: number;
}

export type SwarmReply = { type: 'hello' | 'started'; id: number } | { type: 'counts'; id: number; counts: SwarmCounts };
