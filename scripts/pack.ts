/**
 * npm run pack:agent | pack:server | pack:charts
 *
 * The deployable artifacts, all under dist-pack/ (gitignored):
 *
 * - agent: dist-pack/hawser-agent/bin/hawser-agent, ONE file bundled by
 *   esbuild from the built packages and their production dependencies
 *   (versions pinned by package-lock.json), plus a package.json holding only
 *   `type` and `version`. Nothing else is needed at run time but Node.
 * - server: dist-pack/hawser/ with the built workspace packages and their
 *   production dependencies installed by `npm ci --omit=dev` from the
 *   repository's package-lock.json (so the image runs exactly the locked
 *   versions), and bin/hawser.
 * - charts: dist-pack/charts/hawser-agent-<version>.tgz and
 *   hawser-server-<version>.tgz, packaged by the built helm.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import type { Plugin } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const which = process.argv[2];
const say = (line: string) => process.stdout.write(`${line}\n`);
const size = (path: string) => execFileSync('du', ['-sh', path], { encoding: 'utf8' }).split('\t')[0];
const readJson = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;

function requireBuilt(pkg: string): void {
  if (!existsSync(join(root, 'packages', pkg, 'dist/cli.js')) && pkg !== 'protocol') {
    throw new Error(`packages/${pkg}/dist is missing: run \`npm run build\` first (npm run pack:* does)`);
  }
}

/**
 * Node built-ins reached through require() instead of an ESM import.
 *
 * Why: an ESM import of a built-in makes Node copy every export into the
 * module namespace, which runs lazy getters. `node:http` has three since
 * Node 22 (WebSocket, CloseEvent, MessageEvent) that load the whole of
 * undici: +13 MiB of RSS on Node 24 for an agent that never uses them
 * (measured: bench/agent-rss.ts; `import 'node:http'` alone takes a bare
 * node from 41 to 58 MiB). Each import statement of a built-in becomes a tiny
 * CommonJS module that require()s it, so esbuild reads its members at the
 * call site and no getter runs until something asks for it.
 */
const builtinsViaRequire: Plugin = {
  name: 'builtins-via-require',
  setup(b) {
    const names = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!names.has(args.path)) return undefined;
      // The shim's own require() (and the CommonJS dependencies') stays external.
      if (args.kind === 'require-call') return { path: args.path, external: true };
      return { path: args.path, namespace: 'builtin-via-require' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin-via-require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * Built-ins that bundled dependencies require() when they load but use only
 * inside functions the agent never calls: zlib in ws's permessage-deflate
 * (the tunnel turns compression off), assert in sonic-boom and thread-stream
 * (pino's file and worker destinations; the agent logs to stdout). Each such
 * require() gets a stand-in that loads the module on first use, so it is
 * never loaded at all. Measured in a bare Node 24 beside http and https:
 * zlib +0.38 MiB, assert +0.33 MiB of RSS; the agent's idle RSS (Node 24,
 * --jitless, same run): 60.2 -> 59.9 MiB (docs/protocol.md, "Memory").
 */
const LAZY_BUILTINS = /^(?:node:)?(zlib|assert)$/;
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: LAZY_BUILTINS }, (args) => {
      if (args.kind !== 'require-call' || !args.importer.includes('/node_modules/')) return undefined;
      return { path: LAZY_BUILTINS.exec(args.path)![1]!, namespace: 'lazy-builtin' };
    });
    // An arrow function as the target: callable (assert(...)), with no
    // non-configurable own property a Proxy would have to report.
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `let m;
const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));
module.exports = new Proxy(() => {}, {
  get: (_, k) => load()[k],
  has: (_, k) => k in load(),
  apply: (_, self, a) => Reflect.apply(load(), self, a),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, k) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), k);
    return d && { ...d, configurable: true };
  },
});`,
      loader: 'js',
    }));
  },
};

