import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AgentErrorCodes } from '../src/errors.js';

describe('docs/errors.md', () => {
  it('lists exactly the agent error codes the code defines', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^### (HAG_ERR_[A-Z_]+)\s*$/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(AgentErrorCodes).sort());
  });
});
