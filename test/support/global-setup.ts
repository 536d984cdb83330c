import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { parse } from 'yaml';
import { ControlPlane } from '../controlplane/control-plane.js';
import { ControlPlaneUnavailableError, ensureAll, ensureBuilt } from '../controlplane/binaries.js';
import type { TestCluster } from './test-cluster.js';

/**
 * Starts one real control plane for the whole end-to-end project and stops it
 * at the end. With HAWSER_E2E_KUBECONFIG set, the suites run against that
 * existing cluster instead and nothing is started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`controlplane: ${line}\n`);
  const external = process.env.HAWSER_E2E_KUBECONFIG;
  // Every binary the suites use is built here, before any test runs, so a
  // first run's builds (minutes) never count against a test's timeout.
  try {
    if (external) await ensureBuilt('helm', log);
    else await ensureAll(log);
  } catch (err) {
    if (err instanceof ControlPlaneUnavailableError) throw new Error(`cannot build the end-to-end tools: ${err.message}`);
    throw err;
  }
  if (external) {
    project.provide('cluster', await describeExternal(external));
    return async () => {};
  }
  const dir = await mkdtemp(join(tmpdir(), 'hawser-e2e-'));
  const cp = new ControlPlane(dir);
  let state;
  try {
    state = await cp.start(log);
  } catch (err) {
    if (err instanceof ControlPlaneUnavailableError) {
      throw new Error(`cannot start the end-to-end control plane: ${err.message}`);
    }
    throw err;
  }
  // Kill the processes even if the runner dies without calling teardown.
  const onExit = () => {
    for (const pid of [state.controllerManager.pid, state.apiserver.pid, state.etcd.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', onExit);
  project.provide('cluster', {
    kubeconfig: state.kubeconfig,
    server: state.apiServerUrl,
    ca: await readFile(state.pki.ca, 'utf8'),
    external: false,
    version: state.version,
    kubeletClientCaDir: join(dir, 'pki'),
    auditLog: state.auditLog,
  } satisfies TestCluster);
  return async () => {
    process.off('exit', onExit);
    await cp.stop();
  };
}

async function describeExternal(path: string): Promise<TestCluster> {
  const config = parse(await readFile(path, 'utf8')) as {
    'current-context': string;
    contexts: { name: string; context: { cluster: string } }[];
    clusters: { name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string } }[];
  };
  const context = config.contexts.find((c) => c.name === config['current-context']);
  const cluster = config.clusters.find((c) => c.name === context?.context.cluster)?.cluster;
  if (!cluster) throw new Error(`HAWSER_E2E_KUBECONFIG=${path}: current context has no cluster`);
  const ca = cluster['certificate-authority-data']
    ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString()
    : cluster['certificate-authority']
      ? await readFile(cluster['certificate-authority'], 'utf8')
      : '';
  return { kubeconfig: path, server: cluster.server, ca, external: true };
}