async function packAgent(): Promise<void> {
  requireBuilt('agent');
  const { build } = await import('esbuild');
  const out = join(root, 'dist-pack/hawser-agent');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'bin'), { recursive: true });
  const version = readJson<{ version: string }>(join(root, 'packages/agent/package.json')).version;
  // agent-version.ts reads the version from `../package.json` next to its module:
  // the bundle sits in bin/, so this file is that package.json. `type:
  // module` also makes Node load the extension-less bin as ESM.
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: 'hawser-agent', version, type: 'module', private: true }, null, 2)}\n`);
  const bin = join(out, 'bin/hawser-agent');
  const result = await build({
    entryPoints: [join(root, 'packages/agent/dist/cli.js')],
    outfile: bin,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // Local names are shortened too, but keepNames keeps every function's
    // and class's `name`, so stack traces stay readable. The shorter source
    // (332 instead of 469 KiB) stays in the V8 heap for the process's life
    // (lazy compilation reads it): idle RSS 63.1 -> 62.8 MiB on Node 24
    // (bench/agent-rss.ts, same run).
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: true,
    keepNames: true,
    legalComments: 'linked',
    metafile: true,
    // ws loads these native speed-ups only if installed; the agent runs without them.
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [lazyBuiltins, builtinsViaRequire],
    // The CommonJS dependencies (pino, ws, node-forge) call require() for Node
    // built-ins. (esbuild keeps the entry's #! line above this.)
    banner: { js: "import { createRequire as __hawserRequire } from 'node:module';\nconst require = __hawserRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  chmodSync(bin, 0o755);
  // Only the banner may import a built-in the ESM way (builtinsViaRequire).
  const esmBuiltins = [...readFileSync(bin, 'utf8').matchAll(/\bimport\s*(?:[\w$]+|\{[^}]*\}|\*\s*as\s+[\w$]+)?[\s,]*(?:\{[^}]*\})?\s*from\s*["']((?:node:)?[\w/]+)["']/g)]
    .map((m) => m[1]!)
    .filter((m) => m !== 'node:module' && builtinModules.includes(m.replace(/^node:/, '')));
  if (esmBuiltins.length > 0) throw new Error(`the agent bundle imports built-ins as ESM: ${esmBuiltins.join(', ')}`);
  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = inputs.filter((i) => i.includes('@kubernetes/client-node'));
  if (forbidden.length > 0) throw new Error(`the agent bundle pulled in @kubernetes/client-node: ${forbidden[0]}`);
  // What went in, for `npx esbuild --analyze`-style questions; not part of the image.
  writeFileSync(`${out}.meta.json`, JSON.stringify(result.metafile));
  say(`${bin} (${(statSync(bin).size / 1024).toFixed(0)} KiB, ${inputs.length} modules; whole folder ${size(out)})`);
}

function packServer(): void {
  requireBuilt('server');
  const out = join(root, 'dist-pack/hawser');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'bin'), { recursive: true });
  const pkg = readJson<{ workspaces: string[]; engines?: unknown; name: string; license?: string }>(join(root, 'package.json'));
  // The root manifest (no scripts, no dev tools needed), the lockfile, and
  // each workspace's manifest, bin shims and build output: `npm ci` then
  // installs exactly the locked production dependencies.
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ ...readJson<object>(join(root, 'package.json')), scripts: {} }, null, 2)}\n`);
  cpSync(join(root, 'package-lock.json'), join(out, 'package-lock.json'));
  for (const ws of pkg.workspaces) {
    const dir = join(out, ws);
    mkdirSync(dir, { recursive: true });
    cpSync(join(root, ws, 'package.json'), join(dir, 'package.json'));
    for (const sub of ['bin', 'dist']) {
      if (existsSync(join(root, ws, sub))) {
        cpSync(join(root, ws, sub), join(dir, sub), { recursive: true, filter: (src) => !src.endsWith('.tsbuildinfo') && !src.endsWith('.map') });
      }
    }
  }
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: out, stdio: ['ignore', 'inherit', 'inherit'] });
  const bin = join(out, 'bin/hawser');
  // A dynamic import works whether Node reads this file as CommonJS or ESM.
  writeFileSync(bin, `#!/usr/bin/env node\nimport('../packages/server/dist/cli.js');\n`);
  chmodSync(bin, 0o755);
  say(`${out} (${size(out)})`);
}

async function packCharts(): Promise<void> {
  const helm = process.env.HAWSER_HELM ?? (await import('../test/controlplane/binaries.js')).binary('helm');
  const out = join(root, 'dist-pack/charts');
  mkdirSync(out, { recursive: true });
  for (const chart of readdirSync(join(root, 'charts'))) {
    if (!existsSync(join(root, 'charts', chart, 'Chart.yaml'))) continue;
    const text = execFileSync(await helm, ['package', join(root, 'charts', chart), '--destination', out], { encoding: 'utf8' });
    say(text.trim().replace(/^Successfully packaged chart and saved it to: /, ''));
  }
}

switch (which) {
  case 'agent':
    await packAgent();
    break;
  case 'server':
    packServer();
    break;
  case 'charts':
    await packCharts();
    break;
  default:
    process.stderr.write('usage: tsx scripts/pack.ts agent|server|charts\n');
    process.exit(2);
}
