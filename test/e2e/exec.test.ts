import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary } from '../controlplane/binaries.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, kubectl, uniqueName } from '../support/kube.js';
import { startTestKubelet, type TestKubelet } from '../support/test-kubelet.js';
import { testCluster } from '../support/test-cluster.js';

/**
 * exec, attach, port-forward and logs end to end with real kubectl: kubectl ->
 * Hawser server -> tunnel -> agent (its ServiceAccount + impersonation) ->
 * kube-apiserver -> kubelet. The kubelet is go/testkubelet: a Node whose
 * InternalIP is 127.0.0.1 and whose kubeletEndpoint port is a loopback
 * HTTPS server running the real streaming server (k8s.io/cri-streaming)
 * over a fake container, so every hop speaks the real protocols and only
 * the process inside the "container" is pretend.
 *
 * kubectl speaks WebSocket (v5.channel.k8s.io; SPDY-over-WebSocket for
 * port-forward) and falls back to SPDY; the API server translates WebSocket
 * to SPDY toward a kubelet that does not declare ExtendWebSocketsToKubelet,
 * so the last hop is SPDY either way. Both kubectl protocols are tested.
 */
describe.skipIf(testCluster().external)('exec, attach, port-forward and logs', () => {
  let kubelet: TestKubelet;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let echo: Server;
  let echoPort: number;
  const pod = 'shell';

  beforeAll(async () => {
    kubelet = await startTestKubelet();
    ns = await createNamespace();
    await kubelet.createPod(ns.name, pod);
    // The port-forward target: what a process in the pod would listen on.
    echo = createServer((socket) => {
      socket.write('echo:');
      socket.pipe(socket);
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await kubelet?.remove();
    await ns?.remove();
    await new Promise((r) => (echo ? echo.close(r) : r(undefined)));
  });

  /** The behaviours every path must show, with kubectl pointed at `target`. */
  function streamingCases(label: string, target: () => Target) {
    for (const protocol of ['websocket', 'spdy'] as const) {
      const env = protocol === 'spdy' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } : {};

      it(`${label} (${protocol}): kubectl exec prints the command's output`, async () => {
        const res = await run(target(), ['exec', pod, '-n', ns.name, '--', 'echo', 'hello', 'world'], { env });
        expect(res.stderr).toBe('');
        expect(res.stdout).toBe('hello world\n');
        expect(res.code).toBe(0);
      });

      it(`${label} (${protocol}): kubectl exec exits with the command's exit code and passes stderr`, async () => {
        const failed = await run(target(), ['exec', pod, '-n', ns.name, '--', 'exit', '42'], { env });
        expect(failed.code).toBe(42);
        expect(failed.stderr).toContain('command terminated with exit code 42');
        const err = await run(target(), ['exec', pod, '-n', ns.name, '--', 'stderr', 'to', 'stderr'], { env });
        expect(err).toMatchObject({ code: 0, stdout: '', stderr: 'to stderr\n' });
      });

      it(`${label} (${protocol}): kubectl exec -i streams stdin to the command and back`, async () => {
        // Larger than one WebSocket/SPDY frame and one tunnel chunk.
        const input = `${randomBytes(96 * 1024).toString('base64')}\nend\n`;
        const res = await run(target(), ['exec', '-i', pod, '-n', ns.name, '--', 'cat'], { env, input });
        expect(res.stderr).toBe('');
        expect(res.stdout.length).toBe(input.length);
        expect(res.stdout === input).toBe(true);
        expect(res.code).toBe(0);
      });

      it(`${label} (${protocol}): kubectl attach -i reaches the container's main process`, async () => {
        const res = await run(target(), ['attach', '-i', pod, '-n', ns.name], { env, input: 'typed into attach\n' });
        expect(res.stdout).toBe('attached to main\ntyped into attach\n');
        expect(res.code).toBe(0);
      });

      it(`${label} (${protocol}): kubectl port-forward carries TCP to the pod's port, both ways, on several connections`, async () => {
        await withPortForward(target(), ['port-forward', '-n', ns.name, `pod/${pod}`, `:${echoPort}`], env, async (localPort) => {
          for (let i = 0; i < 3; i++) {
            const msg = `ping-${i}-${randomBytes(8).toString('hex')}`;
            expect(await roundTrip(localPort, msg)).toBe(`echo:${msg}`);
          }
          // Two connections at once share the one port-forward session.
          const [a, b] = await Promise.all([roundTrip(localPort, 'a'.repeat(70_000)), roundTrip(localPort, 'b')]);
          expect(a).toBe(`echo:${'a'.repeat(70_000)}`);
          expect(b).toBe('echo:b');
        });
      });
    }
  }

  /** `kubectl logs` and `logs -f`: a plain GET, streamed by the API server from the kubelet. */
  function logsCases(label: string, target: () => Target) {
    it(`${label}: kubectl logs prints the container's log`, async () => {
      const res = await run(target(), ['logs', pod, '-n', ns.name], {});
      expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'main line 1\nmain line 2\nmain line 3\n' });
    });

    it(`${label}: kubectl logs -f streams new lines as they are written, until kubectl stops`, async () => {
      const child = await spawnKubectl(target(), ['logs', '-f', pod, '-n', ns.name], {});
      let out = '';
      let exited = false;
      child.stdout!.on('data', (d: Buffer) => (out += d));
      child.on('exit', () => (exited = true));
      try {
        // The kubelet writes one line per 100 ms after the first three: line
        // 8 can only arrive if the body is relayed as it is written.
        await eventually(async () => expect(out).toContain('main line 8\n'), 20_000);
        expect(exited).toBe(false);
        expect(out.startsWith('main line 1\nmain line 2\nmain line 3\nmain line 4\n')).toBe(true);
      } finally {
        child.kill('SIGTERM');
      }
    });
  }

  describe('directly against the API server (admin)', () => {
    streamingCases('direct', () => ({}));
    logsCases('direct', () => ({}));

    it('reaches the test kubelet with the API server\'s kubelet client certificate, over SPDY', () => {
      const execs = kubelet.requests().filter((r) => r.kind === 'exec' && r.namespace === ns.name);
      expect(execs.length).toBeGreaterThan(0);
      for (const r of kubelet.requests()) {
        expect(r.clientCN).toBe('kube-apiserver-kubelet-client');
        if (r.kind !== 'logs') expect(r.upgrade).toBe('SPDY/3.1');
      }
      expect(kubelet.requests().filter((r) => r.kind === 'logs' && r.follow === true).length).toBeGreaterThan(0);
      expect(execs[0]).toMatchObject({ path: `/exec/${ns.name}/${pod}/main`, command: ['echo', 'hello', 'world'] });
      expect(kubelet.requests().some((r) => r.kind === 'portforward' && r.path === `/portForward/${ns.name}/${pod}`)).toBe(true);
    });
  });

  describe('through Hawser', () => {
    let server: TestServer;
    const agents: TestAgent[] = [];
    const clusters = { full: uniqueName('full'), 'read-only': uniqueName('ro') };
    let kubeconfigs: { admin: string; read: string };

    beforeAll(async () => {
      server = await startServer({ args: ['--tier', 'admin=idp-admin', '--tier', 'read=idp-read'] });
      for (const mode of ['full', 'read-only'] as const) {
        const { token } = await addCluster(server, clusters[mode]);
        const agentNs = await createNamespace();
        // tierBindings: hawser:tier:admin -> admin, hawser:tier:read -> view.
        agents.push(await deployAgent({ namespace: agentNs.name, server, token, values: { mode, set: ['tierBindings.enabled=true'] } }));
      }
      for (const agent of agents) {
        await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
      }
      kubeconfigs = {
        admin: await operatorKubeconfig(server, 'admin'),
        read: await operatorKubeconfig(server, 'read'),
      };
    });
    afterAll(async () => {
      for (const agent of agents) await agent.remove();
      await server?.remove();
    });

    const via = (tier: 'admin' | 'read', mode: 'full' | 'read-only'): Target => ({ kubeconfig: kubeconfigs[tier], context: clusters[mode] });

    streamingCases('full agent, tier admin', () => via('admin', 'full'));
    // Logs are a read (get pods/log): a read-only agent and the read tier (view) suffice.
    logsCases('read-only agent, tier read', () => via('read', 'read-only'));

    it('audits a followed log as one request once kubectl leaves, with the bytes relayed', async () => {
      await eventually(async () => {
        const follows = relayed({ cluster: clusters['read-only'], user: 'user-read', subresource: 'log', status: 200 });
        // Both logs tests: the short one (3 lines) and the followed one (8+ lines).
        expect(follows.length).toBeGreaterThanOrEqual(2);
        expect(follows.some((e) => e.bytes >= 8 * 'main line 1\n'.length)).toBe(true);
      });
    });

    interface Relayed { cluster: string; verb: string; status: number; subresource: string; bytes: number; user: string; outcome: string }
    /** The server's audit of relayed streaming requests. */
    function relayed(filter: Partial<Relayed>): Relayed[] {
      return server.process.lines
        .filter((l) => l.includes('"request.relayed"'))
        .map((l) => {
          const { audit } = JSON.parse(l) as { audit: { actor: string; outcome: string; details: Omit<Relayed, 'user' | 'outcome'> } };
          return { ...audit.details, user: audit.actor, outcome: audit.outcome };
        })
        .filter((a) => Object.entries(filter).every(([k, v]) => a[k as keyof Relayed] === v));
    }

    it('relays kubectl\'s WebSocket upgrades (GET) and SPDY upgrades (POST), audited once per session with the bytes relayed', async () => {
      await eventually(async () => {
        const mine = { cluster: clusters.full, user: 'user-admin', status: 101 };
        for (const subresource of ['exec', 'attach', 'portforward']) {
          // WebSocket is a GET (verb get), SPDY a POST (verb create).
          expect(relayed({ ...mine, subresource, verb: 'get' }).length, subresource).toBeGreaterThan(0);
          expect(relayed({ ...mine, subresource, verb: 'create' }).length, subresource).toBeGreaterThan(0);
        }
        // `cat` sent the 128 KiB of base64 stdin back: bytes counts what the session returned.
        expect(relayed({ ...mine, subresource: 'exec' }).some((e) => e.bytes > 128 * 1024)).toBe(true);
      });
    });

    it('refuses exec, attach and port-forward through a read-only agent with the agent\'s 403 Status', async () => {
      const exec = await run(via('admin', 'read-only'), ['exec', pod, '-n', ns.name, '--', 'echo', 'hello'], {});
      expect(exec.code).not.toBe(0);
      expect(exec.stdout).toBe('');
      expect(exec.stderr).toContain('hawser-agent policy refused this request (rule exec-attach-port-forward-proxy): pods/exec needs agent mode full; this agent runs read-only');
      const attach = await run(via('admin', 'read-only'), ['attach', '-i', pod, '-n', ns.name], { input: 'x\n' });
      expect(attach.code).not.toBe(0);
      expect(attach.stderr).toContain('(rule exec-attach-port-forward-proxy): pods/attach needs agent mode full');
      const pf = await portForwardError(via('admin', 'read-only'), ['port-forward', '-n', ns.name, `pod/${pod}`, `:${echoPort}`]);
      expect(pf).toContain('(rule exec-attach-port-forward-proxy): pods/portforward needs agent mode full');
    });

    it('leaves exec to the API server\'s RBAC for a tier without it (read -> view has no pods/exec)', async () => {
      const before = kubelet.requests().length;
      const res = await run(via('read', 'full'), ['exec', pod, '-n', ns.name, '--', 'echo', 'hello'], {});
      expect(res.code).not.toBe(0);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(/User "hawser:user-read" cannot (get|create) resource "pods\/exec"/);
      // The same sentence a direct, impersonated kubectl gets.
      const direct = await kubectl(['exec', pod, '-n', ns.name, '--as', 'hawser:user-read', '--as-group', 'hawser:tier:read', '--', 'echo', 'hello']);
      expect(res.stderr.trim()).toBe(direct.stderr.trim());
      const pf = await portForwardError(via('read', 'full'), ['port-forward', '-n', ns.name, `pod/${pod}`, `:${echoPort}`]);
      expect(pf).toMatch(/User "hawser:user-read" cannot (get|create) resource "pods\/portforward"/);
      expect(kubelet.requests().length).toBe(before);
    });

    it('audits a refused upgrade with the refusal\'s status, not as a 101 success', async () => {
      // Refused by the read-only agent (403 Status) and by the API server's RBAC (403 Status).
      await run(via('admin', 'read-only'), ['exec', pod, '-n', ns.name, '--', 'echo', 'audit'], {});
      await run(via('read', 'full'), ['exec', pod, '-n', ns.name, '--', 'echo', 'audit'], {});
      await eventually(async () => {
        const refused = [...relayed({ cluster: clusters['read-only'], subresource: 'exec' }), ...relayed({ cluster: clusters.full, user: 'user-read', subresource: 'exec' })];
        expect(refused.length).toBeGreaterThanOrEqual(4);
        for (const e of refused) expect(e).toMatchObject({ status: 403, outcome: 'failure' });
      });
    });
  });
});

