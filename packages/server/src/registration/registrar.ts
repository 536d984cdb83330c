import { AuditEventTypes, type AuditLog } from '../audit/audit.js';
import { checkAgentInfo } from '../tunnel/agent-metadata.js';
import type { BootstrapTokens } from './bootstrap-token.js';
import { verifyCsr } from './certificate-authority.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { validateClusterName, validateLabels } from './cluster-names.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import { installCommands } from './install-commands.js';
import type { InstallCommands } from './install-commands.js';
import type { Logger } from '../log.js';
import type { ClusterJoinRecord, ClusterRecord, Store } from '../store/store.js';
import { ServiceAccountJoin } from './service-account-join.js';
import { clusterJoinInput, joinInstallCommand, type JoinInput } from './cluster-join.js';
import { TunnelCloseCodes, TunnelCloseReasons } from '@hawser/contract';
import type { PeerCertificateInfo } from '../tunnel/tunnel-handler.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { FleetBus } from '../fleet/fleet-event.js';

/** The one message every refused bootstrap token gets; the specific reason goes to logs and audit only. */
export const TOKEN_REFUSED_MESSAGE =
  'bootstrap token is invalid, expired or already used; mint a new one with `hawser cluster token NAME`';

/** Who asked, for audit. */
export interface RequestMeta {
  actor: string;
  requestId?: string | undefined;
  sourceIp?: string | undefined;
}

/** A freshly minted bootstrap token with its install commands. */
export interface MintedToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
  readonly install: InstallCommands;
}

/** Response of register and renew. */
export interface CertificateResponse {
  readonly clusterId: string;
  readonly clusterName: string;
  readonly certificate: string;
  readonly caBundle: readonly string[];
  readonly notAfter: string;
}

export interface RegistrarOptions {
  store: Store;
  ca: CertificateAuthority;
  tokens: BootstrapTokens;
  audit: AuditLog;
  tunnels: TunnelRegistry;
  log: Logger;
  /** Default bootstrap token lifetime. */
  tokenTtlMs: number;
  certificateTtlMs: number;
  certificateBackdateMs: number;
  /** The agent URL, known only once the agent listener is bound. */
  agentUrl: () => string;
  /** Chart the printed helm line names (config.agentChart). */
  agentChart?: string | undefined;
  /** Verifies ServiceAccount tokens of `--join kubernetes` clusters. Default: discovery over HTTPS. */
  serviceAccountJoin?: ServiceAccountJoin;
  /** After every certificate issued (the CA rotation moves the serving certificate once nobody needs the old CA). */
  onIssued?: (clusterId: string) => Promise<void>;
  /** The fleet bus: a deregistration closes the cluster's tunnel on whichever replica holds it. */
  fleetBus?: FleetBus;
}

function optionalString(body: Record<string, unknown>, field: string, max = 256): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) {
    throw new HawserServerError(ErrorCodes.REQUEST_INVALID, `${field}: expected a string of at most ${max} characters`);
  }
  return value;
}

/**
 * Cluster lifecycle and agent identity: add, mint tokens, register (token +
 * CSR -> certificate), renew (certificate + CSR -> certificate), remove.
 * HTTP routes stay thin and call this.
 */
export class Registrar {
  readonly #o: RegistrarOptions;
  readonly #join: ServiceAccountJoin;

  constructor(options: RegistrarOptions) {
    this.#o = options;
    this.#join = options.serviceAccountJoin ?? new ServiceAccountJoin();
  }

