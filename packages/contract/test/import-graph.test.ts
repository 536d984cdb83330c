import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const PACKAGES = join(ROOT, 'packages');

/** Every .ts file under a directory, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** `@hawser/<name>` -> that package's src/index.ts, for every workspace package with a src. */
function packageEntries(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const name of readdirSync(PACKAGES)) {
    const index = join(PACKAGES, name, 'src', 'index.ts');
    if (existsSync(index)) entries.set(`@hawser/${name}`, index);
  }
  return entries;
}

/**
 * What a file imports, as the TypeScript sources say it: static imports,
 * `import type`, re-exports and dynamic `import()` alike, because a cycle
 * of types is still a cycle a reader has to untangle.
 */
function importsOf(file: string, entries: Map<string, string>): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const out: string[] = [];
  for (const { fileName } of importedFiles) {
    if (fileName.startsWith('.')) {
      const base = resolve(dirname(file), fileName.replace(/\.js$/, ''));
      const target = [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p));
      if (target) out.push(target);
    } else {
      const entry = entries.get(fileName);
      if (entry) out.push(entry);
    }
  }
  return out;
}

/** The import graph of every package's src: file -> files it imports. */
export function importGraph(packagesDir = PACKAGES): Map<string, string[]> {
  const entries = packageEntries();
  const graph = new Map<string, string[]>();
  for (const name of readdirSync(packagesDir)) {
    const src = join(packagesDir, name, 'src');
    if (!existsSync(src)) continue;
    for (const file of sources(src)) graph.set(file, importsOf(file, entries));
  }
  return graph;
}

/** One concrete cycle per strongly connected component (Tarjan), as `a -> b -> a`. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components.map((component) => cycleWithin(graph, new Set(component)));
}

/** A shortest way from a component's first file back to itself, staying inside the component. */
function cycleWithin(graph: Map<string, string[]>, component: Set<string>): string[] {
  const start = [...component].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = v; at !== start; at = previous.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

const name = (file: string) => relative(PACKAGES, file);

describe('the import graph of packages/*/src', () => {
  it('has no cycle, counting type-only and dynamic imports', () => {
    const cycles = findCycles(importGraph()).map((cycle) => cycle.map(name).join(' -> '));
    expect(cycles).toEqual([]);
  });

  it('finds and names a cycle when there is one', () => {
    const graph = new Map([
      ['/p/a.ts', ['/p/b.ts']],
      ['/p/b.ts', ['/p/c.ts']],
      ['/p/c.ts', ['/p/a.ts', '/p/d.ts']],
      ['/p/d.ts', []],
    ]);
    expect(findCycles(graph)).toEqual([['/p/a.ts', '/p/b.ts', '/p/c.ts', '/p/a.ts']]);
  });

  it('sees every package, so a cycle across packages counts too', () => {
    const graph = importGraph();
    const packages = new Set([...graph.keys()].map((file) => name(file).split('/')[0]));
    expect([...packages].sort()).toEqual(['agent', 'console', 'contract', 'https-json', 'protocol', 'server']);
    expect(graph.get(join(PACKAGES, 'server', 'src', 'relay', 'relay-admission.ts'))).toContain(join(PACKAGES, 'contract', 'src', 'index.ts'));
  });
});
