/**
 * npm run controlplane -- up | down | status | build
 * npm run kubectl -- ARGS      (kubectl against the running control plane)
 * npm run helm -- ARGS         (the built helm)
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ControlPlaneUnavailableError, binary, ensureAll } from './binaries.js';
import { ControlPlane } from './control-plane.js';

const usage = `Usage: npm run controlplane -- <command>

A local Kubernetes control plane (etcd + kube-apiserver, RBAC on) built from
the Go module proxy and cached under ~/.cache/hawser.

Commands:
  up       start etcd and kube-apiserver on free loopback ports, wait until
           ready, and print the admin kubeconfig path (harmless if running)
  down     stop everything and remove its state
  status   say what runs where
  build    build and cache the binaries without starting anything
  kubectl  run the built kubectl against it (also: npm run kubectl -- ARGS)
  helm     run the built helm (also: npm run helm -- ARGS)

State lives in .hawser/controlplane (override with HAWSER_CONTROLPLANE_DIR).`;

const dir = resolve(process.env.HAWSER_CONTROLPLANE_DIR ?? '.hawser/controlplane');
const cp = new ControlPlane(dir);
const log = (line: string) => process.stderr.write(`controlplane: ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      const state = await cp.start(log);
      process.stdout.write(`${state.kubeconfig}\n`);
      return 0;
    }
    case 'down':
      await cp.stop();
      log(`stopped; removed ${dir}`);
      return 0;
    case 'status': {
      const state = await cp.status();
      if (!state) {
        process.stdout.write(`not running (state dir ${dir})\n`);
        return 1;
      }
      process.stdout.write(
        [
          `kube-apiserver ${state.version}  ${state.apiServerUrl}  pid ${state.apiserver.pid}`,
          `etcd                   ${state.etcd.clientUrl}  pid ${state.etcd.pid}`,
          `kube-controller-manager                        pid ${state.controllerManager.pid}`,
          `kubeconfig             ${state.kubeconfig}`,
          `started                ${state.startedAt}`,
        ].join('\n') + '\n',
      );
      return 0;
    }
    case 'build':
      await ensureAll(log);
      return 0;
    case 'kubectl': {
      const state = await cp.status();
      const env = { ...process.env };
      if (state && !rest.some((a) => a.startsWith('--kubeconfig'))) env.KUBECONFIG = state.kubeconfig;
      return exec(await binary('kubectl'), rest, env);
    }
    case 'helm':
      return exec(await binary('helm'), rest, process.env);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${usage}\n`);
      return command ? 0 : 2;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${usage}\n`);
      return 2;
  }
}

function exec(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: 'inherit', env });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ControlPlaneUnavailableError) process.stderr.write(`controlplane: ${err.message}\n`);
    else process.stderr.write(`controlplane: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
