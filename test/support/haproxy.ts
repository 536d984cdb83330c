import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../controlplane/control-plane.js';
import { startProcess, type TestProcess } from './processes.js';

const HAPROXY = '/usr/sbin/haproxy';
const MISSING = 'HAProxy was not found at /usr/sbin/haproxy; run `bash scripts/system-deps.sh` (apt-get install haproxy).';

/** One replica as the load balancer sees it: where its two listeners are. */
export interface Backend {
  readonly name: string;
  /** The operator listener's port (HTTPS; /readyz answers there). */
  readonly operatorPort: number;
  /** The agent listener's port (mTLS; /readyz answers there too). */
  readonly agentPort: number;
}

export interface LoadBalancer {
  /** `https://127.0.0.1:<port>`: what operators and kubectl use. */
  readonly operatorUrl: string;
  /** `https://127.0.0.1:<port>`: what agents dial (TLS passes through). */
  readonly agentUrl: string;
  readonly ports: { operator: number; agent: number };
  readonly process: TestProcess;
  /** The config it runs, for a failing test's output. */
  readonly config: string;
  stop(): Promise<void>;
}

export interface LoadBalancerOptions {
  /** Health check interval, ms. Default 300. */
  checkIntervalMs?: number;
  /** Ports chosen up front (a restarted test keeps its URLs). Default: free ones. */
  ports?: { operator: number; agent: number };
}

/**
 * The HAProxy config: two TCP frontends (TLS passes through untouched, so
 * agents keep mTLS end to end), round robin over the replicas, and an
 * HTTPS health check on each replica's /readyz, so a draining replica
 * (503) leaves the rotation within two checks and a dead one at once.
 * `redispatch` sends a connection that fails to reach one replica to
 * another.
 */
export function haproxyConfig(backends: readonly Backend[], ports: { operator: number; agent: number }, checkIntervalMs = 300): string {
  const check = `check check-ssl verify none inter ${checkIntervalMs}ms fall 2 rise 2`;
  const backend = (name: string, port: (b: Backend) => number): string => `backend ${name}
  balance roundrobin
  option httpchk
  http-check send meth GET uri /readyz
  http-check expect status 200
${backends.map((b) => `  server ${b.name} 127.0.0.1:${port(b)} ${check}`).join('\n')}
`;
  return `global
  # Two FDs per proxied connection must fit the test runner's open-file limit.
  maxconn 4000

defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  option redispatch
  retries 3

frontend operators
  bind 127.0.0.1:${ports.operator}
  default_backend replicas-operator

frontend agents
  bind 127.0.0.1:${ports.agent}
  default_backend replicas-agent

${backend('replicas-operator', (b) => b.operatorPort)}
${backend('replicas-agent', (b) => b.agentPort)}`;
}

/**
 * Starts Debian's HAProxy in the foreground with a generated config on
 * loopback ports (never the system service); resolves once it listens.
 */
export async function startLoadBalancer(backends: readonly Backend[], opts: LoadBalancerOptions = {}): Promise<LoadBalancer> {
  if (!existsSync(HAPROXY)) throw new Error(MISSING);
  // Free ports picked here can be taken before HAProxy binds them (a busy
  // machine, other suites): with ports of its own choosing it tries others.
  for (let attempt = 1; ; attempt++) {
    const [operator, agent] = opts.ports ? [opts.ports.operator, opts.ports.agent] : ((await freePorts(2)) as [number, number]);
    try {
      return await launch(backends, { operator: operator!, agent: agent! }, opts.checkIntervalMs);
    } catch (err) {
      if (opts.ports || attempt >= 3 || !/Address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function launch(backends: readonly Backend[], ports: { operator: number; agent: number }, checkIntervalMs: number | undefined): Promise<LoadBalancer> {
  const dir = await mkdtemp(join(tmpdir(), 'hawser-haproxy-'));
  const config = haproxyConfig(backends, ports, checkIntervalMs);
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const check = startProcess(HAPROXY, ['-c', '-q', '-f', file], process.env);
  if ((await check.exited) !== 0) throw new Error(`haproxy refused its config:\n${check.lines.join('\n')}\n${config}`);
  // -db: foreground, no daemon: one process we can stop by its pid.
  const proc = startProcess(HAPROXY, ['-db', '-f', file], process.env);
  try {
    await waitListening(ports.operator, proc);
    await waitListening(ports.agent, proc);
  } catch (err) {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    operatorUrl: `https://127.0.0.1:${ports.operator}`,
    agentUrl: `https://127.0.0.1:${ports.agent}`,
    ports,
    process: proc,
    config,
    async stop() {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitListening(port: number, proc: TestProcess): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`haproxy exited (${proc.child.exitCode}):\n${proc.lines.join('\n')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${port} within 10 s:\n${proc.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
