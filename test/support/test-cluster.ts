import { inject } from 'vitest';

/** The cluster the end-to-end suites run against, as the global setup provides it. */
export interface TestCluster {
  /** Admin kubeconfig. */
  kubeconfig: string;
  /** API server URL, e.g. https://127.0.0.1:PORT. */
  server: string;
  /** PEM CA bundle that verifies the API server. */
  ca: string;
  /** True when running against HAWSER_E2E_KUBECONFIG rather than our own control plane. */
  external: boolean;
  /** Kubernetes version we built; unset for an external cluster. */
  version?: string;
  /** Our control plane's audit log, JSON lines at level Metadata (absent for an external cluster). */
  auditLog?: string;
  /** Our control plane's PKI directory (absent for an external cluster). */
  kubeletClientCaDir?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: TestCluster;
  }
}

let override: TestCluster | undefined;

/** Points the helpers at a cluster outside vitest (the demo script). */
export function useCluster(cluster: TestCluster): void {
  override = cluster;
}

export function testCluster(): TestCluster {
  return override ?? inject('cluster');
}
