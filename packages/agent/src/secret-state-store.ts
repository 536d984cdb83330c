import { requestJson } from '@hawser/https-json';
import { AgentError, AgentErrorCodes } from './errors.js';
import type { KubeTarget } from './kube-target.js';
import { decodeState, encodeState, type AgentState, type StateStore } from './state-store.js';

interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion?: string } & Record<string, unknown>;
  type?: string;
  data?: Record<string, string>;
}

/**
 * Agent state in its one named Secret, which the chart creates empty. The
 * agent's RBAC allows get and update on that Secret only (no create, no
 * list), so this store never does anything else.
 */
export class SecretStateStore implements StateStore {
  readonly #target: KubeTarget;
  readonly #path: string;
  readonly description: string;

  constructor(target: KubeTarget, namespace: string, name: string) {
    this.#target = target;
    this.#path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
    this.description = `Secret ${namespace}/${name}`;
  }

  async load(): Promise<AgentState | undefined> {
    const secret = await this.#get();
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.data ?? {})) fields[k] = Buffer.from(v, 'base64').toString('utf8');
    return decodeState(fields);
  }

  async save(state: AgentState): Promise<void> {
    // Read-modify-write with the resourceVersion the API server gave us, so
    // a concurrent writer (a second replica by mistake) fails loudly.
    const secret = await this.#get();
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(encodeState(state))) data[k] = Buffer.from(v).toString('base64');
    const body: Secret = { ...secret, data };
    const res = await this.#request('PUT', body);
    if (res.status !== 200) throw this.#error(`update failed (${res.status})`, res.body);
  }

  async #get(): Promise<Secret> {
    const res = await this.#request('GET');
    if (res.status === 404) {
      throw new AgentError(
        AgentErrorCodes.STATE_UNAVAILABLE,
        `${this.description} does not exist: the hawser-agent chart creates it empty; create it (kubectl create secret generic ...) or reinstall the chart`,
      );
    }
    if (res.status !== 200) throw this.#error(`read failed (${res.status})`, res.body);
    return JSON.parse(res.body) as Secret;
  }

  #error(what: string, body: string): AgentError {
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not a Status
    }
    return new AgentError(AgentErrorCodes.STATE_UNAVAILABLE, `${this.description}: ${what}: ${message}`);
  }

  async #request(method: 'GET' | 'PUT', body?: unknown): Promise<{ status: number; body: string }> {
    const authorization = this.#target.authorization();
    try {
      const res = await requestJson({
        method,
        url: new URL(this.#path, this.#target.url),
        body,
        agent: this.#target.agent,
        headers: authorization ? { authorization } : {},
        timeoutMs: 15_000,
      });
      return { status: res.status, body: res.text };
    } catch (err) {
      throw new AgentError(AgentErrorCodes.STATE_UNAVAILABLE, `${this.description}: ${(err as Error).message}`, { cause: err });
    }
  }
}
