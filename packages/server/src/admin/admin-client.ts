import { errorOf, isSuccess, requestJson, type JsonRequest, type JsonResponse } from '@hawser/https-json';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { BuildInfo } from '../version.js';
import type { OperatorClustersView, OperatorOidcView } from './operator-api.js';
import type { BootstrapView, ClusterView } from './admin-api.js';
import type { CaStatus, JoinView } from './admin-ca-api.js';
import type { ApiTokenView, AuditEventView, AuditPage } from './admin-operator-api.js';

// The views the CLI prints, so cli/ needs nothing of the admin API but this client.
export type { ApiTokenView, AuditEventView, AuditPage, BootstrapView, ClusterView, CaStatus, JoinView };
export { AuditEventTypes } from '../audit/audit.js';

/** Options of {@link AdminClient}. */
export interface AdminClientOptions {
  /** Operator listener URL, e.g. `https://127.0.0.1:8443`. */
  serverUrl: string;
  adminToken: string;
  /** CA certificate(s) (PEM) to trust; default: the system trust store. */
  ca?: string | undefined;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

/** A thin HTTPS client for the admin API (used by the CLI). */
export class AdminClient {
  readonly #o: AdminClientOptions;

  constructor(options: AdminClientOptions) {
    this.#o = options;
  }

  addCluster(input: { name: string; labels?: Record<string, string>; tokenTtl?: string; join?: Record<string, unknown> }) {
    return this.#call<{ cluster: ClusterView; bootstrap?: BootstrapView; join?: JoinView }>('POST', '/api/v1/clusters', input);
  }

  caStatus() {
    return this.#call<CaStatus>('GET', '/api/v1/ca');
  }

  caRotate() {
    return this.#call<CaStatus>('POST', '/api/v1/ca/rotate', {});
  }

  caRenewNow() {
    return this.#call<{ asked: number }>('POST', '/api/v1/ca/renew-now', {});
  }

  caRetire(force: boolean) {
    return this.#call<{ status: CaStatus; cutOff: string[] }>('POST', '/api/v1/ca/retire', { force });
  }

  listClusters() {
    return this.#call<{ clusters: ClusterView[] }>('GET', '/api/v1/clusters');
  }

  mintToken(name: string, tokenTtl?: string) {
    return this.#call<{ cluster: ClusterView; bootstrap: BootstrapView }>(
      'POST',
      `/api/v1/clusters/${encodeURIComponent(name)}/tokens`,
      tokenTtl ? { tokenTtl } : {},
    );
  }

  removeCluster(name: string) {
    return this.#call<{ cluster: ClusterView; revokedCertificates: number; tunnelsClosed: number }>(
      'DELETE',
      `/api/v1/clusters/${encodeURIComponent(name)}`,
    );
  }

  serverInfo() {
    return this.#call<{ publicUrl: string; agentUrl: string; caHash: string; caBundle: string[]; agentChart?: string | null }>('GET', '/api/v1/server');
  }

  /** `GET /api/v1/operator/clusters`: here `adminToken` carries the operator's own token. */
  operatorClusters() {
    return this.#call<OperatorClustersView>('GET', '/api/v1/operator/clusters');
  }

  /** `GET /api/v1/operator/oidc`: unauthenticated; the issuer and client id `hawser login --oidc` uses. */
  operatorOidc() {
    return this.#call<OperatorOidcView>('GET', '/api/v1/operator/oidc');
  }

  version() {
    return this.#call<BuildInfo>('GET', '/api/v1/version');
  }

  createApiToken(input: { user: string; groups: string[]; ttl?: string }) {
    return this.#call<ApiTokenView & { token: string }>('POST', '/api/v1/tokens', input);
  }

  listApiTokens() {
    return this.#call<{ tokens: ApiTokenView[] }>('GET', '/api/v1/tokens');
  }

  rotateAdminToken() {
    return this.#call<ApiTokenView & { token: string; revoked: string }>('POST', '/api/v1/tokens/rotate-admin', {});
  }

  revokeApiToken(id: string) {
    return this.#call<{ revoked: ApiTokenView }>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
  }

  audit(filter: { cluster?: string; user?: string; since?: string; type?: string; limit?: number }) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
    return this.#call<AuditPage>('GET', `/api/v1/audit?${q}`);
  }

  async #call<T>(method: JsonRequest['method'], path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.#o.serverUrl);
    let res: JsonResponse;
    try {
      res = await requestJson({
        method,
        url,
        body,
        ca: this.#o.ca,
        timeoutMs: this.#o.timeoutMs ?? 30_000,
        headers: { authorization: `Bearer ${this.#o.adminToken}` },
      });
    } catch (err) {
      throw new HawserServerError(ErrorCodes.SERVER_UNREACHABLE, `cannot reach ${url.origin}: ${(err as Error).message}`, { cause: err });
    }
    if (res.json === undefined) {
      throw new HawserServerError(ErrorCodes.SERVER_UNREACHABLE, `${url.origin} answered ${res.status} with non-JSON; is it a Hawser server?`);
    }
    if (isSuccess(res)) return res.json as T;
    const error = errorOf(res);
    const code = (Object.values(ErrorCodes) as string[]).includes(error?.code ?? '') ? (error!.code as ErrorCode) : ErrorCodes.INTERNAL;
    throw new HawserServerError(code, error?.message || `HTTP ${res.status}`, { statusCode: res.status });
  }
}
