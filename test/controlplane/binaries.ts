import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { components, versions, type Component } from './versions.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Thrown when the control plane cannot be built here. The message is one
 * sentence a person can act on; callers print it as is.
 */
export class ControlPlaneUnavailableError extends Error {
  readonly code = 'HAWSER_CONTROLPLANE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControlPlaneUnavailableError';
  }
}

const useExisting =
  'To run the end-to-end suites against an existing cluster instead, set HAWSER_E2E_KUBECONFIG=/path/to/kubeconfig.';

/** `~/.cache/hawser` unless HAWSER_CACHE_DIR or XDG_CACHE_HOME say otherwise. */
export function cacheRoot(): string {
  if (process.env.HAWSER_CACHE_DIR) return process.env.HAWSER_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hawser');
}

/**
 * The cache directory of one component: its version plus a hash of its
 * wrapper module and build flags, so a changed go.sum or ldflag never reuses
 * a stale binary.
 */
export function cacheDir(component: Component): string {
  const spec = components[component];
  const moduleDir = join(here, 'go', spec.module);
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', ...(spec.sources ?? [])]) hash.update(readFileSync(join(moduleDir, file)));
  hash.update(JSON.stringify(spec));
  return join(cacheRoot(), `${component}-${versions[component]}-${hash.digest('hex').slice(0, 12)}`);
}

/** Absolute path of a built binary (built on first use). */
export async function binary(
  name: 'kube-apiserver' | 'kube-controller-manager' | 'kubectl' | 'etcd' | 'helm' | 'testkubelet',
): Promise<string> {
  const component: Component = name === 'etcd' || name === 'helm' || name === 'testkubelet' ? name : 'kubernetes';
  const dir = await ensureBuilt(component);
  return join(dir, 'bin', name);
}

/** Builds every component that is not cached yet, one after another. */
export async function ensureAll(log: (line: string) => void = () => {}): Promise<void> {
  for (const component of ['etcd', 'kubernetes', 'helm', 'testkubelet'] as const) await ensureBuilt(component, log);
}

function isComplete(dir: string, component: Component): boolean {
  return components[component].binaries.every((b) => existsSync(join(dir, 'bin', b)));
}

/**
 * Returns the cache directory of `component`, building it first if needed.
 * Concurrent callers (two test runs, a test run and `controlplane up`) are
 * serialised by an exclusive lock file; the build goes to a private
 * directory that is renamed into place only when complete, so a killed
 * build never leaves a half-written cache entry behind.
 */
export async function ensureBuilt(component: Component, log: (line: string) => void = () => {}): Promise<string> {
  const dir = cacheDir(component);
  if (isComplete(dir, component)) return dir;
  await mkdir(cacheRoot(), { recursive: true });
  const release = await lock(`${dir}.lock`, log);
  try {
    if (isComplete(dir, component)) return dir;
    await checkGo();
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    const started = Date.now();
    log(`building ${component} ${versions[component]} from the Go module proxy into ${dir} (first use only; minutes)`);
    await goBuild(component, join(tmp, 'bin'));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    log(`built ${component} ${versions[component]} in ${Math.round((Date.now() - started) / 1000)} s`);
    return dir;
  } finally {
    await release();
  }
}

async function lock(path: string, log: (line: string) => void): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => unlink(path).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // A lock whose owner died (killed build, crashed run) is stale.
    const owner = Number(await readFile(path, 'utf8').catch(() => ''));
    if (owner && !alive(owner)) {
      await unlink(path).catch(() => {});
      continue;
    }
    // The owner may not have written its pid yet; only an old, empty lock is stale.
    if (!owner) {
      const age = Date.now() - (await stat(path).then((s) => s.mtimeMs).catch(() => Date.now()));
      if (age > 10_000) await unlink(path).catch(() => {});
    }
    if (!announced) log(`waiting for another build (pid ${owner || '?'}) holding ${path}`);
    announced = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function checkGo(): Promise<void> {
  let out: string;
  try {
    out = (await run('go', ['env', 'GOVERSION'], {})).stdout.trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ControlPlaneUnavailableError(
        `Go is not installed: building kube-apiserver, etcd, kubectl and helm for the end-to-end suites needs Go ${versions.go}+ and the Go module proxy. ${useExisting}`,
        { cause: err },
      );
    }
    throw err;
  }
  const [major = 0, minor = 0] = out.replace(/^go/, '').split('.').map(Number);
  const [wantMajor = 0, wantMinor = 0] = versions.go.split('.').map(Number);
  if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
    throw new ControlPlaneUnavailableError(
      `Go ${out} is too old: Kubernetes ${versions.kubernetes} needs Go ${versions.go}+. ${useExisting}`,
    );
  }
}

async function goBuild(component: Component, outDir: string): Promise<void> {
  const spec = components[component];
  await mkdir(outDir, { recursive: true });
  const env = {
    ...process.env,
    CGO_ENABLED: '0',
    // Never rewrite the committed go.sum, never fetch a different toolchain.
    GOFLAGS: '-mod=readonly',
    GOTOOLCHAIN: 'local',
  };
  const args = ['build', '-trimpath', '-tags', 'selinux,notest', '-ldflags', ['-s', '-w', ...spec.ldflags].join(' ')];
  // `go build -o dir/` of several packages writes one binary per main package.
  args.push('-o', spec.packages.length > 1 ? `${outDir}/` : join(outDir, spec.binaries[0]!), ...spec.packages);
  try {
    await run('go', args, { cwd: join(here, 'go', spec.module), env });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    if (/dial tcp|no such host|connection refused|proxyconnect|i\/o timeout|TLS handshake timeout|403 Forbidden/.test(stderr)) {
      throw new ControlPlaneUnavailableError(
        `The Go module proxy (GOPROXY=${process.env.GOPROXY ?? 'default'}) could not be reached to download ${component} ${versions[component]}. ${useExisting}`,
        { cause: err },
      );
    }
    throw new ControlPlaneUnavailableError(`Building ${component} ${versions[component]} failed:\n${stderr.slice(-4000)}`, { cause: err });
  }
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(Object.assign(new Error(`${cmd} ${args[0]} exited with ${code}`), { stdout, stderr }));
    });
  });
}
