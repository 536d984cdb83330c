import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HtnErrorCode } from '../src/index.js';

const docPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

function documentedTunnelCodes(): string[] {
  const doc = readFileSync(docPath, 'utf8');
  return [...doc.matchAll(/^###\s+(HTN_ERR_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1] as string);
}

describe('docs/errors.md', () => {
  it('documents every HTN_ERR code that errors.ts defines', () => {
    const documented = new Set(documentedTunnelCodes());
    const missing = Object.values(HtnErrorCode).filter((c) => !documented.has(c));
    expect(missing).toEqual([]);
  });

  it('lists no HTN_ERR code that errors.ts does not define', () => {
    const defined = new Set<string>(Object.values(HtnErrorCode));
    const extra = documentedTunnelCodes().filter((c) => !defined.has(c));
    expect(extra).toEqual([]);
  });

  it('mentions no undefined HTN_ERR code anywhere in the page', () => {
    const doc = readFileSync(docPath, 'utf8');
    const defined = new Set<string>(Object.values(HtnErrorCode));
    const mentioned = [...doc.matchAll(/HTN_ERR_[A-Z0-9_]*[A-Z0-9]/g)].map((m) => m[0]);
    expect(mentioned.filter((c) => !defined.has(c))).toEqual([]);
  });

  it('gives each code exactly one entry with an explanation under it', () => {
    const doc = readFileSync(docPath, 'utf8');
    const codes = documentedTunnelCodes();
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) {
      const body = doc.split(`### ${code}`)[1]?.split(/^##/m)[0]?.trim() ?? '';
      expect(body.length, code).toBeGreaterThan(40);
    }
  });
});
