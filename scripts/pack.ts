/**
 * npm run pack:agent | npm run pack:server
 *
 * Produces the deployable bundle the container image copies:
 * dist-pack/<name>/ with the built packages and their production
 * dependencies in node_modules, and bin/<name>. Nothing else is needed at
 * run time but Node (the images use Node 24).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const bundles = {
  agent: { name: 'hawser-agent', packages: ['@hawser/contract', '@hawser/https-json', '@hawser/protocol', '@hawser/agent'], main: '@hawser/agent/dist/cli.js' },
  server: { name: 'hawser', packages: ['@hawser/contract', '@hawser/https-json', '@hawser/protocol', '@hawser/server'], main: '@hawser/server/dist/cli.js' },
} as const;

const which = process.argv[2] as keyof typeof bundles | undefined;
if (!which || !(which in bundles)) {
  process.stderr.write('usage: tsx scripts/pack.ts agent|server\n');
  process.exit(2);
}
const bundle = bundles[which];
const root = resolve('.');
const out = join(root, 'dist-pack', bundle.name);
const tarballs = mkdtempSync(join(tmpdir(), 'hawser-pack-'));
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

try {
  npm(['pack', '--silent', '--pack-destination', tarballs, ...bundle.packages.flatMap((p) => ['--workspace', p])], root);
  const files = readdirSync(tarballs);
  const dependencies: Record<string, string> = {};
  for (const pkg of bundle.packages) {
    const file = files.find((f) => f === `${pkg.replace('@', '').replace('/', '-')}-${versionOf(pkg)}.tgz`);
    if (!file) throw new Error(`npm pack made no tarball for ${pkg} (got ${files.join(', ')})`);
    dependencies[pkg] = `file:${join(tarballs, file)}`;
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'bin'), { recursive: true });
  writeFileSync(join(out, 'package.json'), JSON.stringify({ name: `${bundle.name}-bundle`, private: true, dependencies }, null, 2));
  // Production dependencies only, copied (not linked), no install scripts.
  npm(['install', '--omit=dev', '--install-links', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], out);
  // The bundle's package.json names tarballs in a temp dir; the image needs none of it.
  writeFileSync(join(out, 'package.json'), JSON.stringify({ name: `${bundle.name}-bundle`, private: true }, null, 2));
  const bin = join(out, 'bin', bundle.name);
  // A dynamic import works whether Node reads this file as CommonJS or ESM.
  writeFileSync(bin, `#!/usr/bin/env node\nimport('../node_modules/${bundle.main}');\n`);
  chmodSync(bin, 0o755);
  const size = execFileSync('du', ['-sh', out], { encoding: 'utf8' }).split('\t')[0];
  process.stdout.write(`${out} (${size})\n`);
} finally {
  rmSync(tarballs, { recursive: true, force: true });
}

function versionOf(pkg: string): string {
  return (JSON.parse(execFileSync('npm', ['pkg', 'get', 'version', '--workspace', pkg], { cwd: root, encoding: 'utf8' })) as Record<string, string>)[pkg]!;
}
