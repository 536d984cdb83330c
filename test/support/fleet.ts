import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePorts } from '../controlplane/control-plane.js';
import { startLoadBalancer, type LoadBalancer } from './haproxy.js';
import { SERVER_CLI, startServer, type TestServer } from './hawser.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { runCommand } from './processes.js';

/** The files every replica shares: one CA, one token signing key, one admin token (the chart's pki.existingSecret). */
const SHARED_FILES = ['ca.crt', 'ca.key', 'token-signing-key.pem', 'admin-token'] as const;

/** One `hawser server` process of the fleet, restartable on the same ports and data dir. */
export interface Replica {
  /** `r0`, `r1`, ...: its --replica-id when the server takes one, and its HAProxy server name. */
  readonly name: string;
  readonly dataDir: string;
  readonly ports: { listen: number; agent: number; peer: number };
  /** The running process (replaced by start()). */
  readonly server: TestServer;
  /** `https://127.0.0.1:<listen>`: this replica directly, bypassing the load balancer. */
  readonly url: string;
  readonly running: boolean;
  /** SIGTERM and wait for the exit (the drain); SIGKILL only past `graceMs`. Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL: a crash, as the others see it. */
  kill(): Promise<void>;
  /** Starts it again (same ports, data dir, database). */
  start(): Promise<void>;
  /** Its log lines so far (JSON), across restarts. */
  logs(): Record<string, unknown>[];
  /** Its own TCP path to PostgreSQL, which a test can cut (a partition) and heal. */
  readonly database: DatabaseLink;
}

