import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../src/errors.js';

const DOC = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/errors.ts', import.meta.url));

function documentedCodes(): string[] {
  const text = readFileSync(DOC, 'utf8');
  return [...text.matchAll(/^###\s+(HSR_ERR_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1]!);
}

describe('docs/errors.md and errors.ts', () => {
  it('documents every HSR_ERR_ code the server defines', () => {
    const documented = new Set(documentedCodes());
    const missing = Object.values(ErrorCodes).filter((code) => !documented.has(code));
    expect(missing).toEqual([]);
  });

  it('defines every HSR_ERR_ code the docs list', () => {
    const defined = new Set<string>(Object.values(ErrorCodes));
    const extra = documentedCodes().filter((code) => !defined.has(code));
    expect(extra).toEqual([]);
  });

  it('mentions no HSR_ERR_ code in the source that is not defined', () => {
    const source = readFileSync(SOURCE, 'utf8');
    const mentioned = new Set(source.match(/HSR_ERR_[A-Z0-9_]+/g) ?? []);
    const defined = new Set<string>(Object.values(ErrorCodes));
    expect([...mentioned].filter((c) => !defined.has(c))).toEqual([]);
  });

  it('lists each code once', () => {
    const codes = documentedCodes();
    expect(codes.length).toBe(new Set(codes).size);
  });
});
