import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { binary } from './binaries.js';
import { createCertificate, createSigningKey, type KeyPair } from './pki.js';
import { versions } from './versions.js';

/** What a running control plane exposes; persisted as state.json in its directory. */
export interface ControlPlaneState {
  dir: string;
  kubeconfig: string;
  apiServerUrl: string;
  version: string;
  etcd: { pid: number; clientUrl: string };
  /** `args` lets stopApiServer()/startApiServer() bring the same API server back. */
  apiserver: { pid: number; port: number; args?: string[] };
  controllerManager: { pid: number };
  /**
   * The API server's audit log (JSON lines, level Metadata for every
   * request, written before the request returns): tests use it as the
   * oracle for what the API server read from a request.
   */
  auditLog: string;
  /** Where the admin PKI lives, for tests that mint more identities. */
  pki: { ca: string; caKey: string; adminCert: string; adminKey: string };
  startedAt: string;
}

const READY_TIMEOUT_MS = 90_000;

/**
 * A local etcd + kube-apiserver pair with RBAC on, in one directory that
 * holds its PKI, etcd data, logs and an admin kubeconfig. Both processes are
 * detached, so the control plane outlives the command that started it
 * (`npm run controlplane -- up`) until `stop()` (`down`) kills them and
 * removes the directory.
 */
export class ControlPlane {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  get statePath(): string {
    return join(this.dir, 'state.json');
  }

  /** The running control plane's state, or undefined when none runs here. */
  async status(): Promise<ControlPlaneState | undefined> {
    const state = await readFile(this.statePath, 'utf8')
      .then((s) => JSON.parse(s) as ControlPlaneState)
      .catch(() => undefined);
    if (!state) return undefined;
    if (!alive(state.etcd.pid) || !alive(state.apiserver.pid) || !alive(state.controllerManager?.pid ?? 0)) return undefined;
    return state;
  }

