import { requestJson } from '@hawser/https-json';
import type { AgentFacts } from './registration.js';
import type { KubeTarget } from './kube-target.js';
import type { Logger } from './log.js';

/** What readClusterFacts needs of the API-server target. */
export type ClusterFactsTarget = Pick<KubeTarget, 'url' | 'agent' | 'authorization'>;

/**
 * The Kubernetes version and the cluster's UID (kube-system's uid), which
 * the agent reports at registration and in the tunnel handshake. Either may
 * be missing: a cluster the agent cannot read yet still registers, and the
 * server shows what it learned.
 */
export async function readClusterFacts(target: ClusterFactsTarget, log: Logger): Promise<Partial<AgentFacts>> {
  const get = async (path: string): Promise<Record<string, unknown> | undefined> => {
    const authorization = target.authorization();
    try {
      const res = await requestJson({
        method: 'GET',
        url: new URL(path, target.url),
        agent: target.agent,
        headers: authorization ? { authorization } : {},
        timeoutMs: 10_000,
      });
      return res.status === 200 && res.json && typeof res.json === 'object' ? (res.json as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const [version, ns] = await Promise.all([get('/version'), get('/api/v1/namespaces/kube-system')]);
  const uid = (ns?.metadata as { uid?: string } | undefined)?.uid;
  const kubernetesVersion = version?.gitVersion as string | undefined;
  if (!kubernetesVersion) log.warn({ api: target.url.href }, 'cannot read the API server version; is it reachable?');
  return { ...(kubernetesVersion ? { kubernetesVersion } : {}), ...(uid ? { clusterUID: uid } : {}) };
}
