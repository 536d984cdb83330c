import { X509Certificate } from 'node:crypto';
import { RENEW_SIGNAL, TunnelCloseCodes, TunnelCloseReasons } from '@hawser/contract';
import { AuditEventTypes, type AuditLog } from '../audit/audit.js';
import { saveCaFiles, saveServingCertificate } from '../data-dir.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClusterRecord, Store } from '../store/store.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { ServingIssuers, createCaCertificate, type CertificateAuthority, type KeyedCertificate } from './certificate-authority.js';
import type { RequestMeta } from './registrar.js';

/** Which CA a cluster's valid certificates come from. */
export const CaHoldings = {
  /** At least one valid certificate from the signing CA: it has the new bundle. */
  CURRENT: 'current',
  /** Valid certificates only from the previous CA: it still needs the old CA. */
  PREVIOUS: 'previous',
  /** No valid certificate (never registered, or expired): not affected by the CA. */
  NONE: 'none',
} as const;
export type CaHolding = (typeof CaHoldings)[keyof typeof CaHoldings];

export interface ClusterCaView {
  name: string;
  id: string;
  holds: CaHolding;
  connected: boolean;
  /** notAfter of its newest valid certificate. */
  notAfter: string | null;
}

export interface CaView {
  hash: string;
  subject: string;
  notAfter: string;
}

/** `hawser ca status`. */
export interface CaStatus {
  rotating: boolean;
  signer: CaView;
  previous: CaView | null;
  /** Which CA signs the serving certificate: `signer` or `previous`. */
  serving: string;
  clusters: ClusterCaView[];
  /** Names of the clusters that still hold certificates only from the previous CA. */
  waitingFor: string[];
}

export interface CaRotationOptions {
  ca: CertificateAuthority;
  store: Store;
  tunnels: TunnelRegistry;
  audit: AuditLog;
  log: Logger;
  dataDir: string;
  serverNames: readonly string[];
  serving: KeyedCertificate;
  /** Puts the serving certificate and `ca`'s current bundle on both listeners; live connections keep theirs. */
  applyTls: (serving: KeyedCertificate) => void;
}

function caView(pem: string, hash: string): CaView {
  const cert = new X509Certificate(pem);
  return { hash, subject: cert.subject.replace(/\n/g, ', '), notAfter: new Date(cert.validTo).toISOString() };
}

/**
 * CA rotation. `rotate` makes a new CA the signer while the old one stays
 * trusted and keeps signing the serving certificate; connected agents are
 * asked to renew at once (a RENEW_SIGNAL stream), others renew on schedule
 * or when they next connect. The rule for the serving certificate: it moves
 * to the new CA as soon as no active cluster holds certificates only from
 * the old CA, i.e. every agent with a usable identity has renewed and so
 * received the bundle with both CAs. `retire` drops the old CA then, or
 * earlier with `force`, cutting off the clusters it names.
 */
export class CaRotation {
  readonly #o: CaRotationOptions;
  #serving: KeyedCertificate;
  #moving: Promise<void> | undefined;

  constructor(options: CaRotationOptions) {
    this.#o = options;
    this.#serving = options.serving;
  }

