import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EXTERNAL_MEMORY_FLAG, tuneGarbageCollector, tuneWasmCompilation, WASM_LAZY_FLAG } from '../src/gc-tuning.js';

const major = Number.parseInt(process.versions.node, 10);

describe('tuneGarbageCollector', () => {
  it('leaves Node 20 alone: its V8 does not know the flag', () => {
    expect(tuneGarbageCollector('20.19.0')).toBe(false);
  });

  it.runIf(major < 24)('the guard is needed: this runtime refuses the flag', () => {
    const run = spawnSync(process.execPath, [EXTERNAL_MEMORY_FLAG, '-e', '0'], { encoding: 'utf8' });
    expect(run.stderr).toMatch(/bad option/);
  });

  it('HAWSER_GC_TUNING=off keeps V8 defaults', () => {
    expect(tuneGarbageCollector('24.11.0', { HAWSER_GC_TUNING: 'off' })).toBe(false);
  });

  // A tripwire for runtime upgrades: if a future V8 drops or renames the
  // flag, this fails in CI instead of the server silently losing a third of
  // its CPU headroom (and printing "unrecognized flag" at every start).
  it.runIf(major >= 24)('the flag exists in this runtime and is applied without complaint', () => {
    expect(execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' })).toContain(EXTERNAL_MEMORY_FLAG.slice(2));
    const script = `import('${new URL('../src/gc-tuning.ts', import.meta.url).href}').then((m) => process.stdout.write(String(m.tuneGarbageCollector())))`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('true');
  });

  it('HAWSER_GC_TUNING=off also keeps WebAssembly compilation eager', () => {
    expect(tuneWasmCompilation({ HAWSER_GC_TUNING: 'off' })).toBe(false);
  });

  // The same tripwire for the WebAssembly flag, on every supported runtime.
  it('the lazy WebAssembly compilation flag exists in this runtime and is applied without complaint', () => {
    expect(execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' })).toContain(WASM_LAZY_FLAG.slice(2));
    const script = `import('${new URL('../src/gc-tuning.ts', import.meta.url).href}').then((m) => process.stdout.write(String(m.tuneWasmCompilation({}))))`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('true');
  });
});
