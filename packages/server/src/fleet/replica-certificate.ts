import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import {
  AGENT_ORGANIZATION,
  REPLICA_COMMON_NAME_PREFIX,
  REPLICA_ORGANIZATIONAL_UNIT,
  type CertificateAuthority,
  type KeyedCertificate,
} from '../registration/certificate-authority.js';

/** A replica certificate lives a day and is renewed at half-life, so a leaked key is worth little. */
export const REPLICA_CERTIFICATE_TTL_MS = 24 * 3_600_000;

const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const REPLICA_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Which side of the peer connection presented the certificate. */
export type ReplicaUsage = 'client' | 'server';

function values(field: string | string[] | undefined): string[] {
  if (field === undefined) return [];
  return Array.isArray(field) ? field : [field];
}

/**
 * Whether a certificate carries the replica marker (OU hawser:replica or a
 * CN with the replica prefix), whoever signed it: the agent listener refuses
 * such a certificate outright, the peer listener requires it.
 */
export function hasReplicaMarker(cert: PeerCertificate): boolean {
  const cn = values(cert.subject?.CN);
  return values(cert.subject?.OU).includes(REPLICA_ORGANIZATIONAL_UNIT) || cn.some((v) => v.startsWith(REPLICA_COMMON_NAME_PREFIX));
}

/**
 * The replica id a certificate proves, or undefined when it is no replica
 * certificate of ours for this usage: marker present (OU and CN prefix
 * both), not an agent's organisation, the extended key usage the side
 * needs. The chain itself is checked by TLS (`socket.authorized`).
 */
export function replicaIdOfCertificate(cert: PeerCertificate, usage: ReplicaUsage): string | undefined {
  if (!cert?.raw) return undefined;
  const cn = values(cert.subject?.CN);
  if (cn.length !== 1 || !cn[0]!.startsWith(REPLICA_COMMON_NAME_PREFIX)) return undefined;
  if (!values(cert.subject?.OU).includes(REPLICA_ORGANIZATIONAL_UNIT)) return undefined;
  if (values(cert.subject?.O).includes(AGENT_ORGANIZATION)) return undefined;
  const eku = (cert as DetailedPeerCertificate).ext_key_usage ?? [];
  if (!eku.includes(usage === 'client' ? EKU_CLIENT_AUTH : EKU_SERVER_AUTH)) return undefined;
  const id = cn[0]!.slice(REPLICA_COMMON_NAME_PREFIX.length);
  return REPLICA_ID.test(id) ? id : undefined;
}

/**
 * Is the TLS peer a replica of our fleet: a chain TLS verified against our
 * CA bundle and a replica certificate for this usage. Returns its replica id.
 */
export function authenticatedReplica(socket: TLSSocket, usage: ReplicaUsage): string | undefined {
  if (!socket.authorized) return undefined;
  return replicaIdOfCertificate(socket.getPeerCertificate(), usage);
}

/**
 * This replica's peer certificate: issued from the server CA at start with a
 * fresh key, renewed at half its lifetime. Listeners of `onRenew` install
 * the new one (the peer listener's secure context); the dialer reads
 * `current` for every new connection.
 */
export class ReplicaIdentity {
  readonly replicaId: string;
  readonly #issue: () => KeyedCertificate;
  readonly #renewers = new Set<(cert: KeyedCertificate) => void>();
  #current: KeyedCertificate;
  #timer: NodeJS.Timeout | undefined;

  constructor(ca: CertificateAuthority, replicaId: string, names: readonly string[], ttlMs = REPLICA_CERTIFICATE_TTL_MS) {
    this.replicaId = replicaId;
    this.#issue = () => ca.issueReplicaCertificate({ replicaId, names, ttlMs });
    this.#current = this.#issue();
    this.#timer = setInterval(() => this.renew(), Math.max(1000, Math.floor(ttlMs / 2)));
    this.#timer.unref();
  }

  get current(): KeyedCertificate {
    return this.#current;
  }

  /** Returns the unsubscribe function. */
  onRenew(fn: (cert: KeyedCertificate) => void): () => void {
    this.#renewers.add(fn);
    return () => this.#renewers.delete(fn);
  }

  /**
   * A new certificate now, and every `onRenew` listener reinstalls its TLS
   * with it (and with the trust bundle as it is now: a CA rotation calls
   * this so new handshakes trust the new CA, and this replica's certificate
   * comes from it, without waiting for the half-life).
   */
  renew(): void {
    this.#current = this.#issue();
    for (const fn of this.#renewers) fn(this.#current);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