  async rotate(meta: RequestMeta): Promise<CaStatus> {
    const { ca } = this.#o;
    const previousHash = ca.signerHash;
    ca.rotate(createCaCertificate());
    saveCaFiles(this.#o.dataDir, ca);
    // The listener must trust the new CA before any agent holds one of its certificates.
    this.#o.applyTls(this.#serving);
    await this.#o.audit.record({
      type: AuditEventTypes.CA_ROTATED,
      actor: meta.actor,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      details: { newCa: ca.signerHash, previousCa: previousHash },
    });
    this.#o.log.info({ newCa: ca.signerHash, previousCa: previousHash }, 'CA rotated: new certificates come from the new CA');
    const asked = this.askAllToRenew();
    this.#o.log.info({ agents: asked }, 'asked the connected agents to renew now');
    await this.reconsider();
    return this.status();
  }

  async status(): Promise<CaStatus> {
    const { ca } = this.#o;
    const clusters = await Promise.all((await this.#o.store.listClusters()).map((c) => this.#clusterView(c)));
    const previous = ca.previous;
    return {
      rotating: previous !== undefined,
      signer: caView(ca.signer.certPem, ca.signerHash),
      previous: previous ? caView(previous.certPem, ca.previousHash!) : null,
      serving: ca.servingIssuer,
      clusters,
      waitingFor: clusters.filter((c) => c.holds === CaHoldings.PREVIOUS).map((c) => c.name),
    };
  }

  /**
   * Drops the previous CA. Without `force`, only when no cluster holds
   * certificates only from it (HSR_ERR_CA_RETIRE_BLOCKED names them); with
   * `force`, their live tunnels are closed with 4495 and they must register
   * again.
   */
  async retire(input: { force: boolean }, meta: RequestMeta): Promise<{ status: CaStatus; cutOff: string[] }> {
    const { ca } = this.#o;
    if (!ca.previous) throw new HawserServerError(ErrorCodes.CA_NOT_ROTATING, 'no CA rotation in progress: nothing to retire');
    const before = await this.status();
    const cutOff = before.clusters.filter((c) => c.holds === CaHoldings.PREVIOUS);
    if (cutOff.length > 0 && !input.force) {
      throw new HawserServerError(
        ErrorCodes.CA_RETIRE_BLOCKED,
        `${cutOff.length} cluster(s) still hold certificates only from the old CA: ${cutOff.map((c) => c.name).join(', ')}; ` +
          'wait until they renew (hawser ca status), or retire with --force to cut them off',
      );
    }
    const retiredHash = ca.previousHash;
    if (ca.servingIssuer === ServingIssuers.PREVIOUS) await this.#moveServing('retire');
    ca.retire();
    saveCaFiles(this.#o.dataDir, ca);
    this.#o.applyTls(this.#serving);
    await this.#o.audit.record({
      type: AuditEventTypes.CA_RETIRED,
      actor: meta.actor,
      requestId: meta.requestId,
      sourceIp: meta.sourceIp,
      details: { retiredCa: retiredHash, forced: input.force, cutOff: cutOff.map((c) => c.name) },
    });
    for (const c of cutOff) {
      await this.#o.tunnels.closeCluster(c.id, TunnelCloseCodes.CA_RETIRED, TunnelCloseReasons.CA_RETIRED);
    }
    return { status: await this.status(), cutOff: cutOff.map((c) => c.name) };
  }

  /** Moves the serving certificate to the new CA once no cluster needs the old one. Called after every issuance. */
  async reconsider(): Promise<void> {
    if (this.#o.ca.servingIssuer !== ServingIssuers.PREVIOUS) return;
    // One evaluation at a time: renewals arrive together after a rotation.
    if (this.#moving) return this.#moving;
    this.#moving = (async () => {
      const status = await this.status();
      if (status.waitingFor.length === 0 && this.#o.ca.servingIssuer === ServingIssuers.PREVIOUS) {
        await this.#moveServing('every agent trusts the new CA');
      }
    })().finally(() => (this.#moving = undefined));
    return this.#moving;
  }

  /** A tunnel came up: an agent still on the old CA is asked to renew now. */
  async onAgentReady(clusterId: string): Promise<void> {
    if (!this.#o.ca.previous) return;
    const cluster = await this.#o.store.getCluster(clusterId);
    if (cluster && (await this.#clusterView(cluster)).holds === CaHoldings.PREVIOUS) this.askToRenew(clusterId);
  }

  /** Asks every connected agent to renew now; returns how many were asked. */
  askAllToRenew(): number {
    const ids = new Set(this.#o.tunnels.list().map((t) => t.clusterId));
    let asked = 0;
    for (const id of ids) if (this.askToRenew(id)) asked++;
    return asked;
  }

  /** Opens a RENEW_SIGNAL stream to the cluster's agent; false when it has no live session. */
  askToRenew(clusterId: string): boolean {
    const session = this.#o.tunnels.session(clusterId);
    if (!session) return false;
    try {
      const stream = session.openStream(RENEW_SIGNAL);
      stream.on('error', () => {});
      stream.resume();
      stream.end();
      return true;
    } catch (err) {
      this.#o.log.warn({ clusterId, err: (err as Error).message }, 'could not ask the agent to renew');
      return false;
    }
  }

  async #moveServing(why: string): Promise<void> {
    this.#o.ca.moveServing();
    this.#serving = this.#o.ca.issueServingCertificate(this.#o.serverNames);
    saveServingCertificate(this.#o.dataDir, this.#serving);
    this.#o.applyTls(this.#serving);
    this.#o.log.info({ ca: this.#o.ca.signerHash, why }, 'the serving certificate now comes from the new CA');
    await this.#o.audit.record({
      type: AuditEventTypes.CA_SERVING_MOVED,
      actor: 'server',
      details: { ca: this.#o.ca.signerHash, why },
    });
  }

  async #clusterView(cluster: ClusterRecord): Promise<ClusterCaView> {
    const now = Date.now();
    const valid = (await this.#o.store.listCertificates(cluster.id)).filter((c) => !c.revokedAt && c.notAfter.getTime() > now);
    const signer = this.#o.ca.signerHash;
    const holds = valid.some((c) => c.caHash === signer)
      ? CaHoldings.CURRENT
      : valid.length > 0 && this.#o.ca.previous
        ? CaHoldings.PREVIOUS
        : valid.length > 0
          ? CaHoldings.CURRENT
          : CaHoldings.NONE;
    const newest = valid.at(-1);
    return {
      name: cluster.name,
      id: cluster.id,
      holds,
      connected: this.#o.tunnels.isConnected(cluster.id),
      notAfter: newest ? newest.notAfter.toISOString() : null,
    };
  }
}
