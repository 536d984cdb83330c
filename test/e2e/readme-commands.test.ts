import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCommands, type DemoCommand } from '../../scripts/demo-commands.js';
import { binary } from '../controlplane/binaries.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { applyYaml, createNamespace, uniqueName } from '../support/kube.js';
import { runCommand, type CommandResult } from '../support/processes.js';
import { testCluster } from '../support/test-cluster.js';

const root = resolve(import.meta.dirname, '../..');

// The lines a reader copies: what `npm run demo` prints, what `hawser
// cluster add` prints, and the commands in README.md. Each runs through a
// shell exactly as printed; a form that cannot execute ("could not determine
// executable to run", "command not found") fails here, not on a reader's
// fresh clone.
describe('the commands the README, the demo and `hawser cluster add` print', () => {
  let env: NodeJS.ProcessEnv;
  const sh = (line: string, cwd = root): Promise<CommandResult> => runCommand('sh', ['-c', line], { cwd, env });

  beforeAll(async () => {
    // What a reader's shell has: node and npm, plus helm and kubectl on PATH
    // and KUBECONFIG pointing at the cluster the agent goes to.
    const tools = [dirname(await binary('helm')), dirname(await binary('kubectl'))];
    env = { ...process.env, PATH: [...tools, process.env.PATH ?? ''].join(':'), KUBECONFIG: testCluster().kubeconfig, HELM_NO_PLUGINS: '1' };
  });

  describe('printed by npm run demo', () => {
    let server: TestServer;
    let agent: TestAgent;
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    let work: string;
    let commands: ReturnType<typeof demoCommands>;

    beforeAll(async () => {
      // The demo's setup, on the shared test control plane.
      server = await startServer({ args: ['--tier', 'read=demo-readers', '--tier', 'admin=demo-admins'] });
      ns = await createNamespace();
      const cluster = uniqueName('demo');
      const { token } = await addCluster(server, cluster);
      agent = await deployAgent({ namespace: ns.name, server, token, values: { set: ['tierBindings.enabled=true'] } });
      await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 60_000);
      await applyYaml('apiVersion: v1\nkind: Namespace\nmetadata: { name: demo-apps }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: demo-apps }\ndata: { color: blue }\n');
      const created = await server.cli(['token', 'create', '--user', 'demo', '--group', 'demo-readers', '-o', 'json']);
      expect(created.code, created.stderr).toBe(0);
      work = await mkdtemp(join(tmpdir(), 'hawser-demo-'));
      const kubeconfig = join(work, 'kubeconfig');
      const written = await server.cli(['kubeconfig', cluster, '--token', (JSON.parse(created.stdout) as { token: string }).token, '--output', kubeconfig]);
      expect(written.code, written.stderr).toBe(0);
      commands = demoCommands({ kubeconfig: relative(root, kubeconfig), dataDir: relative(root, server.dataDir), publicUrl: server.publicUrl });
    }, 180_000);
    afterAll(async () => {
      await agent?.remove();
      await server?.remove();
      await ns?.remove();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const check = async (c: DemoCommand): Promise<void> => {
      if (c.expect === 'stream') {
        // A watch: it must start and print the object, then we stop it.
        const child = spawn('sh', ['-c', `exec ${c.line}`], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        try {
          await eventually(async () => expect(out).toContain('settings'), 30_000);
        } finally {
          child.kill('SIGINT');
        }
        return;
      }
      const r = await sh(c.line);
      const output = `${c.line}\n${r.stdout}${r.stderr}`;
      expect(r.stderr, output).not.toMatch(/could not determine executable|command not found|Missing script/);
      if (c.expect === 'ok') expect(r.code, output).toBe(0);
      else {
        expect(r.code, output).toBe(1);
        // Refused for the reason the demo's note gives.
        expect(r.stderr, output).toMatch(/read-only/.test(c.note ?? '') ? /hawser-agent policy refused .*read-only/ : /forbidden/i);
      }
    };

    it('lets the demo operator browse: every "what to try" line runs as printed', async () => {
      for (const c of commands.browse) await check(c);
    }, 180_000);

    it('shows the refusals the demo promises: the read-only agent and the cluster RBAC', async () => {
      for (const c of commands.refused) await check(c);
    }, 120_000);

    it('runs the npx hawser lines as printed (audit, cluster list)', async () => {
      for (const c of commands.hawser) await check(c);
      expect((await sh(commands.hawser[1]!.line)).stdout).toMatch(/demo-/);
    }, 120_000);
  });

  describe('printed by npx hawser cluster add', () => {
    let server: TestServer | undefined;
    afterAll(async () => {
      await server?.remove();
    });

    /** `npx hawser cluster add` from the repository root, then its helm line from elsewhere, as printed. */
    async function installAsPrinted(s: TestServer, expectChart: RegExp): Promise<void> {
      const name = uniqueName('printed');
      const added = await sh(`npx hawser cluster add ${name} --data-dir ${relative(root, s.dataDir)} --server ${s.publicUrl}`);
      expect(added.code, added.stderr).toBe(0);
      const line = added.stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('helm install '));
      expect(line, added.stdout).toBeDefined();
      expect(line).toMatch(expectChart);
      // Not from charts/: from an empty directory somewhere else.
      const elsewhere = await mkdtemp(join(tmpdir(), 'hawser-elsewhere-'));
      try {
        const installed = await sh(line!, elsewhere);
        expect(installed.code, `${line}\n${installed.stderr}`).toBe(0);
        expect(installed.stdout).toMatch(/STATUS: deployed/);
        const listed = await sh('helm list -n hawser-system -o json');
        expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'hawser-agent', status: 'deployed' })]);
      } finally {
        await sh('helm uninstall hawser-agent -n hawser-system --wait', elsewhere);
        await rm(elsewhere, { recursive: true, force: true });
      }
    }

    // It installs the fixed release hawser-agent into hawser-system: only on
    // the suite's own control plane, never on a cluster we were lent.
    it.skipIf(testCluster().external)('installs the agent chart with the printed helm line from any directory (default: this checkout\'s chart)', async () => {
      server = await startServer();
      await installAsPrinted(server, new RegExp(`^helm install hawser-agent ${join(root, 'charts/hawser-agent')} `));
    }, 120_000);

    it.skipIf(testCluster().external)('installs from the packaged chart npm run pack:charts makes, when the server names it with --agent-chart', async () => {
      const packed = await sh('npm run -s pack:charts');
      expect(packed.code, packed.stderr).toBe(0);
      const version = /^version: (\S+)$/m.exec(readFileSync(join(root, 'charts/hawser-agent/Chart.yaml'), 'utf8'))![1]!;
      const tgz = `dist-pack/charts/hawser-agent-${version}.tgz`;
      expect(existsSync(join(root, tgz))).toBe(true);
      await server?.remove();
      // A relative path on the command line: the server prints it absolute.
      server = await startServer({ args: ['--agent-chart', join(relative(process.cwd(), root), tgz)] });
      await installAsPrinted(server, new RegExp(`^helm install hawser-agent ${join(root, tgz).replace(/\./g, '\\.')} `));
    }, 120_000);
  });

  it('links hawser and hawser-agent at npm ci time: their bin entries are committed files, not build output', async () => {
    for (const pkg of ['packages/server', 'packages/agent']) {
      const { bin } = JSON.parse(readFileSync(join(root, pkg, 'package.json'), 'utf8')) as { bin: Record<string, string> };
      for (const [name, target] of Object.entries(bin)) {
        expect(target, name).not.toMatch(/(^|\/)dist\//);
        const tracked = await runCommand('git', ['ls-files', '--error-unmatch', join(pkg, target)], { cwd: root });
        expect(tracked.code, `${name} -> ${pkg}/${target} is not in git`).toBe(0);
      }
    }
  });

  describe('in README.md', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const lines = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
      .flatMap((m) => m[1]!.split('\n'))
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l && !l.startsWith('#'));
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

    it('names only npm scripts that exist', () => {
      const used = lines.flatMap((l) => [...l.matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((m) => m[1]!));
      expect(used.length).toBeGreaterThan(3);
      for (const s of used) expect(Object.keys(scripts.scripts), s).toContain(s);
    });

    it('uses hawser commands that run: each `npx hawser …` form answers --help from the repository root', async () => {
      const forms = new Set(lines.filter((l) => /^npx hawser(-agent)? /.test(l)).map((l) => {
        const words = l.split(/\s+/);
        // npx hawser <command> [<subcommand>]: the words before the first flag or argument in CAPS/paths.
        const form = words.slice(0, 2);
        for (const w of words.slice(2)) {
          if (w.startsWith('-') || /[^a-z]/.test(w) || form.length >= 4) break;
          form.push(w);
        }
        return form.join(' ');
      }));
      expect(forms.size).toBeGreaterThan(2);
      for (const form of forms) {
        const r = await sh(`${form} --help`);
        expect(r.code, `${form} --help\n${r.stderr}`).toBe(0);
      }
    }, 120_000);
  });
});
