/**
 * A swarm worker process (forked by swarm.ts): runs its share of the
 * agents (swarm-agent.ts) and answers the parent's questions over IPC.
 * Processes, not worker_threads: each has its own event loop AND its own
 * file-descriptor table and heap, so 10,000 sockets split over a few
 * processes never meet one process's limits, a worker's GC pauses stall
 * only its own agents, and the parent stays free to time things.
 */
import type { AgentState } from '../../packages/agent/src/state-store.js';
import { SwarmAgent } from './swarm-agent.js';
import type { SwarmCounts, SwarmReply, SwarmRequest } from './swarm-ipc.js';

/** Each agent with its index in the whole swarm (trim keeps the first N over all workers). */
const agents: { n: number; agent: SwarmAgent }[] = [];
let connected = 0;
let readyEvents = 0;
let lastReadyAt = 0;
let failures: Record<string, number> = {};
/** Sessions ready per wall-clock second (epoch s), for the peak handshake rate. */
let readyBySecond: Record<number, number> = {};
/** The initial ramp: at most this many first dials in flight, so the starting crowd is the bench's, not a storm. */
let rampWaiting: SwarmAgent[] = [];
let rampInFlight = 0;
let rampLimit = 64;
let ramping = new Set<SwarmAgent>();

function send(reply: SwarmReply): void {
  process.send!(reply);
}

function startRamp(): void {
  while (rampInFlight < rampLimit && rampWaiting.length > 0) {
    const agent = rampWaiting.shift()!;
    rampInFlight++;
    ramping.add(agent);
    agent.start();
  }
}

const events = {
  ready(agent: SwarmAgent): void {
    connected++;
    readyEvents++;
    lastReadyAt = Date.now();
    const second = Math.floor(lastReadyAt / 1000);
    readyBySecond[second] = (readyBySecond[second] ?? 0) + 1;
    if (ramping.delete(agent)) {
      rampInFlight--;
      startRamp();
    }
  },
  down(): void {
    connected--;
  },
  failure(kind: string): void {
    failures[kind] = (failures[kind] ?? 0) + 1;
  },
};

function counts(): SwarmCounts {
  const mem = process.memoryUsage();
  return { agents: agents.length, connected, readyEvents, lastReadyAt, readyBySecond, failures, rss: mem.rss };
}

process.on('message', (msg: SwarmRequest) => {
  switch (msg.type) {
    case 'start': {
      rampLimit = msg.rampLimit;
      for (const a of msg.agents) {
        const state: AgentState = {
          clusterId: a.clusterId,
          clusterName: a.name,
          serverUrl: msg.agentUrl,
          key: msg.keys[a.keyIndex]!,
          certificate: a.certPem,
          caBundle: [msg.caPem],
          notAfter: new Date(Date.now() + 86_400_000).toISOString(),
        };
        const localAddress = msg.sourceAddresses[agents.length % msg.sourceAddresses.length]!;
        const agent = new SwarmAgent({ state, localAddress, events });
        agents.push({ n: a.n, agent });
        rampWaiting.push(agent);
      }
      startRamp();
      send({ type: 'started', id: msg.id });
      break;
    }
    case 'counts':
      send({ type: 'counts', id: msg.id, counts: counts() });
      break;
    case 'reset':
      readyEvents = 0;
      lastReadyAt = 0;
      failures = {};
      readyBySecond = {};
      // After the ramp every agent is on its own backoff.
      rampWaiting = [];
      ramping = new Set();
      send({ type: 'counts', id: msg.id, counts: counts() });
      break;
    case 'trim':
      for (const { agent } of agents.splice(agents.findIndex((a) => a.n >= msg.keep) >>> 0)) agent.destroy();
      if (msg.connectedOnly) {
        for (const { agent } of agents) if (!agent.connected) agent.destroy();
        agents.splice(0, agents.length, ...agents.filter((a) => a.agent.connected));
      }
      send({ type: 'counts', id: msg.id, counts: counts() });
      break;
    case 'stop':
      for (const { agent } of agents) agent.destroy();
      send({ type: 'counts', id: msg.id, counts: counts() });
      setImmediate(() => process.exit(0));
      break;
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'hello', id: 0 });
