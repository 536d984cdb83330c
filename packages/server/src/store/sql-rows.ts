import type {
  AuditEventRecord,
  BootstrapTokenRecord,
  CertificateRecord,
  ClusterRecord,
  ClusterStatus,
} from './store.js';

/*
 * Row shapes as both drivers return them (timestamptz as Date, jsonb parsed)
 * and their mapping to the store's records. Column names stay snake_case in
 * SQL; records are camelCase.
 */

export interface ClusterRow {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: ClusterStatus;
  created_at: Date;
  deregistered_at: Date | null;
  last_seen: Date | null;
  agent_version: string | null;
  kubernetes_version: string | null;
  cluster_uid: string | null;
  agent_mode: string | null;
  chart_version: string | null;
  certificate_not_after: Date | null;
}

export interface TokenRow {
  jti: string;
  cluster_id: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

export interface CertificateRow {
  serial: string;
  cluster_id: string;
  fingerprint: string;
  not_before: Date;
  not_after: Date;
  created_at: Date;
  revoked_at: Date | null;
  ca_hash?: string | null;
}

export interface ApiTokenRow {
  id: string;
  hash: string;
  username: string;
  groups: string[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export interface AuditRow {
  id: string;
  time: Date;
  type: string;
  actor: string;
  cluster_id: string | null;
  request_id: string | null;
  source_ip: string | null;
  outcome: AuditEventRecord['outcome'];
  reason: string | null;
  details: Record<string, unknown>;
}

export const CLUSTER_COLUMNS = `
  c.id, c.name, c.labels, c.status, c.created_at, c.deregistered_at, c.last_seen,
  c.agent_version, c.kubernetes_version, c.cluster_uid, c.agent_mode, c.chart_version,
  (SELECT max(not_after) FROM certificates k WHERE k.cluster_id = c.id AND k.revoked_at IS NULL) AS certificate_not_after`;

export function toCluster(r: ClusterRow): ClusterRecord {
  return {
    id: r.id,
    name: r.name,
    labels: r.labels ?? {},
    status: r.status,
    createdAt: r.created_at,
    deregisteredAt: r.deregistered_at,
    lastSeen: r.last_seen,
    agentVersion: r.agent_version,
    kubernetesVersion: r.kubernetes_version,
    clusterUid: r.cluster_uid,
    agentMode: r.agent_mode ?? null,
    chartVersion: r.chart_version ?? null,
    certificateNotAfter: r.certificate_not_after,
  };
}

export function toToken(r: TokenRow): BootstrapTokenRecord {
  return { jti: r.jti, clusterId: r.cluster_id, createdAt: r.created_at, expiresAt: r.expires_at, usedAt: r.used_at };
}

export function toCertificate(r: CertificateRow): CertificateRecord {
  return {
    serial: r.serial,
    clusterId: r.cluster_id,
    fingerprint: r.fingerprint,
    notBefore: r.not_before,
    notAfter: r.not_after,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    caHash: r.ca_hash ?? null,
  };
}

export function toAudit(r: AuditRow): AuditEventRecord {
  return {
    id: r.id,
    time: r.time,
    type: r.type,
    actor: r.actor,
    clusterId: r.cluster_id,
    requestId: r.request_id,
    sourceIp: r.source_ip,
    outcome: r.outcome,
    reason: r.reason,
    details: r.details ?? {},
  };
}
