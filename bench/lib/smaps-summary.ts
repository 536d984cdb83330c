import { readFileSync } from 'node:fs';

/** Resident KiB of a process by kind of mapping, from /proc/PID/smaps. */
export interface SmapsSummary {
  /** The node executable's own pages (code and read-only data): shared, the floor of every Node process. */
  nodeBinary: number;
  /** Other files: shared libraries (libc, libstdc++), locale data. */
  otherFiles: number;
  /** glibc's main-arena heap ([heap], brk). */
  brkHeap: number;
  /** Anonymous mappings: V8's heap pages, malloc's mmap'd chunks and thread arenas, thread stacks. */
  anonymous: number;
  /** The main thread's stack. */
  stack: number;
  total: number;
}

/** Sums Rss per category; Linux only. */
export function smapsSummary(pid: number): SmapsSummary {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const out: SmapsSummary = { nodeBinary: 0, otherFiles: 0, brkHeap: 0, anonymous: 0, stack: 0, total: 0 };
  let kind: keyof SmapsSummary = 'anonymous';
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      if (name === '[heap]') kind = 'brkHeap';
      else if (name === '[stack]') kind = 'stack';
      else if (name.startsWith('/') && /\/node$/.test(name)) kind = 'nodeBinary';
      else if (name.startsWith('/')) kind = 'otherFiles';
      else kind = 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      out[kind] += Number(rss[1]);
      out.total += Number(rss[1]);
    }
  }
  return out;
}
