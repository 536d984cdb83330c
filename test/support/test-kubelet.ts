import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { binary } from '../controlplane/binaries.js';
import { adminCore, uniqueName } from './kube.js';
import { startProcess, type TestProcess } from './processes.js';
import { testCluster } from './test-cluster.js';

/** One streaming or logs request as the test kubelet saw it (its stderr JSON line). */
export interface KubeletRequest {
  kind: 'exec' | 'attach' | 'portforward' | 'logs' | 'unknown';
  method: string;
  path: string;
  query: string;
  /** `SPDY/3.1` or `websocket`: the protocol of the API server -> kubelet hop. */
  upgrade: string;
  /** X-Stream-Protocol-Version values offered (SPDY). */
  protocols: string[] | null;
  /** Sec-WebSocket-Protocol values offered (WebSocket). */
  wsProtocols: string[] | null;
  /** Common name of the client certificate: the API server's --kubelet-client-certificate. */
  clientCN?: string;
  namespace?: string;
  pod?: string;
  container?: string;
  command?: string[];
  /** logs: whether the caller asked to follow. */
  follow?: boolean;
}

export interface TestKubelet {
  readonly nodeName: string;
  readonly port: number;
  readonly process: TestProcess;
  /** Every streaming request that reached the kubelet so far. */
  requests(): KubeletRequest[];
  /**
   * Creates a Pod bound to this node (spec.nodeName, so no scheduler is
   * needed) and marks it Running through the status subresource, as a
   * kubelet would.
   */
  createPod(namespace: string, name: string, containers?: string[]): Promise<void>;
  /** Stops the process and deletes the Node. */
  remove(): Promise<void>;
}

/**
 * Starts the test kubelet (go/testkubelet: the real streaming server,
 * a fake container) on 127.0.0.1 and registers a Node whose kubelet endpoint
 * it is, so the API server's pods/exec, pods/attach and pods/portforward
 * reach it exactly as they would reach a kubelet: InternalIP 127.0.0.1
 * (picked by the default --kubelet-preferred-address-types) and
 * status.daemonEndpoints.kubeletEndpoint.Port.
 *
 * It only accepts client certificates signed by the control plane's CA, so
 * every request it serves came from the API server's kubelet client.
 */
export async function startTestKubelet(): Promise<TestKubelet> {
  const cluster = testCluster();
  if (cluster.external || !cluster.kubeletClientCaDir) {
    throw new Error('the test kubelet needs our own control plane (HAWSER_E2E_KUBECONFIG is set)');
  }
  const proc = startProcess(
    await binary('testkubelet'),
    ['--listen', '127.0.0.1:0', '--client-ca-file', join(cluster.kubeletClientCaDir, 'ca.crt')],
    { PATH: process.env.PATH ?? '' },
  );
  const port = (await proc.waitForLog((e) => typeof e.port === 'number', 30_000)).port as number;
  const nodeName = uniqueName('testkubelet');
  const core = adminCore();
  try {
    await core.createNode({ body: { metadata: { name: nodeName, labels: { 'hawser.dev/e2e': 'true' } } } });
    // Addresses and the kubelet port are status, which only the status
    // subresource writes (a real kubelet reports them the same way).
    await core.patchNodeStatus(
      {
        name: nodeName,
        body: {
          status: {
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            daemonEndpoints: { kubeletEndpoint: { Port: port } },
            conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'testkubelet', lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }],
          },
        },
      },
      mergePatch,
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }

  return {
    nodeName,
    port,
    process: proc,
    requests: () =>
      proc.lines
        .map((l) => {
          try {
            return JSON.parse(l) as KubeletRequest;
          } catch {
            return undefined;
          }
        })
        .filter((r): r is KubeletRequest => typeof r?.kind === 'string'),
    async createPod(namespace, name, containers = ['main']) {
      await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name },
          spec: { nodeName, containers: containers.map((c) => ({ name: c, image: 'registry.invalid/testkubelet:1' })) },
        },
      });
      const now = new Date();
      await core.patchNamespacedPodStatus(
        {
          name,
          namespace,
          body: {
            status: {
              phase: 'Running',
              hostIP: '127.0.0.1',
              startTime: now,
              conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
              containerStatuses: containers.map((c) => ({
                name: c,
                image: 'registry.invalid/testkubelet:1',
                imageID: '',
                ready: true,
                restartCount: 0,
                started: true,
                state: { running: { startedAt: now } },
              })),
            },
          },
        },
        mergePatch,
      );
    },
    async remove() {
      await proc.stop();
      await core.deleteNode({ name: nodeName }).catch(() => {});
    },
  };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
