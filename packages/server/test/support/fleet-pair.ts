import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import type { Session, TunnelStream } from '@hawser/protocol';
import type { RecordingUpstream } from '../../../agent/test/support/recording-upstream.js';
import { ClusterRelay, type RelayAuditEvent } from '../../src/relay/cluster-relay.js';
import { CertificateAuthority, createCaCertificate } from '../../src/registration/certificate-authority.js';
import { FleetDirectory } from '../../src/fleet/fleet-directory.js';
import { PeerDialer } from '../../src/fleet/peer-dialer.js';
import { PeerListener } from '../../src/fleet/peer-listener.js';
import { ReplicaIdentity } from '../../src/fleet/replica-certificate.js';
import type { LeasedAgent, TunnelOwner, TunnelOwnership } from '../../src/fleet/tunnel-ownership.js';
import { cluster, relayTestOptions, startAgentTunnel } from './relay-pair.js';

export { cluster };

const silent = pino({ level: 'silent' });
export const OWNER = 'r-owner';
export const FRONT = 'r-front';
export const LEASED_AGENT: LeasedAgent = { software: 'hawser-agent/test', capabilities: [REQUEST_HEAD_CAPABILITY], maxHeaderSize: 16 * 1024 };

/**
 * One replica's view of the leases, as fleet-owner's cache would give it:
 * a map the test edits to play a takeover (the owner's view moves on while
 * the forwarder's is still stale) or an expiry.
 */
export class TestOwnership implements TunnelOwnership {
  readonly replicaId: string;
  readonly leases = new Map<string, TunnelOwner>();

  constructor(replicaId: string) {
    this.replicaId = replicaId;
  }

  set(clusterId: string, replicaId: string, peerUrl: string, epoch: number): void {
    this.leases.set(clusterId, { clusterId, replicaId, peerUrl, epoch, expiresAt: Date.now() + 60_000, agent: LEASED_AGENT });
  }

  owner(clusterId: string): TunnelOwner | undefined {
    const lease = this.leases.get(clusterId);
    return lease && lease.expiresAt > Date.now() ? lease : undefined;
  }

  holds(clusterId: string): boolean {
    return this.owner(clusterId)?.replicaId === this.replicaId;
  }

  async claim(): Promise<number> {
    throw new Error('not used in these tests');
  }

  async release(): Promise<void> {}

  onLost(): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {}
}

/** CAs are slow to make (RSA 3072): one per test file is plenty. */
let sharedCa: CertificateAuthority | undefined;
export function testCa(): CertificateAuthority {
  sharedCa ??= new CertificateAuthority(createCaCertificate('Hawser fleet test CA'));
  return sharedCa;
}

/** The two replicas' default identities, issued once per file (RSA keys are what a busy 2-core machine waits on). */
const identities = new Map<string, ReplicaIdentity>();
function defaultIdentity(replicaId: string): ReplicaIdentity {
  let identity = identities.get(replicaId);
  if (!identity) {
    identity = new ReplicaIdentity(testCa(), replicaId, ['127.0.0.1']);
    identities.set(replicaId, identity);
  }
  return identity;
}

export { getAs, type Answer } from './relay-pair.js';


export interface FleetPair {
  /** The forwarding replica's relay (plain HTTP on 127.0.0.1). */
  port: number;
  peerUrl: string;
  upstream: RecordingUpstream;
  /** What the forwarding replica audited; the owner audits nothing of forwarded requests. */
  audit: RelayAuditEvent[];
  agentStreams: TunnelStream[];
  ownerView: TestOwnership;
  frontView: TestOwnership;
  listener: PeerListener;
  dialer: PeerDialer;
  /** The owner's end of the agent's tunnel. */
  agentTunnel: Session;
  /** Set to false to play "the agent's tunnel is gone" on the owner. */
  agentPresent: { value: boolean };
}

export interface FleetPairOptions {
  onStream?: (stream: TunnelStream) => void;
  /** The forwarding replica's identity (default: a replica certificate of the shared CA). */
  frontIdentity?: ReplicaIdentity;
  /** The owner's identity (default: a replica certificate of the shared CA). */
  ownerIdentity?: ReplicaIdentity;
  /** What the owner's peer listener trusts (default: the shared CA's bundle). */
  ownerTrust?: () => readonly string[];
}

/**
 * Two replicas in one process sharing a CA: the owner holds the agent's
 * tunnel (in-memory transport to the agent's real Relay, or `onStream`)
 * and runs the peer listener on real TLS; the forwarding replica has no
 * tunnel, only the lease, and relays through a PeerDialer.
 */
export async function startFleetPair(cleanup: (() => unknown)[], opts: FleetPairOptions = {}): Promise<FleetPair> {
  const ca = testCa();
  const { upstream, server: agentTunnel, agentStreams } = await startAgentTunnel(cleanup, opts);

  const agentPresent = { value: true };
  const ownerView = new TestOwnership(OWNER);
  const ownerIdentity = opts.ownerIdentity ?? defaultIdentity(OWNER);
  const listener = new PeerListener({
    identity: ownerIdentity,
    trust: opts.ownerTrust ?? (() => ca.bundle),
    ownership: ownerView,
    tunnels: { session: (id) => (id === cluster.id && agentPresent.value ? agentTunnel : undefined) },
    software: 'hawser/test',
    log: silent,
  });
  const peerPort = await listener.listen('127.0.0.1', 0);
  const peerUrl = `https://127.0.0.1:${peerPort}`;
  cleanup.push(() => listener.destroy());
  ownerView.set(cluster.id, OWNER, peerUrl, 7);

  const frontView = new TestOwnership(FRONT);
  frontView.set(cluster.id, OWNER, peerUrl, 7);
  const frontIdentity = opts.frontIdentity ?? defaultIdentity(FRONT);
  const dialer = new PeerDialer({ identity: frontIdentity, trust: () => ca.bundle, software: 'hawser/test', log: silent, backoff: { baseMs: 50, maxMs: 200 } });
  cleanup.push(() => dialer.destroy());
  const audit: RelayAuditEvent[] = [];
  const clusterRelay = new ClusterRelay({
    ...relayTestOptions(audit),
    tunnels: new FleetDirectory({ local: { session: () => undefined }, ownership: frontView, dialer }),
  });
  const http: Server = createServer((req, res) => void clusterRelay.handle(req, res));
  http.on('upgrade', (req, socket, head) => void clusterRelay.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise((resolve) => {
        http.closeAllConnections();
        http.close(resolve);
      }),
  );
  return { port: (http.address() as AddressInfo).port, peerUrl, upstream, audit, agentStreams, ownerView, frontView, listener, dialer, agentTunnel, agentPresent };
}
