/**
 * The swarm: many agents' worth of real tunnels from a few processes
 * (swarm-worker.ts, forked; see there for why processes). The parent splits
 * the seeded agents over the workers, spreads them over several 127.0.0.x
 * source addresses, and sums the workers' tallies on request.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SwarmCounts, SwarmReply, SwarmRequest } from './swarm-ipc.js';
import type { Seed } from './swarm-seed.js';

export interface SwarmOptions {
  agentUrl: string;
  seed: Seed;
  workers: number;
  /** How many 127.0.0.x source addresses (from 127.0.0.2). */
  sourceAddresses: number;
  rampLimit?: number;
}

type Pending = (reply: SwarmReply) => void;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

class WorkerHandle {
  readonly child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  readonly hello: Promise<void>;

  constructor() {
    this.child = fork(fileURLToPath(new URL('./swarm-worker.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.hello = new Promise((resolve) => this.#pending.set(0, () => resolve()));
    this.child.on('message', (reply: SwarmReply) => {
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
  }

  ask(request: DistributiveOmit<SwarmRequest, 'id'>): Promise<SwarmReply> {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      this.#pending.set(id, resolve);
      this.child.send({ ...request, id } as SwarmRequest, (err) => err && reject(err));
    });
  }
}

function sum(all: SwarmCounts[]): SwarmCounts {
  const failures: Record<string, number> = {};
  const readyBySecond: Record<number, number> = {};
  for (const c of all) {
    for (const [k, v] of Object.entries(c.failures)) failures[k] = (failures[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.readyBySecond)) readyBySecond[Number(k)] = (readyBySecond[Number(k)] ?? 0) + v;
  }
  return {
    agents: all.reduce((a, c) => a + c.agents, 0),
    connected: all.reduce((a, c) => a + c.connected, 0),
    readyEvents: all.reduce((a, c) => a + c.readyEvents, 0),
    lastReadyAt: Math.max(0, ...all.map((c) => c.lastReadyAt)),
    readyBySecond,
    failures,
    rss: all.reduce((a, c) => a + c.rss, 0),
  };
}

export class Swarm {
  readonly #workers: WorkerHandle[];

  private constructor(workers: WorkerHandle[]) {
    this.#workers = workers;
  }

  static async start(opts: SwarmOptions): Promise<Swarm> {
    const workers = Array.from({ length: opts.workers }, () => new WorkerHandle());
    await Promise.all(workers.map((w) => w.hello));
    const sourceAddresses = Array.from({ length: opts.sourceAddresses }, (_, i) => `127.0.0.${2 + i}`);
    await Promise.all(
      workers.map((w, i) =>
        w.ask({
          type: 'start',
          agentUrl: opts.agentUrl,
          caPem: opts.seed.caPem,
          keys: opts.seed.keys,
          agents: opts.seed.agents.map((a, n) => ({ ...a, n })).filter((a) => a.n % workers.length === i),
          sourceAddresses,
          rampLimit: opts.rampLimit ?? 16,
        }),
      ),
    );
    return new Swarm(workers);
  }

  async #all(request: DistributiveOmit<SwarmRequest, 'id'>): Promise<SwarmCounts> {
    const replies = await Promise.all(this.#workers.map((w) => w.ask(request)));
    return sum(replies.map((r) => (r as { counts: SwarmCounts }).counts));
  }

  counts(): Promise<SwarmCounts> {
    return this.#all({ type: 'counts' });
  }

  /** Zero the ready-event count and the failure tally (before a storm). */
  reset(): Promise<SwarmCounts> {
    return this.#all({ type: 'reset' });
  }

  /** Stops every agent from index `keep` on (and, with connectedOnly, every one not connected now). */
  trim(keep: number, connectedOnly = false): Promise<SwarmCounts> {
    return this.#all({ type: 'trim', keep, connectedOnly });
  }

  /** Polls until `want(counts)` holds or `timeoutMs` passes; returns the last counts. */
  async until(want: (c: SwarmCounts) => boolean, timeoutMs: number, progress?: (c: SwarmCounts) => void): Promise<SwarmCounts> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = await this.counts();
      progress?.(c);
      if (want(c) || Date.now() > deadline) return c;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<SwarmCounts> {
    const last = await this.#all({ type: 'stop' });
    await Promise.all(this.#workers.map((w) => (w.child.exitCode === null ? new Promise((r) => w.child.once('exit', r)) : undefined)));
    return last;
  }
}
