/**
 * What a relayed request pays for its durable audit record: begin() latency
 * of the audit journal (append + fdatasync with group commit) on this disk,
 * at concurrency 1 (each request alone, one sync each) and 16 (requests
 * sharing syncs). `npm run bench:audit [-- --dir PATH]`; the journal goes to
 * a temp dir, or PATH to measure another disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditJournal } from '../packages/server/src/audit/audit-journal.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, n: { type: 'string' } } });
const base = mkdtempSync(join(values.dir ?? tmpdir(), 'hawser-audit-bench-'));
const total = Number(values.n ?? 2000);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function run(concurrency: number): Promise<void> {
  const { journal } = await AuditJournal.open(join(base, `c${concurrency}.journal`));
  const row = { id: '', time: new Date().toISOString(), type: 'request.relayed', actor: 'bench', details: { verb: 'get', path: '/api/v1/namespaces/default/pods/x' } };
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const id = `r${next++}`;
        const t = performance.now();
        await journal.begin({ ...row, id });
        samples.push(performance.now() - t);
        journal.end({ ...row, id });
        journal.stored([id]);
      }
    }),
  );
  const wall = performance.now() - started;
  await journal.close({ clean: true });
  samples.sort((a, b) => a - b);
  console.log(
    `concurrency ${String(concurrency).padStart(2)}: begin() p50 ${pct(samples, 50).toFixed(3)} ms, p99 ${pct(samples, 99).toFixed(3)} ms, ` +
      `max ${samples.at(-1)!.toFixed(3)} ms; ${Math.round((total / wall) * 1000)} begins/s`,
  );
}

try {
  console.log(`audit journal begin() on ${base}, ${total} requests per run`);
  for (const c of [1, 16, 64]) await run(c);
} finally {
  rmSync(base, { recursive: true, force: true });
}
