import type { Session } from '@hawser/protocol';
import { listenUrl, urlHost, type ListenAddress } from '../config.js';
import type { Logger } from '../log.js';
import type { CertificateAuthority } from '../registration/certificate-authority.js';
import type { TunnelDirectory } from '../relay/relay-options.js';
import { FleetDirectory } from './fleet-directory.js';
import { PeerDialer } from './peer-dialer.js';
import { PeerListener } from './peer-listener.js';
import { ReplicaIdentity } from './replica-certificate.js';
import type { TunnelOwner, TunnelOwnership } from './tunnel-ownership.js';

export interface PeerForwardingOptions {
  ca: CertificateAuthority;
  replicaId: string;
  /** `--peer-listen`. */
  listen: ListenAddress;
  /** `--peer-advertise`; default derived from the bound listener. */
  advertise: string | undefined;
  /** Also put into the replica certificate (the serving names). */
  serverNames: readonly string[];
  /** This replica's agent tunnels (the tunnel registry). */
  local: TunnelDirectory & { session(clusterId: string): Session | undefined };
  software: string;
  log: Logger;
}

/**
 * Forwarding between replicas, assembled: this replica's certificate, the
 * peer listener, the dialer, and the relay's fleet directory. Bind first
 * (the lease store records the peer URL this returns), then `attach` the
 * ownership; until then the directory is the local registry and the
 * listener refuses every forward as "not the owner".
 */
export class PeerForwarding {
  readonly #o: PeerForwardingOptions;
  readonly #identity: ReplicaIdentity;
  readonly #listener: PeerListener;
  readonly #dialer: PeerDialer;
  #ownership: Pick<TunnelOwnership, 'holds' | 'owner' | 'lastGone'> | undefined;
  /** What the relay uses as its TunnelDirectory. */
  readonly directory: TunnelDirectory;

  constructor(options: PeerForwardingOptions) {
    this.#o = options;
    const names = new Set(options.serverNames);
    if (options.advertise) names.add(urlHost(options.advertise));
    else if (options.listen.host !== '0.0.0.0' && options.listen.host !== '::') names.add(options.listen.host);
    this.#identity = new ReplicaIdentity(options.ca, options.replicaId, [...names]);
    const trust = (): readonly string[] => options.ca.bundle;
    const log = options.log;
    // Both read the ownership through this view, so it can be attached after the listener is bound.
    const view = {
      replicaId: options.replicaId,
      holds: (clusterId: string): boolean => this.#ownership?.holds(clusterId) ?? false,
      owner: (clusterId: string): TunnelOwner | undefined => this.#ownership?.owner(clusterId),
      lastGone: (clusterId: string): number | undefined => this.#ownership?.lastGone?.(clusterId),
    };
    this.#listener = new PeerListener({ identity: this.#identity, trust, ownership: view, tunnels: options.local, software: options.software, log });
    this.#dialer = new PeerDialer({ identity: this.#identity, trust, software: options.software, log });
    this.directory = new FleetDirectory({ local: options.local, ownership: view, dialer: this.#dialer });
  }

  /** Binds the peer listener; resolves with the URL other replicas dial. */
  async listen(): Promise<string> {
    const port = await this.#listener.listen(this.#o.listen.host, this.#o.listen.port);
    return this.#o.advertise ?? listenUrl(this.#o.listen.host, port);
  }

  attach(ownership: Pick<TunnelOwnership, 'holds' | 'owner' | 'lastGone'>): void {
    this.#ownership = ownership;
  }

  /** The CA bundle changed (a rotation): a new replica certificate, and the listener trusts the bundle as it is now. */
  refreshTls(): void {
    this.#identity.renew();
  }

  /** Drain: forwarded streams both ways get `timeoutMs` (the server's `--drain-timeout`) to finish. */
  async close(timeoutMs?: number): Promise<void> {
    await Promise.all([this.#dialer.close(timeoutMs), this.#listener.close(timeoutMs)]);
    this.#identity.close();
  }

  destroy(): void {
    this.#dialer.destroy();
    this.#listener.destroy();
    this.#identity.close();
  }
}