  /**
   * Starts etcd and kube-apiserver on free loopback ports and waits for
   * /readyz. Starting a control plane that already runs here returns its
   * state unchanged; a dead one's leftovers are cleaned up first.
   */
  async start(log: (line: string) => void = () => {}): Promise<ControlPlaneState> {
    const running = await this.status();
    if (running && (await ready(running).catch(() => false))) return running;
    await this.stop();

    const [etcdBin, apiserverBin, cmBin] = await Promise.all([
      binary('etcd'),
      binary('kube-apiserver'),
      binary('kube-controller-manager'),
    ]);
    await mkdir(join(this.dir, 'pki'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.dir, 'logs'), { recursive: true });
    const pki = await this.#writePki();

    const [etcdClient, etcdPeer, apiPort] = (await freePorts(3)) as [number, number, number];
    const clientUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    log(`starting etcd ${versions.etcd} on ${clientUrl}`);
    const etcdPid = this.#spawn(etcdBin, 'etcd', [
      '--name=default',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // Test data is disposable; fsync dominates start-up and write latency.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);

    const p = (name: string) => join(this.dir, 'pki', name);
    const auditLog = join(this.dir, 'logs', 'audit.log');
    const auditPolicy = join(this.dir, 'audit-policy.yaml');
    // Metadata for everything; the RequestReceived stage is left out so one
    // request is one event (two for a watch: ResponseStarted, ResponseComplete).
    await writeFile(auditPolicy, stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata' }] }));
    log(`starting kube-apiserver ${versions.kubernetes} on https://127.0.0.1:${apiPort}`);
    const apiArgs = [
      `--etcd-servers=${clientUrl}`,
      `--cert-dir=${join(this.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${p('apiserver.crt')}`,
      `--tls-private-key-file=${p('apiserver.key')}`,
      `--client-ca-file=${p('ca.crt')}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // No controller manager runs, so nothing would create the tokens this
      // admission plugin waits for.
      '--disable-admission-plugins=ServiceAccount',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${p('sa.pub')}`,
      `--service-account-signing-key-file=${p('sa.key')}`,
      // Lets the API server reach a test kubelet for exec/port-forward.
      `--kubelet-client-certificate=${p('kubelet-client.crt')}`,
      `--kubelet-client-key=${p('kubelet-client.key')}`,
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${auditLog}`,
      // Blocking: the event is written in the request's own goroutine, so
      // it is in the file by the time the response has ended.
      '--audit-log-mode=blocking',
      '--audit-log-maxsize=0',
    ];
    const apiPid = this.#spawn(apiserverBin, 'kube-apiserver', apiArgs);

    const apiServerUrl = `https://127.0.0.1:${apiPort}`;
    const state: ControlPlaneState = {
      dir: this.dir,
      kubeconfig: join(this.dir, 'admin.kubeconfig'),
      apiServerUrl,
      version: versions.kubernetes,
      etcd: { pid: etcdPid, clientUrl },
      apiserver: { pid: apiPid, port: apiPort, args: apiArgs },
      controllerManager: { pid: 0 },
      auditLog,
      pki: { ca: p('ca.crt'), caKey: p('ca.key'), adminCert: p('admin.crt'), adminKey: p('admin.key') },
      startedAt: new Date().toISOString(),
    };
    await writeFile(this.statePath, JSON.stringify(state, null, 2));
    await writeFile(state.kubeconfig, kubeconfig(apiServerUrl, pki.ca.cert, pki.admin), { mode: 0o600 });
    try {
      await waitReady(state);
      // A few controllers make the API behave as in a real cluster: `view`
      // and the other aggregated roles get their rules, namespaces finish
      // deleting, `default` ServiceAccounts and kube-root-ca.crt appear,
      // owned objects are garbage-collected. No scheduler, no kubelet.
      log('starting kube-controller-manager (aggregation, namespace, GC, serviceaccount controllers)');
      state.controllerManager.pid = this.#spawn(cmBin, 'kube-controller-manager', [
        `--kubeconfig=${state.kubeconfig}`,
        '--controllers=clusterrole-aggregation-controller,namespace-controller,garbage-collector-controller,serviceaccount-controller,root-ca-certificate-publisher-controller',
        `--root-ca-file=${p('ca.crt')}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--use-service-account-credentials=false',
      ]);
      await writeFile(this.statePath, JSON.stringify(state, null, 2));
      await waitAggregated(state);
    } catch (err) {
      const tail = await readFile(join(this.dir, 'logs', 'kube-apiserver.log'), 'utf8').catch(() => '');
      await this.stop();
      throw new Error(`${(err as Error).message}\n--- kube-apiserver log (tail) ---\n${tail.slice(-3000)}`, { cause: err });
    }
    log(`ready: ${state.kubeconfig}`);
    return state;
  }

  /**
   * Stops the API server alone (etcd and the data stay), as an outage of
   * the API server would; startApiServer() brings the same one back on the
   * same port with the same PKI.
   */
  async stopApiServer(): Promise<void> {
    const state = JSON.parse(await readFile(this.statePath, 'utf8')) as ControlPlaneState;
    await terminate(state.apiserver.pid);
  }

  /** Starts the API server stopped by stopApiServer() again and waits for /readyz. */
  async startApiServer(): Promise<void> {
    const state = JSON.parse(await readFile(this.statePath, 'utf8')) as ControlPlaneState;
    if (alive(state.apiserver.pid)) return;
    if (!state.apiserver.args) throw new Error('this control plane was started without recording the API server arguments');
    state.apiserver.pid = this.#spawn(await binary('kube-apiserver'), 'kube-apiserver', state.apiserver.args);
    await writeFile(this.statePath, JSON.stringify(state, null, 2));
    await waitReady(state);
  }

  /** Stops both processes and removes the directory. Harmless when nothing runs. */
  async stop(): Promise<void> {
    const state = await readFile(this.statePath, 'utf8')
      .then((s) => JSON.parse(s) as ControlPlaneState)
      .catch(() => undefined);
    if (state) {
      await terminate(state.controllerManager?.pid ?? 0);
      await Promise.all([terminate(state.apiserver.pid), terminate(state.etcd.pid)]);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  async #writePki(): Promise<{ ca: KeyPair; admin: KeyPair }> {
    const ca = createCertificate({ subject: { cn: 'hawser-test-ca' }, ca: true, days: 3650 });
    const serving = createCertificate({
      subject: { cn: 'kube-apiserver' },
      issuer: ca,
      serverNames: {
        dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        ip: ['127.0.0.1', '10.0.0.1'],
      },
    });
    const admin = createCertificate({ subject: { cn: 'hawser-test-admin', o: ['system:masters'] }, issuer: ca, client: true });
    const kubeletClient = createCertificate({
      subject: { cn: 'kube-apiserver-kubelet-client', o: ['system:masters'] },
      issuer: ca,
      client: true,
    });
    const sa = createSigningKey();
    const files: Record<string, string> = {
      'ca.crt': ca.cert,
      'ca.key': ca.key,
      'apiserver.crt': serving.cert,
      'apiserver.key': serving.key,
      'admin.crt': admin.cert,
      'admin.key': admin.key,
      'kubelet-client.crt': kubeletClient.cert,
      'kubelet-client.key': kubeletClient.key,
      'sa.pub': sa.publicKey,
      'sa.key': sa.privateKey,
    };
    for (const [name, content] of Object.entries(files)) {
      await writeFile(join(this.dir, 'pki', name), content, { mode: 0o600 });
    }
    return { ca, admin };
  }

  #spawn(bin: string, name: string, args: string[]): number {
    const out = openSync(join(this.dir, 'logs', `${name}.log`), 'a');
    try {
      const child = spawn(bin, args, { detached: true, stdio: ['ignore', out, out] });
      child.unref();
      if (!child.pid) throw new Error(`could not start ${name} (${bin})`);
      return child.pid;
    } finally {
      closeSync(out);
    }
  }
}

function kubeconfig(server: string, ca: string, admin: KeyPair): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'hawser-test', cluster: { server, 'certificate-authority-data': b64(ca) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64(admin.cert), 'client-key-data': b64(admin.key) } }],
    contexts: [{ name: 'hawser-test', context: { cluster: 'hawser-test', user: 'admin' } }],
    'current-context': 'hawser-test',
  });
}

async function waitReady(state: ControlPlaneState): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive(state.etcd.pid)) throw new Error(`etcd exited; see ${join(state.dir, 'logs', 'etcd.log')}`);
    if (!alive(state.apiserver.pid)) throw new Error(`kube-apiserver exited; see ${join(state.dir, 'logs', 'kube-apiserver.log')}`);
    try {
      if (await ready(state)) return;
      last = 'not ready';
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kube-apiserver did not become ready within ${READY_TIMEOUT_MS / 1000} s (${last})`);
}

/** Waits until the aggregation controller has filled in the `view` ClusterRole. */
async function waitAggregated(state: ControlPlaneState): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive(state.controllerManager.pid)) {
      throw new Error(`kube-controller-manager exited; see ${join(state.dir, 'logs', 'kube-controller-manager.log')}`);
    }
    const res = await get(state, '/apis/rbac.authorization.k8s.io/v1/clusterroles/view').catch(() => undefined);
    if (res?.status === 200 && ((JSON.parse(res.body) as { rules?: unknown[] }).rules?.length ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the view ClusterRole was not aggregated within ${READY_TIMEOUT_MS / 1000} s`);
}

async function ready(state: ControlPlaneState): Promise<boolean> {
  return (await get(state, '/readyz')).status === 200;
}

async function get(state: ControlPlaneState, path: string): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([state.pki.ca, state.pki.adminCert, state.pki.adminKey].map((f) => readFile(f)));
  return new Promise((resolve, reject) => {
    const req = request(`${state.apiServerUrl}${path}`, { ca, cert, key, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Whether a process runs; a zombie (exited, not yet reaped by its new parent) does not. */
export function alive(pid: number): boolean {
  // pid 0 would address our own process group.
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may contain spaces or ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

async function terminate(pid: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  // SIGKILL is delivered asynchronously: wait until the process is gone, so
  // `down` returning means nothing runs any more.
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Free loopback TCP ports, all held at once so they are distinct. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

