/**
 * What a relayed request pays for its durable audit record: begin() latency
 * of the audit journal on this disk, in both `--audit-sync` modes
 * (`process`: a write() into the page cache, synced in the background;
 * `host`: write + group-committed fdatasync), at concurrency 1 (each request
 * alone, one sync each), 16 and 64 (requests sharing syncs).
 * `npm run bench:audit [-- --dir PATH] [--n N]`; the journal goes to a temp
 * dir, or PATH to measure another disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIT_SYNC_MODES, AuditJournal, type AuditSync } from '../packages/server/src/audit/audit-journal.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, n: { type: 'string' } } });
const base = mkdtempSync(join(values.dir ?? tmpdir(), 'hawser-audit-bench-'));
const total = Number(values.n ?? 2000);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function run(sync: AuditSync, concurrency: number): Promise<void> {
  const { journal } = await AuditJournal.open(join(base, `${sync}-c${concurrency}.journal`), { sync });
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
    `${sync.padEnd(7)} concurrency ${String(concurrency).padStart(2)}: begin() p50 ${pct(samples, 50).toFixed(3)} ms, p99 ${pct(samples, 99).toFixed(3)} ms, ` +
      `max ${samples.at(-1)!.toFixed(3)} ms; ${Math.round((total / wall) * 1000)} begins/s`,
  );
}

try {
  console.log(`audit journal begin() on ${base}, ${total} requests per run, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // Interleaved, so load drift hits both modes alike.
  for (const c of [1, 16, 64]) for (const sync of AUDIT_SYNC_MODES) await run(sync, c);
} finally {
  rmSync(base, { recursive: true, force: true });
}