/** Where kubectl points: the admin kubeconfig (default) or an operator's, with a context. */
interface Target {
  kubeconfig?: string;
  context?: string;
}

function targetArgs(target: Target): string[] {
  return target.context ? ['--context', target.context] : [];
}

function run(target: Target, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv }): ReturnType<typeof kubectl> {
  return kubectl([...targetArgs(target), ...args], { ...opts, ...(target.kubeconfig ? { kubeconfig: target.kubeconfig } : {}) });
}

/** kubectl as a long-running child (port-forward), which kubectl() would wait for. */
async function spawnKubectl(target: Target, args: string[], env: NodeJS.ProcessEnv) {
  const kubeconfig = target.kubeconfig ?? testCluster().kubeconfig;
  return spawn(await binary('kubectl'), ['--kubeconfig', kubeconfig, ...targetArgs(target), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function operatorKubeconfig(server: TestServer, tier: 'admin' | 'read'): Promise<string> {
  const token = await server.cli(['token', 'create', '--user', `user-${tier}`, '--group', `idp-${tier}`, '-o', 'json']);
  if (token.code !== 0) throw new Error(`hawser token create failed: ${token.stderr}`);
  const file = join(server.dataDir, `${tier}.kubeconfig`);
  const res = await server.cli(['kubeconfig', '--token', (JSON.parse(token.stdout) as { token: string }).token, '--output', file, '--context-prefix', '']);
  if (res.code !== 0) throw new Error(`hawser kubeconfig failed: ${res.stderr}`);
  return file;
}

/** Runs `kubectl port-forward` until `use` is done with the local port it picked. */
async function withPortForward(target: Target, args: string[], env: NodeJS.ProcessEnv, use: (localPort: number) => Promise<void>): Promise<void> {
  const child = await spawnKubectl(target, args, env);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${out}${err}`)), 20_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.stderr!.on('data', (d: Buffer) => (err += d));
      child.on('exit', (code) => reject(new Error(`port-forward exited (${code}): ${out}${err}`)));
    });
    await use(port);
  } finally {
    child.kill('SIGTERM');
  }
}

/** Runs port-forward expecting it to fail on the first connection; returns its stderr. */
async function portForwardError(target: Target, args: string[]): Promise<string> {
  const child = await spawnKubectl(target, args, {});
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  try {
    const started = await new Promise<number | undefined>((resolve) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => resolve(undefined));
    });
    // kubectl upgrades when it starts, so a refusal usually ends it at once;
    // if it listens anyway, the first connection surfaces the error.
    if (started !== undefined) await roundTrip(started, 'x').catch(() => undefined);
    await eventually(async () => expect(err).toMatch(/error|forbidden/i), 10_000);
    return err;
  } finally {
    child.kill('SIGTERM');
  }
}

/** Opens a TCP connection, writes `msg`, half-closes, and returns everything read back. */
function roundTrip(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(msg));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no answer on ${port}; got ${got.length} bytes`)));
  });
}
