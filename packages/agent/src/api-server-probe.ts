import { requestJson } from '@hawser/https-json';
import type { KubeTarget } from './kube-target.js';

/** One look at the API server: reachable with the agent's own credentials, or why not. */
export interface ApiServerCheck {
  readonly reachable: boolean;
  readonly detail?: string;
}

/** What the probe needs of the API-server target. */
export type ProbeTarget = Pick<KubeTarget, 'url' | 'agent' | 'authorization'>;

/**
 * An authenticated `GET /version` through the agent's own client (its
 * connection pool, CA and ServiceAccount token): the cheapest request
 * that proves the API server is there and still accepts the agent's
 * credentials. A 401 means the token is no longer good; any answer other
 * than 200 or an error is "not reachable", with the reason.
 */
export function apiServerProbe(target: ProbeTarget, timeoutMs = 3000): () => Promise<ApiServerCheck> {
  return async () => {
    const authorization = target.authorization();
    try {
      const res = await requestJson({
        method: 'GET',
        url: new URL('/version', target.url),
        agent: target.agent,
        headers: authorization ? { authorization } : {},
        timeoutMs,
      });
      if (res.status === 200) return { reachable: true };
      const why = res.status === 401 ? 'the API server no longer accepts the agent\'s ServiceAccount token' : `GET /version answered ${res.status}`;
      return { reachable: false, detail: `${why} (${target.url.origin})` };
    } catch (err) {
      return { reachable: false, detail: `cannot reach the API server at ${target.url.origin}: ${(err as Error).message}` };
    }
  };
}