  /**
   * Records a new cluster and mints its first bootstrap token, or, for a
   * cluster that joins with its ServiceAccount (`join`), records how its
   * token is checked (keys found now, so a wrong issuer fails here) and
   * mints nothing.
   */
  async addCluster(
    input: { name: unknown; labels?: unknown; tokenTtlMs?: number | undefined; join?: JoinInput | undefined },
    meta: RequestMeta,
  ): Promise<{ cluster: ClusterRecord; bootstrap?: MintedToken; join?: { record: ClusterJoinRecord; helm: string } }> {
    const name = validateClusterName(input.name);
    const labels = validateLabels(input.labels);
    const join = input.join === undefined ? undefined : await clusterJoinInput(input.join, this.#o.agentUrl());
    const cluster = await this.#o.store.createCluster({ name, labels });
    const record = join && { ...join, clusterId: cluster.id };
    if (record) await this.#o.store.setClusterJoin(record);
    await this.#o.audit.record({
      type: AuditEventTypes.CLUSTER_ADDED,
      actor: meta.actor,
      clusterId: cluster.id,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      details: record
        ? { name, labels, join: 'kubernetes', issuer: record.issuer, subject: record.subject, audience: record.audience, staticKeys: record.jwks !== null }
        : { name, labels },
    });
    if (record) {
      const helm = joinInstallCommand({ cluster: name, serverUrl: this.#o.agentUrl(), caHash: this.#o.ca.caHash, join: record, ...(this.#o.agentChart ? { chart: this.#o.agentChart } : {}) });
      return { cluster, join: { record, helm } };
    }
    const bootstrap = await this.mintToken(cluster, input.tokenTtlMs, meta);
    return { cluster, bootstrap };
  }

  /** The active cluster with this name, or HSR_ERR_CLUSTER_NOT_FOUND. */
  async requireCluster(name: string): Promise<ClusterRecord> {
    const cluster = await this.#o.store.getClusterByName(name);
    if (!cluster) {
      throw new HawserServerError(ErrorCodes.CLUSTER_NOT_FOUND, `cluster "${name}" not found`);
    }
    return cluster;
  }

  /** Mints a single-use bootstrap token for an active cluster. */
  async mintToken(cluster: ClusterRecord, ttlMs: number | undefined, meta: RequestMeta): Promise<MintedToken> {
    const agentUrl = this.#o.agentUrl();
    const { token, claims } = await this.#o.tokens.mint({
      clusterId: cluster.id,
      clusterName: cluster.name,
      agentUrl,
      caHash: this.#o.ca.caHash,
      ttlMs: ttlMs ?? this.#o.tokenTtlMs,
    });
    const expiresAt = new Date(claims.exp * 1000);
    await this.#o.store.insertBootstrapToken({ jti: claims.jti, clusterId: cluster.id, expiresAt });
    await this.#o.audit.record({
      type: AuditEventTypes.TOKEN_MINTED,
      actor: meta.actor,
      clusterId: cluster.id,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      details: { jti: claims.jti, expiresAt: expiresAt.toISOString() },
    });
    return {
      token,
      jti: claims.jti,
      expiresAt,
      install: installCommands({ serverUrl: agentUrl, caHash: claims.cah, token, ...(this.#o.agentChart ? { chart: this.#o.agentChart } : {}) }),
    };
  }

  /**
   * Deregisters: revokes every certificate of the cluster and its unused
   * tokens, then closes its live tunnels with 4403 "cluster deregistered".
   */
  async removeCluster(
    name: string,
    meta: RequestMeta,
  ): Promise<{ cluster: ClusterRecord; revokedSerials: string[]; tunnelsClosed: number }> {
    const cluster = await this.requireCluster(name);
    const result = await this.#o.store.deregisterCluster(cluster.id);
    if (!result) throw new HawserServerError(ErrorCodes.CLUSTER_NOT_FOUND, `cluster "${name}" not found`);
    const audit = { actor: meta.actor, clusterId: cluster.id, requestId: meta.requestId, sourceIp: meta.sourceIp };
    await this.#o.audit.record({ ...audit, type: AuditEventTypes.CLUSTER_REMOVED, details: { name } });
    if (result.revokedSerials.length > 0) {
      await this.#o.audit.record({
        ...audit,
        type: AuditEventTypes.CERTIFICATE_REVOKED,
        reason: 'cluster deregistered',
        details: { serials: result.revokedSerials },
      });
    }
    // Other replicas hear it within a second; if the NOTIFY fails, the owner's
    // next lease renewal finds the lease gone (deleted above) and closes the tunnel.
    await this.#o.fleetBus?.publish({ type: 'cluster.deregistered', clusterId: cluster.id }).catch(() => undefined);
    const tunnelsClosed = await this.#o.tunnels.closeCluster(
      cluster.id,
      TunnelCloseCodes.DEREGISTERED,
      TunnelCloseReasons.DEREGISTERED,
    );
    const removed = (await this.#o.store.getCluster(cluster.id)) ?? cluster;
    return { cluster: removed, revokedSerials: result.revokedSerials, tunnelsClosed };
  }

  /**
   * Registers an agent: verifies the token (signature, claims), the cluster,
   * and the CSR, then consumes the token atomically and issues the
   * certificate. The CSR is checked before the token is consumed so a broken
   * agent does not burn its one token.
   */
  async register(body: unknown, meta: Omit<RequestMeta, 'actor'>): Promise<CertificateResponse> {
    if (typeof body !== 'object' || body === null) {
      throw new HawserServerError(ErrorCodes.REQUEST_INVALID, 'expected a JSON object { token, csr, … }');
    }
    const fields = body as Record<string, unknown>;
    const csr = optionalString(fields, 'csr', 16_384);
    if (csr === undefined) throw new HawserServerError(ErrorCodes.REQUEST_INVALID, 'csr: required (PEM)');
    const clusterUID = optionalString(fields, 'clusterUID');
    const agentVersion = optionalString(fields, 'agentVersion');
    const kubernetesVersion = optionalString(fields, 'kubernetesVersion');

    const infoProblem = checkAgentInfo({ agentVersion, kubernetesVersion, clusterUid: clusterUID });
    if (infoProblem) throw new HawserServerError(ErrorCodes.AGENT_METADATA_INVALID, `agent metadata refused: ${infoProblem}`);
    if (fields.serviceAccountToken !== undefined) {
      return this.#joinWithServiceAccount(fields, csr, { agentVersion, kubernetesVersion, clusterUid: clusterUID }, meta);
    }
    const verified = await this.#o.tokens.verify(fields.token);
    if (!verified.ok) return this.#refuse(verified.reason, verified.detail, undefined, meta);
    const claims = verified.claims;
    const cluster = await this.#o.store.getCluster(claims.cid);
    if (!cluster || cluster.status !== 'active') {
      return this.#refuse('cluster-not-active', `cluster ${claims.cid} is ${cluster?.status ?? 'unknown'}`, cluster?.id, meta);
    }
    if (cluster.clusterUid && clusterUID && cluster.clusterUid !== clusterUID) {
      return this.#refuse(
        'cluster-uid-mismatch',
        `cluster was registered from kube-system uid ${cluster.clusterUid}, this agent reports ${clusterUID}`,
        cluster.id,
        meta,
      );
    }
    verifyCsr(csr);
    const consumed = await this.#o.store.consumeBootstrapToken(claims.jti, claims.cid);
    if (!consumed.ok) return this.#refuse(consumed.reason, `jti ${claims.jti}`, cluster.id, meta);

    const actor = `agent:${cluster.id}`;
    await this.#o.audit.record({
      type: AuditEventTypes.TOKEN_USED,
      actor,
      clusterId: cluster.id,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      details: { jti: claims.jti },
    });
    await this.#o.store.updateAgentInfo(cluster.id, { agentVersion, kubernetesVersion, clusterUid: clusterUID });
    return this.#issue(cluster, csr, AuditEventTypes.CERTIFICATE_ISSUED, { ...meta, actor }, { jti: claims.jti });
  }

  /** Renews over an authenticated channel; the old certificate stays valid until it expires. */
  async renew(
    peer: { cluster: ClusterRecord; certificate: PeerCertificateInfo },
    body: unknown,
    meta: Omit<RequestMeta, 'actor'>,
  ): Promise<CertificateResponse> {
    const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const csr = optionalString(fields, 'csr', 16_384);
    if (csr === undefined) throw new HawserServerError(ErrorCodes.REQUEST_INVALID, 'csr: required (PEM)');
    return this.#issue(
      peer.cluster,
      csr,
      AuditEventTypes.CERTIFICATE_RENEWED,
      { ...meta, actor: `agent:${peer.cluster.id}` },
      { previousSerial: peer.certificate.serial },
    );
  }

  /**
   * `--join kubernetes`: the agent names its cluster and presents a projected
   * ServiceAccount token; signature, issuer, audience, expiry and the exact
   * ServiceAccount are checked against what `cluster add` recorded. Nothing
   * is consumed: the token is short-lived and the kubelet replaces it, so an
   * agent whose certificate expired joins again by itself.
   */
  async #joinWithServiceAccount(
    fields: Record<string, unknown>,
    csr: string,
    info: { agentVersion?: string | undefined; kubernetesVersion?: string | undefined; clusterUid?: string | undefined },
    meta: Omit<RequestMeta, 'actor'>,
  ): Promise<CertificateResponse> {
    const name = optionalString(fields, 'cluster', 63) ?? '';
    const cluster = name ? await this.#o.store.getClusterByName(name) : undefined;
    const join = cluster ? await this.#o.store.getClusterJoin(cluster.id) : undefined;
    if (!cluster || !join) return this.#refuseJoin('cluster-does-not-join-with-kubernetes', `cluster ${JSON.stringify(name.slice(0, 63))}`, cluster?.id, meta);
    const verified = await this.#join.verify(join, fields.serviceAccountToken);
    if (!verified.ok) return this.#refuseJoin(verified.reason, verified.detail, cluster.id, meta);
    if (cluster.clusterUid && info.clusterUid && cluster.clusterUid !== info.clusterUid) {
      return this.#refuseJoin('cluster-uid-mismatch', `cluster was registered from kube-system uid ${cluster.clusterUid}, this agent reports ${info.clusterUid}`, cluster.id, meta);
    }
    verifyCsr(csr);
    await this.#o.store.updateAgentInfo(cluster.id, info);
    return this.#issue(cluster, csr, AuditEventTypes.CERTIFICATE_ISSUED, { ...meta, actor: `agent:${cluster.id}` }, {
      join: 'kubernetes',
      subject: verified.claims.sub,
      tokenExpiresAt: new Date((verified.claims.exp ?? 0) * 1000).toISOString(),
    });
  }

  async #refuseJoin(reason: string, detail: string, clusterId: string | undefined, meta: Omit<RequestMeta, 'actor'>): Promise<never> {
    await this.#o.audit.record({
      type: AuditEventTypes.JOIN_REFUSED,
      actor: 'anonymous',
      clusterId,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      outcome: 'failure',
      reason,
      details: { detail: detail.slice(0, 500) },
    });
    throw new HawserServerError(ErrorCodes.JOIN_TOKEN_INVALID, `ServiceAccount token refused (${reason}); see docs/security.md, "Joining without a secret"`);
  }

  async #issue(
    cluster: ClusterRecord,
    csr: string,
    type: typeof AuditEventTypes.CERTIFICATE_ISSUED | typeof AuditEventTypes.CERTIFICATE_RENEWED,
    meta: RequestMeta,
    details: Record<string, unknown>,
  ): Promise<CertificateResponse> {
    const issued = this.#o.ca.issueClientCertificate({
      csrPem: csr,
      clusterId: cluster.id,
      ttlMs: this.#o.certificateTtlMs,
      backdateMs: this.#o.certificateBackdateMs,
    });
    await this.#o.store.recordCertificate({
      serial: issued.serial,
      clusterId: cluster.id,
      fingerprint: issued.fingerprint,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      caHash: this.#o.ca.signerHash,
    });
    await this.#o.audit.record({
      type,
      actor: meta.actor,
      clusterId: cluster.id,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      details: { ...details, serial: issued.serial, notAfter: issued.notAfter.toISOString(), ca: this.#o.ca.signerHash },
    });
    await this.#o.onIssued?.(cluster.id);
    return {
      clusterId: cluster.id,
      clusterName: cluster.name,
      certificate: issued.certPem,
      caBundle: this.#o.ca.bundle,
      notAfter: issued.notAfter.toISOString(),
    };
  }

  async #refuse(
    reason: string,
    detail: string,
    clusterId: string | undefined,
    meta: Omit<RequestMeta, 'actor'>,
  ): Promise<never> {
    await this.#o.audit.record({
      type: AuditEventTypes.TOKEN_REFUSED,
      actor: 'anonymous',
      clusterId,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      outcome: 'failure',
      reason,
      details: { detail },
    });
    throw new HawserServerError(ErrorCodes.TOKEN_INVALID, TOKEN_REFUSED_MESSAGE);
  }
}
