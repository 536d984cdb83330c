/* global process */
/**
 * Preloaded into a process under measurement (`node --import
 * bench/lib/memory-probe.mjs ...`, plain JavaScript so it needs no loader).
 * On SIGUSR2 it collects garbage (twice, so weak references and
 * finalizers settle), then writes a JSON report to
 * $HAWSER_MEMORY_PROBE_OUT.<pid>.json: process.memoryUsage(), V8 heap
 * statistics and spaces, code statistics, and /proc/self/status and smaps
 * summed by mapping kind (node binary, anonymous, malloc heap, libraries).
 * With $HAWSER_MEMORY_PROBE_SNAPSHOT=1 it also writes a heap snapshot.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const out = process.env.HAWSER_MEMORY_PROBE_OUT ?? '/tmp/hawser-memory-probe';

function smaps() {
  const kinds = {};
  let kind = 'other';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1];
      kind = name === '' ? 'anonymous' : name === '[heap]' ? 'malloc heap' : name === process.execPath || name.endsWith('/bin/node') ? 'node binary' : name.startsWith('[') ? name : name.includes('.so') ? 'shared libraries' : 'other files';
    } else if (line.startsWith('Rss:')) {
      kinds[kind] = (kinds[kind] ?? 0) + Number(line.split(/\s+/)[1]) * 1024;
    }
  }
  return kinds;
}

process.on('SIGUSR2', () => {
  gc();
  gc();
  const status = Object.fromEntries(readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM):/.test(l)).map((l) => { const [k, v] = l.split(/:\s+/); return [k, Number.parseInt(v, 10) * 1024]; }));
  const report = {
    pid: process.pid,
    node: process.version,
    memoryUsage: process.memoryUsage(),
    status,
    smaps: smaps(),
    heap: v8.getHeapStatistics(),
    code: v8.getHeapCodeStatistics(),
    spaces: v8.getHeapSpaceStatistics().map((s) => ({ name: s.space_name, size: s.space_size, used: s.space_used_size, physical: s.physical_space_size })),
  };
  const file = `${out}.${process.pid}.json`;
  writeFileSync(`${file}.tmp`, JSON.stringify(report, null, 1));
  if (process.env.HAWSER_MEMORY_PROBE_SNAPSHOT === '1') v8.writeHeapSnapshot(`${out}.${process.pid}.heapsnapshot`);
  renameSync(`${file}.tmp`, file);
});
