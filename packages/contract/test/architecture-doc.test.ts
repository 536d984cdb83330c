import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * docs/architecture.md against the tree: every file under packages/*\/src
 * has a row in its package's table, and every file a table names exists.
 * A table row's first file column holds one or more `file.ts` names; in the
 * server's folder table a leading `folder/` cell applies to the rows below
 * it until the next one.
 */
const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const DOC = join(ROOT, 'docs', 'architecture.md');
const SECTION = /^## packages\/([a-z0-9-]+)\b/;
const FILE = /`([^`]+\.ts)`/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every packages/<pkg>/src file, relative to the repository. */
function filesInTree(): string[] {
  const packages = join(ROOT, 'packages');
  return readdirSync(packages)
    .filter((pkg) => existsSync(join(packages, pkg, 'src')))
    .flatMap((pkg) => sourceFiles(join(packages, pkg, 'src')).map((file) => relative(ROOT, file)))
    .sort();
}

/** Every file the doc's package tables list, as packages/<pkg>/src/<folder><file>. */
function filesInDoc(doc: string): string[] {
  const out: string[] = [];
  let pkg: string | undefined;
  let folder = '';
  for (const line of doc.split('\n')) {
    const section = SECTION.exec(line);
    if (section) {
      pkg = section[1];
      folder = '';
      continue;
    }
    if (/^## /.test(line)) pkg = undefined;
    if (!pkg || !line.startsWith('|') || /^\|\s*-/.test(line)) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length === 3) {
      // | folder | file | owns |: an empty folder cell continues the one above.
      if (/^`[^`]+\/`$/.test(cells[0]!)) folder = cells[0]!.slice(1, -1);
      out.push(...[...cells[1]!.matchAll(FILE)].map((m) => `packages/${pkg}/src/${folder}${m[1]}`));
    } else if (cells.length === 2) {
      out.push(...[...cells[0]!.matchAll(FILE)].map((m) => `packages/${pkg}/src/${m[1]}`));
    }
  }
  return out;
}

describe('docs/architecture.md and the files in packages/*/src', () => {
  const inDoc = filesInDoc(readFileSync(DOC, 'utf8'));
  const inTree = filesInTree();

  it('reads tables for every package', () => {
    const packages = new Set(inDoc.map((f) => f.split('/')[1]));
    expect([...packages].sort()).toEqual([...new Set(inTree.map((f) => f.split('/')[1]))].sort());
  });

  it('lists every source file of every package', () => {
    expect(inTree.filter((f) => !inDoc.includes(f))).toEqual([]);
  });

  it('names no file that does not exist, and none twice', () => {
    expect(inDoc.filter((f) => !inTree.includes(f))).toEqual([]);
    expect(inDoc.filter((f, i) => inDoc.indexOf(f) !== i)).toEqual([]);
  });
});
