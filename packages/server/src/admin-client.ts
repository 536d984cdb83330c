import { request } from 'node:https';
import { ErrorCodes, HawserServerError } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { BootstrapView, ClusterView } from './admin-api.js';
import type { ApiTokenView, AuditEventView } from './admin-operator-api.js';

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

  addCluster(input: { name: string; labels?: Record<string, string>; tokenTtl?: string }) {
    return this.#call<{ cluster: ClusterView; bootstrap: BootstrapView }>('POST', '/api/v1/clusters', input);
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
    return this.#call<{ publicUrl: string; agentUrl: string; caHash: string; caBundle: string[] }>('GET', '/api/v1/server');
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
    return this.#call<{ events: AuditEventView[] }>('GET', `/api/v1/audit?${q}`);
  }

  #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.#o.serverUrl);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.#o.ca,
          timeout: this.#o.timeoutMs ?? 30_000,
          headers: {
            authorization: `Bearer ${this.#o.adminToken}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              return reject(
                new HawserServerError(ErrorCodes.SERVER_UNREACHABLE, `${url.origin} answered ${res.statusCode} with non-JSON; is it a Hawser server?`),
              );
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed as T);
            const error = (parsed as { error?: { code?: string; message?: string } }).error;
            const code = (Object.values(ErrorCodes) as string[]).includes(error?.code ?? '')
              ? (error!.code as ErrorCode)
              : ErrorCodes.INTERNAL;
            reject(new HawserServerError(code, error?.message ?? `HTTP ${status}`, { statusCode: status }));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', (err) => {
        reject(
          new HawserServerError(ErrorCodes.SERVER_UNREACHABLE, `cannot reach ${url.origin}: ${err.message}`, { cause: err }),
        );
      });
      req.end(payload);
    });
  }
}
