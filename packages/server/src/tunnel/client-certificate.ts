import type { TLSSocket } from 'node:tls';
import { normalizeFingerprint, normalizeSerial } from '../registration/certificate-authority.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { ClusterRecord, Store } from '../store/store.js';
import type { PeerCertificateInfo } from './tunnel-handler.js';
import { hasReplicaMarker } from '../fleet/replica-certificate.js';

/** An agent proven by its client certificate. */
export interface AuthenticatedAgent {
  readonly cluster: ClusterRecord;
  readonly certificate: PeerCertificateInfo;
}

/** Reasons a client certificate is refused, for logs and audit. */
export const CertificateRefusals = {
  MISSING: 'certificate-missing',
  EXPIRED: 'certificate-expired',
  NOT_YET_VALID: 'certificate-not-yet-valid',
  UNTRUSTED: 'certificate-untrusted',
  UNKNOWN: 'certificate-unknown',
  REVOKED: 'certificate-revoked',
  SUBJECT_MISMATCH: 'certificate-subject-mismatch',
  CLUSTER_DEREGISTERED: 'cluster-deregistered',
  REPLICA: 'certificate-replica',
} as const;
export type CertificateRefusal = (typeof CertificateRefusals)[keyof typeof CertificateRefusals];

/** A refused client certificate: the HTTP error plus the specific reason. */
export class ClientCertificateError extends HawserServerError {
  readonly reason: CertificateRefusal;
  readonly clusterId: string | undefined;

  constructor(
    code:
      | typeof ErrorCodes.CERTIFICATE_REQUIRED
      | typeof ErrorCodes.CERTIFICATE_INVALID
      | typeof ErrorCodes.CERTIFICATE_REVOKED
      | typeof ErrorCodes.CLUSTER_DEREGISTERED,
    reason: CertificateRefusal,
    message: string,
    clusterId?: string,
  ) {
    super(code, message);
    this.reason = reason;
    this.clusterId = clusterId;
  }
}

/**
 * Decides whether the TLS peer is a registered agent. The listener asks for a
 * certificate but does not reject the handshake without one (register needs
 * no certificate), so every route that needs one calls this. Checks, in order:
 * present; chains to a trusted CA and is within its validity (Node's
 * `authorized`); issued and recorded by us (fingerprint); not revoked; CN
 * names the cluster; cluster active.
 */
export async function authenticateAgent(socket: TLSSocket, store: Store): Promise<AuthenticatedAgent> {
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.raw) {
    throw new ClientCertificateError(ErrorCodes.CERTIFICATE_REQUIRED, 'certificate-missing', 'client certificate required');
  }
  if (!socket.authorized) {
    const why = String(socket.authorizationError ?? '');
    if (why === 'CERT_HAS_EXPIRED') {
      throw new ClientCertificateError(
        ErrorCodes.CERTIFICATE_INVALID,
        'certificate-expired',
        'client certificate expired; register again with a new bootstrap token',
      );
    }
    if (why === 'CERT_NOT_YET_VALID') {
      throw new ClientCertificateError(
        ErrorCodes.CERTIFICATE_INVALID,
        'certificate-not-yet-valid',
        'client certificate not yet valid; check the clock',
      );
    }
    throw new ClientCertificateError(
      ErrorCodes.CERTIFICATE_INVALID,
      'certificate-untrusted',
      'client certificate not issued by a CA this server trusts (if its CA was retired after a rotation, register again)',
    );
  }
  // A replica's peer certificate chains to the same CA but is never an agent's.
  if (hasReplicaMarker(peer)) {
    throw new ClientCertificateError(ErrorCodes.CERTIFICATE_INVALID, 'certificate-replica', 'a replica certificate is for replica-to-replica traffic (the peer listener), not for agents');
  }
  const fingerprint = normalizeFingerprint(peer.fingerprint256);
  const record = await store.getCertificateByFingerprint(fingerprint);
  if (!record) {
    throw new ClientCertificateError(ErrorCodes.CERTIFICATE_INVALID, 'certificate-unknown', 'client certificate unknown to this server');
  }
  if (record.revokedAt) {
    const cluster = await store.getCluster(record.clusterId);
    if (cluster?.status === 'deregistered') {
      throw new ClientCertificateError(ErrorCodes.CLUSTER_DEREGISTERED, 'cluster-deregistered', 'cluster deregistered', record.clusterId);
    }
    throw new ClientCertificateError(ErrorCodes.CERTIFICATE_REVOKED, 'certificate-revoked', 'client certificate revoked', record.clusterId);
  }
  const commonName = typeof peer.subject?.CN === 'string' ? peer.subject.CN : '';
  if (commonName !== record.clusterId) {
    throw new ClientCertificateError(
      ErrorCodes.CERTIFICATE_INVALID,
      'certificate-subject-mismatch',
      'client certificate subject does not name its cluster',
      record.clusterId,
    );
  }
  const cluster = await store.getCluster(record.clusterId);
  if (!cluster || cluster.status !== 'active') {
    throw new ClientCertificateError(ErrorCodes.CLUSTER_DEREGISTERED, 'cluster-deregistered', 'cluster deregistered', record.clusterId);
  }
  return {
    cluster,
    certificate: {
      serial: normalizeSerial(peer.serialNumber),
      fingerprint,
      commonName,
      notBefore: new Date(peer.valid_from),
      notAfter: new Date(peer.valid_to),
    },
  };
}
