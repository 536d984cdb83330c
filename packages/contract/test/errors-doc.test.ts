import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * docs/errors.md and the sources of every package, kept in sync both ways
 * for all three prefixes: tunnel (HTN_ERR_), server (HSR_ERR_) and agent
 * (HAG_ERR_). The sources are read as text, so a code counts wherever it is
 * written: an errors.ts table, the contract, a literal in a test-visible
 * header.
 */
const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const DOC = join(ROOT, 'docs', 'errors.md');
const CODE = /\b(?:HTN|HSR|HAG)_ERR_[A-Z0-9_]*[A-Z0-9]\b/g;
const SECTIONS = { HTN: 'Tunnel', HSR: 'Server', HAG: 'Agent' } as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Code -> the source files that use it. */
function codesInSource(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const packages = join(ROOT, 'packages');
  for (const pkg of readdirSync(packages)) {
    const src = join(packages, pkg, 'src');
    if (!existsSync(src)) continue;
    for (const file of sourceFiles(src)) {
      const name = relative(ROOT, file);
      for (const [code] of readFileSync(file, 'utf8').matchAll(CODE)) {
        const files = found.get(code) ?? [];
        if (!files.includes(name)) files.push(name);
        found.set(code, files);
      }
    }
  }
  return found;
}

/** Each `### CODE` heading with the text under it and the `##` section it sits in. */
function documentedSections(doc: string): { code: string; section: string; body: string }[] {
  const out: { code: string; section: string; body: string }[] = [];
  let section = '';
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^## /.test(line)) section = line.slice(3);
    const m = /^###\s+((?:HTN|HSR|HAG)_ERR_[A-Z0-9_]+)\s*$/.exec(line);
    if (!m) continue;
    let end = i + 1;
    while (end < lines.length && !/^##/.test(lines[end]!)) end++;
    out.push({ code: m[1]!, section, body: lines.slice(i + 1, end).join('\n').trim() });
  }
  return out;
}

describe('docs/errors.md and the error codes in packages/*/src', () => {
  const doc = readFileSync(DOC, 'utf8');
  const sections = documentedSections(doc);
  const documented = new Set(sections.map((s) => s.code));
  const inSource = codesInSource();

  it('finds codes of all three prefixes in the sources', () => {
    const prefixes = new Set([...inSource.keys()].map((c) => c.slice(0, 3)));
    expect([...prefixes].sort()).toEqual(['HAG', 'HSR', 'HTN']);
  });

  it('documents every code the sources use, in a section of its own', () => {
    const missing = [...inSource].filter(([code]) => !documented.has(code)).map(([code, files]) => `${code} (${files.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('documents no code that the sources do not use, not even in passing', () => {
    const mentioned = new Set([...doc.matchAll(CODE)].map((m) => m[0]));
    expect([...mentioned].filter((code) => !inSource.has(code))).toEqual([]);
  });

  it('gives each code exactly one entry, under its prefix\'s section, with an explanation', () => {
    const codes = sections.map((s) => s.code);
    expect(codes.filter((c, i) => codes.indexOf(c) !== i)).toEqual([]);
    for (const { code, section, body } of sections) {
      expect(section, code).toMatch(new RegExp(`^${SECTIONS[code.slice(0, 3) as keyof typeof SECTIONS]}\\b`));
      expect(body.length, code).toBeGreaterThan(40);
    }
  });
});
