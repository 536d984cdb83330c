import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Messages to the agent process (bench/lib/agent-process.ts). */
export type AgentRequest =
  | { type: 'connect-tunnel' | 'connect-h2'; id: number; url: string }
  | { type: 'profile-start'; id: number }
  | { type: 'profile-stop'; id: number; file: string }
  | { type: 'listen-proxy' | 'events-sent' | 'stop-events' | 'mem-start' | 'mem-stop' | 'exit'; id: number };

export type AgentReply =
  | { type: 'ready'; id: 0; upstreamPort: number }
  | { type: 'ok'; id: number }
  | { type: 'value'; id: number; value: number }
  | { type: 'mem'; id: number; rss: number; buffers: number; session: number }
  | { type: 'profile'; id: number; summary: string };

/** The cluster side (upstream + agent ends) running in a child process. */
export class AgentProcess {
  #child: ChildProcess;
  #next = 1;
  #waiting = new Map<number, (reply: AgentReply) => void>();
  upstreamPort = 0;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (msg: AgentReply) => {
      this.#waiting.get(msg.id)?.(msg);
      this.#waiting.delete(msg.id);
    });
  }

  static async start(): Promise<AgentProcess> {
    const file = fileURLToPath(new URL('./agent-process.ts', import.meta.url));
    const extra = process.env.BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const child = fork(file, [], { execArgv: ['--import', 'tsx', ...extra], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const agent = new AgentProcess(child);
    const ready = await new Promise<AgentReply>((resolve, reject) => {
      agent.#waiting.set(0, resolve);
      child.once('exit', (code) => reject(new Error(`agent process exited with ${code}`)));
    });
    if (ready.type === 'ready') agent.upstreamPort = ready.upstreamPort;
    return agent;
  }

  request(msg: Omit<AgentRequest, 'id'> & { url?: string; file?: string }): Promise<AgentReply> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.send({ ...msg, id });
    });
  }

  async value(type: 'events-sent' | 'listen-proxy'): Promise<number> {
    const r = await this.request({ type });
    return r.type === 'value' ? r.value : NaN;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.send({ type: 'exit', id: this.#next++ });
    await exited;
  }
}