/** A TCP proxy between one replica and PostgreSQL. */
export interface DatabaseLink {
  /** Drops every connection and refuses new ones, as a network partition would. */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** Listens on a free loopback port and pipes each connection to `port`, until cut. */
async function databaseLink(port: number): Promise<{ port: number; link: DatabaseLink }> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const link: DatabaseLink = {
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      cut = false;
    },
    close: () => {
      link.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return { port: (server.address() as { port: number }).port, link };
}

export interface Fleet {
  readonly replicas: readonly Replica[];
  readonly lb: LoadBalancer;
  readonly postgres: TestPostgres;
  /** The fleet's database, directly (not through a replica's link). */
  readonly databaseUrl: string;
  /**
   * The fleet as one server, seen through the load balancer: its publicUrl
   * and agentUrl are HAProxy's, its CLI talks to HAProxy with the shared
   * admin token. What test/support/hawser.ts helpers (clusterWithOperator,
   * deployAgent) take as "the server".
   */
  readonly front: TestServer;
  /** Which of the server's fleet flags this build has (the fleet branches land one by one). */
  readonly features: FleetFeatures;
  stop(): Promise<void>;
}

export interface FleetOptions {
  replicas?: number;
  /** --drain-timeout of every replica. Default 5s. */
  drainTimeout?: string;
  /** Extra args for every replica. */
  args?: string[];
}

export interface FleetFeatures {
  /** `--replica-id`: replicas are named r0, r1, ... in leases and logs. */
  readonly replicaId: boolean;
  /** `--peer-listen`: forwarding to the tunnel's owner. */
  readonly peers: boolean;
  /** Tunnel leases in PostgreSQL (the tunnel_leases table). */
  readonly leases: boolean;
}

/** What this build of `hawser server` offers (read from its --help and its migrations), known before tests are collected. */
export function fleetFeatures(): FleetFeatures {
  const help = spawnSync(process.execPath, [SERVER_CLI, 'server', '--help'], { encoding: 'utf8' }).stdout;
  const migrations = join(dirname(SERVER_CLI), 'store', 'migrations.js');
  return {
    replicaId: help.includes('--replica-id'),
    peers: help.includes('--peer-listen'),
    leases: existsSync(migrations) && readFileSync(migrations, 'utf8').includes('tunnel_lease_epochs'),
  };
}

/**
 * N real `hawser server` replicas on one real PostgreSQL, each with its
 * own data dir holding copies of the same CA files, behind a real HAProxy
 * in TCP mode. Agents and operators use the load balancer's URLs (each
 * replica puts them into tokens and kubeconfigs); tests may also reach a
 * replica directly (`replica.url`).
 */
export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const n = opts.replicas ?? 3;
  const postgres = await startPostgres();
  const cleanups: (() => Promise<unknown>)[] = [() => postgres.stop()];
  try {
    const fleetDatabase = await postgres.createDatabase('fleet');
    const ports = await freePorts(3 * n);
    const features = fleetFeatures();
    const replicas: ReplicaState[] = [];
    for (let i = 0; i < n; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), `hawser-fleet-r${i}-`));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const { port, link } = await databaseLink(postgres.port);
      cleanups.push(() => link.close());
      const databaseUrl = fleetDatabase.replace(`:${postgres.port}/`, `:${port}/`);
      replicas.push({ name: `r${i}`, dataDir, databaseUrl, database: link, ports: { listen: ports[3 * i]!, agent: ports[3 * i + 1]!, peer: ports[3 * i + 2]! }, server: undefined, logs: [] });
    }
    // The load balancer first, on ports of its own choosing, so the replicas'
    // public and agent URLs name ports that are really bound; its health
    // checks keep each replica out until it answers /readyz.
    const lb = await startLoadBalancer(replicas.map((r) => ({ name: r.name, operatorPort: r.ports.listen, agentPort: r.ports.agent })));
    cleanups.push(() => lb.stop());
    const front = lb.ports;
    const argsOf = (r: ReplicaState): string[] => [
      '--public-url', `https://127.0.0.1:${front.operator}`,
      '--agent-url', `https://127.0.0.1:${front.agent}`,
      '--drain-timeout', opts.drainTimeout ?? '5s',
      '--log-format', 'json',
      ...(features.replicaId ? ['--replica-id', r.name] : []),
      ...(features.peers ? ['--peer-listen', `127.0.0.1:${r.ports.peer}`] : []),
      ...(opts.args ?? []),
    ];
    const launch = async (r: ReplicaState): Promise<void> => {
      if (r.server) r.logs.push(...r.server.process.lines);
      r.server = await startServer({ dataDir: r.dataDir, databaseUrl: r.databaseUrl, ports: { listen: r.ports.listen, agent: r.ports.agent }, args: argsOf(r) });
    };
    // The first replica creates the CA, signing key and admin token; the
    // others start from copies, as the chart mounts one Secret into each.
    await launch(replicas[0]!);
    cleanups.push(() => Promise.all(replicas.map((r) => r.server?.process.stop(15_000))));
    for (const r of replicas.slice(1)) {
      for (const file of SHARED_FILES) await copyFile(join(replicas[0]!.dataDir, file), join(r.dataDir, file));
    }
    await Promise.all(replicas.slice(1).map(launch));
    const first = replicas[0]!;
    const frontServer: TestServer = {
      get process() {
        return first.server!.process;
      },
      dataDir: first.dataDir,
      publicUrl: lb.operatorUrl,
      agentUrl: lb.agentUrl,
      caHash: first.server!.caHash,
      ports: { listen: front.operator, agent: front.agent },
      cli: (args) => runCommand(process.execPath, [SERVER_CLI, ...args, '--server', lb.operatorUrl, '--data-dir', first.dataDir]),
      stop: async () => undefined,
      restart: () => Promise.reject(new Error('restart the replicas one by one')),
      remove: async () => undefined,
    };
    return {
      replicas: replicas.map((r) => replicaView(r, launch)),
      lb,
      postgres,
      databaseUrl: fleetDatabase,
      front: frontServer,
      features,
      async stop() {
        for (const c of cleanups.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw err;
  }
}

interface ReplicaState {
  readonly name: string;
  readonly dataDir: string;
  readonly ports: { listen: number; agent: number; peer: number };
  /** Through its own DatabaseLink. */
  readonly databaseUrl: string;
  readonly database: DatabaseLink;
  server: TestServer | undefined;
  /** Lines of earlier processes. */
  readonly logs: string[];
}

function replicaView(r: ReplicaState, launch: (r: ReplicaState) => Promise<void>): Replica {
  const proc = () => r.server!.process;
  return {
    name: r.name,
    dataDir: r.dataDir,
    ports: r.ports,
    get server() {
      return r.server!;
    },
    url: `https://127.0.0.1:${r.ports.listen}`,
    get running() {
      return proc().child.exitCode === null && proc().child.signalCode === null;
    },
    stop: (graceMs = 30_000) => proc().stop(graceMs),
    kill: () => proc().kill(),
    start: () => launch(r),
    database: r.database,
    logs: () =>
      [...r.logs, ...proc().lines].flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
  };
}

/** The shared CA, to trust a replica or the load balancer from a test. */
export function fleetCa(fleet: Fleet): Promise<string> {
  return readFile(join(fleet.replicas[0]!.dataDir, 'ca.crt'), 'utf8');
}
